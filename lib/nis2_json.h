/*
 * nis2_json.h - adding members to a json-c object without losing an
 * allocation failure: json-c's json_object_object_add() takes a NULL
 * value as JSON null, so `add(o, k, json_object_new_string(s))` would
 * write null where memory ran out.  These return NIS2_ERR_NOMEM instead
 * (and free what they were given).
 */
#ifndef NIS2_JSON_H
#define NIS2_JSON_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;

/* Add `v` (consumed either way) as `key`; NIS2_ERR_NOMEM when `o` or `v`
   is NULL or the add fails, else 0. */
int nis2_json_put(struct json_object *o, const char *key,
                  struct json_object *v);

/* `v` as a string; v == NULL adds JSON null. */
int nis2_json_str(struct json_object *o, const char *key, const char *v);
int nis2_json_int(struct json_object *o, const char *key, int64_t v);
int nis2_json_bool(struct json_object *o, const char *key, bool v);
int nis2_json_null(struct json_object *o, const char *key);

#endif

/*
 * nis2_json.c - checked json-c member additions (nis2_json.h).
 */
#include <json.h>

#include "error.h"
#include "nis2_json.h"

int
nis2_json_put(struct json_object *o, const char *key, struct json_object *v)
{
    if (o == NULL || v == NULL || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

int
nis2_json_str(struct json_object *o, const char *key, const char *v)
{
    if (v == NULL) {
        return nis2_json_null(o, key);
    }
    return nis2_json_put(o, key, json_object_new_string(v));
}

int
nis2_json_int(struct json_object *o, const char *key, int64_t v)
{
    return nis2_json_put(o, key, json_object_new_int64(v));
}

int
nis2_json_bool(struct json_object *o, const char *key, bool v)
{
    return nis2_json_put(o, key, json_object_new_boolean(v));
}

int
nis2_json_null(struct json_object *o, const char *key)
{
    if (o == NULL || json_object_object_add(o, key, NULL) != 0) {
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

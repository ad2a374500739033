/*
 * upstream.c - the broker's SSH client connection to a target: its own key
 * for the target, the target's host key pinned (`host_key =`) or taken
 * from a `known_hosts =` file, never from ~/.ssh or /etc/ssh.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "error.h"
#include "fileio.h"

#define KNOWN_HOSTS_MAX (1024 * 1024)
#define UPSTREAM_CIPHERS                                                       \
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,"                           \
    "chacha20-poly1305@openssh.com,aes256-ctr,aes128-ctr"

void
broker_key_fingerprint(ssh_key key, char *buf, size_t buflen)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;

    snprintf(buf, buflen, "unknown");
    if (key == NULL || ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256,
                                              &hash, &hlen) != 0) {
        return;
    }
    fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp != NULL) {
        snprintf(buf, buflen, "%s %s", ssh_key_type_to_char(ssh_key_type(key)),
                 fp);
    }
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
}

/* "TYPE BASE64" equal to `key`? */
static bool
key_equals(const char *type, const char *b64, ssh_key key)
{
    ssh_key k = NULL;
    enum ssh_keytypes_e t = ssh_key_type_from_name(type);
    bool eq;

    if (t == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(b64, t, &k) != SSH_OK) {
        return false;
    }
    eq = ssh_key_cmp(k, key, SSH_KEY_CMP_PUBLIC) == 0;
    ssh_key_free(k);
    return eq;
}

/* Does a host field ("h1,[h2]:port,...") of known_hosts name host:port? */
static bool
hosts_match(char *field, const char *host, int port)
{
    char want[300], *save = NULL;

    if (port == 22) {
        snprintf(want, sizeof(want), "%s", host);
    } else {
        snprintf(want, sizeof(want), "[%s]:%d", host, port);
    }
    for (char *h = strtok_r(field, ",", &save); h != NULL;
         h = strtok_r(NULL, ",", &save)) {
        if (strcmp(h, want) == 0) {
            return true;
        }
    }
    return false;
}

static int
check_known_hosts(const char *path, const char *host, int port, ssh_key key)
{
    char *buf = NULL, *save = NULL;
    int r, found = 0;

    r = nis2_file_read_all(path, KNOWN_HOSTS_MAX, NULL, &buf, NULL);
    if (r != 0) {
        return r;
    }
    for (char *line = strtok_r(buf, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[3] = {NULL, NULL, NULL}, *s2 = NULL;
        int n = 0;
        while (isspace((unsigned char)*line)) {
            line++;
        }
        if (*line == '#' || *line == '@' || *line == '\0') {
            continue; /* markers (@revoked, @cert-authority) unsupported */
        }
        for (char *t = strtok_r(line, " \t\r", &s2); t != NULL && n < 3;
             t = strtok_r(NULL, " \t\r", &s2)) {
            f[n++] = t;
        }
        if (n == 3 && hosts_match(f[0], host, port) &&
            key_equals(f[1], f[2], key)) {
            found = 1;
        }
    }
    free(buf);
    return found ? 0 : NIS2_ERR_INTEGRITY;
}

static int
check_host_key(const struct nis2_target *t, ssh_session s, char *why,
               size_t whylen)
{
    ssh_key key = NULL;
    char fp[128];
    int r = NIS2_ERR_INTEGRITY;

    if (ssh_get_server_publickey(s, &key) != SSH_OK) {
        snprintf(why, whylen, "target sent no host key");
        return r;
    }
    broker_key_fingerprint(key, fp, sizeof(fp));
    if (t->host_key != NULL) {
        char *copy = strdup(t->host_key), *sp;
        if (copy == NULL) {
            r = NIS2_ERR_NOMEM;
        } else if ((sp = strchr(copy, ' ')) != NULL) {
            *sp = '\0';
            if (key_equals(copy, sp + 1, key)) {
                r = 0;
            }
        }
        free(copy);
    } else if (t->known_hosts != NULL) {
        r = check_known_hosts(t->known_hosts, t->host, t->port, key);
        if (r != 0 && r != NIS2_ERR_INTEGRITY) {
            snprintf(why, whylen, "known_hosts %s: %s", t->known_hosts,
                     nis2_strerror(r));
            r = NIS2_ERR_INTEGRITY;
            goto out;
        }
    } else {
        snprintf(why, whylen, "target has neither host_key nor known_hosts");
        goto out;
    }
    if (r == NIS2_ERR_INTEGRITY) {
        snprintf(why, whylen, "target offered host key %s", fp);
    }
out:
    ssh_key_free(key);
    return r;
}

/* Ask the target for the algorithm of the pinned key, so that it shows
   that key and not another type it also holds. */
static void
prefer_pinned_type(const struct nis2_target *t, ssh_session s)
{
    char type[64];
    size_t n;

    if (t->host_key == NULL) {
        return;
    }
    n = strcspn(t->host_key, " ");
    if (n == 0 || n >= sizeof(type)) {
        return;
    }
    memcpy(type, t->host_key, n);
    type[n] = '\0';
    if (strcmp(type, "ssh-rsa") == 0) {
        ssh_options_set(s, SSH_OPTIONS_HOSTKEYS,
                        "rsa-sha2-512,rsa-sha2-256,ssh-rsa");
    } else {
        ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, type);
    }
}

int
broker_upstream_connect(const struct nis2_target *t, ssh_session *out,
                        char *why, size_t whylen)
{
    ssh_session s = NULL;
    ssh_key priv = NULL;
    long timeout = BROKER_UPSTREAM_TIMEOUT;
    unsigned int port = (unsigned int)t->port;
    bool process_config = false;
    int r = NIS2_ERR_NOMEM, rc;

    *out = NULL;
    why[0] = '\0';
    if ((s = ssh_new()) == NULL) {
        goto out;
    }
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_HOST, t->host) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER,
                        t->user != NULL ? t->user : "root") < 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
        ssh_options_set(s, SSH_OPTIONS_SSH_DIR, "/nonexistent") < 0) {
        snprintf(why, whylen, "cannot set up the client session");
        r = NIS2_ERR_INTERNAL;
        goto out;
    }
    prefer_pinned_type(t, s);
    /* AES-GCM first on the broker's own leg: with AES-NI it costs less
       per byte than chacha20-poly1305 through libssh 0.10, and the
       broker pays for two legs. */
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, UPSTREAM_CIPHERS);
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, UPSTREAM_CIPHERS);
    if (ssh_connect(s) != SSH_OK) {
        snprintf(why, whylen, "cannot connect to %s:%d: %s", t->host, t->port,
                 ssh_get_error(s));
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((r = check_host_key(t, s, why, whylen)) != 0) {
        goto out;
    }
    if (t->key == NULL || ssh_pki_import_privkey_file(t->key, NULL, NULL, NULL,
                                                      &priv) != SSH_OK) {
        snprintf(why, whylen, "cannot read the broker's key for %s", t->name);
        r = NIS2_ERR_IO;
        goto out;
    }
    rc = ssh_userauth_publickey(s, NULL, priv);
    if (rc != SSH_AUTH_SUCCESS) {
        snprintf(why, whylen, "target refused the broker's key: %s",
                 ssh_get_error(s));
        r = NIS2_ERR_DENIED;
        goto out;
    }
    *out = s;
    s = NULL;
    r = 0;
out:
    ssh_key_free(priv);
    if (s != NULL) {
        ssh_disconnect(s);
        ssh_free(s);
    }
    return r;
}

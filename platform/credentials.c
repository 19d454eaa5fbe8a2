/* credentials.c - per-organization client credentials (env or a 0600 JSON file) and
 * the checks on an organization's URLs */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/client.h"

extern char **environ;

#define CREDENTIALS_FILE_MAX (1024 * 1024)

void rg_platform__wipe_free(char *secret)
{
    if (secret == NULL)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

int rg_platform_env_name(char *out, size_t outlen, const char *org_id, const char *suffix)
{
    size_t need, pos = 0;
    const char *prefix = "ROLLGATE_";

    if (out == NULL || org_id == NULL || suffix == NULL || *org_id == '\0')
        return rg_error_set(RG_EINVALID, "env name: org id and suffix are required");
    need = strlen(prefix) + strlen(org_id) + 1 + strlen(suffix) + 1;
    if (need > outlen)
        return rg_error_set(RG_ELIMIT, "env name for org %s: longer than %zu bytes", org_id,
                            outlen);
    /* The prefix is copied and the name terminated below. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(out, prefix, strlen(prefix));
    pos = strlen(prefix);
    for (const char *c = org_id; *c; c++) {
        char ch = *c;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            ch = '_';
        out[pos++] = ch;
    }
    out[pos++] = '_';
    memcpy(out + pos, suffix, strlen(suffix) + 1);
    return 0;
}

/* The names of one pair of secrets: environment suffixes and credentials-file fields. */
typedef struct {
    const char *env_id, *env_secret;   /* "CLIENT_ID", "CLIENT_SECRET" */
    const char *file_id, *file_secret; /* "client_id", "client_secret" */
} pair_names;

static const pair_names client_names = {"CLIENT_ID", "CLIENT_SECRET", "client_id", "client_secret"};

/* getenv, through the batch's index of environ when one is open: getenv scans the whole
 * environment, and 10,000 orgs' credentials there make 20,000 scans of 20,000 entries. A
 * name the index lacks (set after it was built) is looked up again. */
static const char *env_get(rg_platform *p, const char *name)
{
    size_t len = strlen(name);
    json_t *at;

    if (p == NULL || !p->cred_batch)
        return getenv(name);
    if (p->cred_env == NULL && (p->cred_env = json_object()) != NULL)
        for (size_t i = 0; environ[i] != NULL; i++) {
            const char *eq = strchr(environ[i], '=');
            /* the first of two entries with one name is the one getenv returns */
            if (eq != NULL && eq > environ[i] &&
                json_object_getn(p->cred_env, environ[i], (size_t)(eq - environ[i])) == NULL)
                json_object_setn_new(p->cred_env, environ[i], (size_t)(eq - environ[i]),
                                     json_integer((json_int_t)i));
        }
    at = json_object_get(p->cred_env, name);
    if (json_is_integer(at)) {
        const char *entry = environ[json_integer_value(at)];
        /* an environment changed since the index was built is read afresh */
        if (entry != NULL && strncmp(entry, name, len) == 0 && entry[len] == '=')
            return entry + len + 1;
    }
    return getenv(name);
}

/* prefix NULL: ROLLGATE_<ORG>_CLIENT_*; else <prefix>_CLIENT_* (a registry's env:PREFIX). */
static int from_env(rg_platform *p, char **out_id, char **out_secret, const char *org_id,
                    const char *prefix, const pair_names *names)
{
    char id_name[256], secret_name[256];
    const char *id, *secret;
    char *id_copy = NULL, *secret_copy = NULL;
    int error;

    if (prefix != NULL) {
        if (*prefix == '\0' || strlen(prefix) > 128)
            return rg_error_set(RG_EINVALID,
                                "org %s: credentials source env:PREFIX needs a "
                                "PREFIX of 1-128 characters",
                                org_id);
        snprintf(id_name, sizeof(id_name), "%s_%s", prefix, names->env_id);
        snprintf(secret_name, sizeof(secret_name), "%s_%s", prefix, names->env_secret);
    } else if ((error = rg_platform_env_name(id_name, sizeof(id_name), org_id, names->env_id)) <
                   0 ||
               (error = rg_platform_env_name(secret_name, sizeof(secret_name), org_id,
                                             names->env_secret)) < 0) {
        return error;
    }
    id = env_get(p, id_name);
    secret = env_get(p, secret_name);
    if (id == NULL || *id == '\0')
        return rg_error_set(RG_EAUTH, "org %s: environment variable %s is not set", org_id,
                            id_name);
    if (secret == NULL || *secret == '\0')
        return rg_error_set(RG_EAUTH, "org %s: environment variable %s is not set", org_id,
                            secret_name);
    if ((id_copy = rg_strdup(id)) == NULL || (secret_copy = rg_strdup(secret)) == NULL) {
        rg_platform__wipe_free(id_copy);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    *out_id = id_copy;
    *out_secret = secret_copy;
    return 0;
}

/* Reads the file only when it is a regular file no one but its owner can read or write. */
static int read_private_file(char **out, size_t *out_len, const char *org_id, const char *path)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int fd, error = 0;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rg_error_set(errno == ENOENT ? RG_ENOTFOUND : RG_EAUTH,
                            "org %s: credentials file %s: %s", org_id, path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        error =
            rg_error_set(RG_EIO, "org %s: credentials file %s: %s", org_id, path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        error = rg_error_set(RG_EAUTH, "org %s: credentials file %s is not a regular file", org_id,
                             path);
        goto cleanup;
    }
    if ((st.st_mode & 077) != 0) {
        error = rg_error_set(RG_EAUTH,
                             "org %s: credentials file %s has mode %04o: group or others may "
                             "access it; it must be 0600 or stricter",
                             org_id, path, (unsigned)(st.st_mode & 07777));
        goto cleanup;
    }
    if (st.st_uid != geteuid()) {
        error = rg_error_set(RG_EAUTH,
                             "org %s: credentials file %s belongs to uid %u, not to "
                             "the user rollgate runs as",
                             org_id, path, (unsigned)st.st_uid);
        goto cleanup;
    }
    if (st.st_size > (off_t)CREDENTIALS_FILE_MAX) {
        error = rg_error_set(RG_ELIMIT, "org %s: credentials file %s is larger than %d bytes",
                             org_id, path, CREDENTIALS_FILE_MAX);
        goto cleanup;
    }
    if ((data = malloc((size_t)st.st_size + 1)) == NULL) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            error = rg_error_set(RG_EIO, "org %s: credentials file %s: short read", org_id, path);
            goto cleanup;
        }
        len += (size_t)n;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    data = NULL;

cleanup:
    if (data != NULL) {
        explicit_bzero(data, (size_t)st.st_size);
        free(data);
    }
    close(fd);
    return error;
}

/* Overwrites a JSON string's storage before the document is released. */
static void wipe_json_string(json_t *value)
{
    if (json_is_string(value))
        explicit_bzero((char *)json_string_value(value), json_string_length(value));
}

static void wipe_document(json_t *doc)
{
    const char *key;
    json_t *entry, *field;
    const char *fkey;

    json_object_foreach(doc, key, entry)
    {
        json_object_foreach(entry, fkey, field) wipe_json_string(field);
    }
}

/* Reads and parses the file. @param[out] out  a new reference, the document (an object). */
static int load_file(json_t **out, const char *org_id, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    json_t *doc;
    json_error_t jerr;
    int error;

    if ((error = read_private_file(&data, &len, org_id, path)) < 0)
        return error;
    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    explicit_bzero(data, len);
    free(data);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        /* jerr.text may quote the file's bytes; name only the position. */
        return rg_error_set(RG_EINVALID,
                            "org %s: credentials file %s: not a JSON object (line %d, "
                            "column %d)",
                            org_id, path, doc == NULL ? jerr.line : 1,
                            doc == NULL ? jerr.column : 1);
    }
    *out = doc;
    return 0;
}

/* The file's document: within a batch (rg_platform_credentials_begin) read and parsed at its
 * first use and kept, its failure too, so that 10,000 orgs read one file once; otherwise read
 * for this call alone (*owned = 1: the caller wipes and frees it). */
static int file_doc(json_t **out, int *owned, rg_platform *p, const char *org_id, const char *path)
{
    json_t *failed;
    int error;

    *owned = 0;
    if (p == NULL || !p->cred_batch) {
        if ((error = load_file(out, org_id, path)) == 0)
            *owned = 1;
        return error;
    }
    if ((p->cred_files == NULL && (p->cred_files = json_object()) == NULL) ||
        (p->cred_file_errors == NULL && (p->cred_file_errors = json_object()) == NULL))
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((*out = json_object_get(p->cred_files, path)) != NULL)
        return 0;
    /* a kept failure; one that could not be kept whole (out of memory) is read again */
    if ((failed = json_object_get(p->cred_file_errors, path)) != NULL &&
        json_is_string(json_array_get(failed, 1)))
        return rg_error_set((int)json_integer_value(json_array_get(failed, 0)), "org %s: %s",
                            org_id, json_string_value(json_array_get(failed, 1)));
    if ((error = load_file(out, org_id, path)) < 0) {
        /* kept without the "org ID: " every message of load_file starts with */
        const char *msg = rg_error_last();
        size_t skip = strlen("org ") + strlen(org_id) + strlen(": ");
        json_object_set_new(p->cred_file_errors, path,
                            json_pack("[is]", error, strlen(msg) > skip ? msg + skip : msg));
        return error;
    }
    if (json_object_set_new(p->cred_files, path, *out) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

static int from_file(rg_platform *p, char **out_id, char **out_secret, const char *org_id,
                     const char *path, const pair_names *names)
{
    char *id_copy = NULL, *secret_copy = NULL;
    json_t *doc = NULL, *entry, *id, *secret;
    int error, owned = 0;

    if ((error = file_doc(&doc, &owned, p, org_id, path)) < 0)
        return error;
    entry = json_object_get(doc, org_id);
    if (!json_is_object(entry)) {
        error = rg_error_set(RG_EAUTH, "org %s: credentials file %s has no object for it", org_id,
                             path);
        goto cleanup;
    }
    id = json_object_get(entry, names->file_id);
    secret = json_object_get(entry, names->file_secret);
    if (!json_is_string(id) || json_string_length(id) == 0) {
        error = rg_error_set(RG_EAUTH,
                             "org %s: credentials file %s: %s missing or "
                             "not a non-empty string",
                             org_id, path, names->file_id);
        goto cleanup;
    }
    if (!json_is_string(secret) || json_string_length(secret) == 0) {
        error = rg_error_set(RG_EAUTH,
                             "org %s: credentials file %s: %s missing "
                             "or not a non-empty string",
                             org_id, path, names->file_secret);
        goto cleanup;
    }
    if ((id_copy = rg_strdup(json_string_value(id))) == NULL ||
        (secret_copy = rg_strdup(json_string_value(secret))) == NULL) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    *out_id = id_copy;
    *out_secret = secret_copy;
    id_copy = secret_copy = NULL;

cleanup:
    if (owned) {
        wipe_document(doc);
        json_decref(doc);
    }
    rg_platform__wipe_free(id_copy);
    rg_platform__wipe_free(secret_copy);
    return error;
}

void rg_platform_credentials_begin(rg_platform *p)
{
    if (p != NULL)
        p->cred_batch = 1;
}

void rg_platform_credentials_end(rg_platform *p)
{
    const char *path;
    json_t *doc;

    if (p == NULL)
        return;
    json_object_foreach(p->cred_files, path, doc) wipe_document(doc);
    json_decref(p->cred_files);
    json_decref(p->cred_file_errors);
    json_decref(p->cred_env);
    p->cred_files = p->cred_file_errors = p->cred_env = NULL;
    p->cred_batch = 0;
}

static int load_pair(rg_platform *p, char **out_id, char **out_secret, const char *org_id,
                     const char *source, const pair_names *names)
{
    if (source == NULL || *source == '\0')
        return rg_error_set(RG_EINVALID,
                            "org %s: no credentials source (expected \"env\", "
                            "\"env:PREFIX\" or \"file:PATH\")",
                            org_id);
    if (strcmp(source, "env") == 0)
        return from_env(p, out_id, out_secret, org_id, NULL, names);
    if (strncmp(source, "env:", 4) == 0)
        return from_env(p, out_id, out_secret, org_id, source + 4, names);
    if (strncmp(source, "file:", 5) == 0 && source[5] != '\0')
        return from_file(p, out_id, out_secret, org_id, source + 5, names);
    return rg_error_set(RG_EINVALID,
                        "org %s: credentials source \"%.64s\": expected \"env\", "
                        "\"env:PREFIX\" or \"file:PATH\"",
                        org_id, source);
}

int rg_platform__load_credentials(rg_platform *p, char **out_id, char **out_secret,
                                  const char *org_id, const char *source)
{
    return load_pair(p, out_id, out_secret, org_id, source, &client_names);
}

int rg_platform__load_access_key(rg_platform *p, char **out_id, char **out_secret,
                                 const char *org_id, const char *source)
{
    static const pair_names access_names = {"ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "access_key_id",
                                            "access_key_secret"};
    return load_pair(p, out_id, out_secret, org_id, source, &access_names);
}

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

int rg_platform__url_check(char **out, const char *url, const char *what, const char *org_id,
                           int insecure)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *query = NULL, *copy = NULL;
    size_t len;
    int error = 0;

    if (url == NULL || *url == '\0')
        return rg_error_set(RG_EINVALID, "org %s: %s is missing", org_id, what);
    if ((u = curl_url()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        error = rg_error_set(RG_EINVALID, "org %s: %s \"%s\" is not a URL", org_id, what, url);
        goto cleanup;
    }
    if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
        error =
            rg_error_set(RG_EINVALID, "org %s: %s \"%s\": scheme must be https", org_id, what, url);
        goto cleanup;
    }
    /* curl reads "https:/host" and "https:host" as https://host, but the URL is kept as
     * written and later joined with paths: only the full form is accepted. */
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        error = rg_error_set(RG_EINVALID, "org %s: %s \"%s\" must start with https://", org_id,
                             what, url);
        goto cleanup;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        error =
            rg_error_set(RG_EINVALID, "org %s: %s \"%s\" must not have a query", org_id, what, url);
        goto cleanup;
    }
    if (!is_loopback(host) && strcmp(scheme, "http") == 0) {
        error = rg_error_set(RG_EINVALID,
                             "org %s: %s \"%s\": plain http is only allowed for "
                             "loopback addresses",
                             org_id, what, url);
        goto cleanup;
    }
    if (!is_loopback(host) && insecure) {
        error = rg_error_set(RG_EINVALID,
                             "org %s: %s \"%s\": TLS verification may only be "
                             "disabled for loopback addresses",
                             org_id, what, url);
        goto cleanup;
    }
    if ((copy = rg_strdup(url)) == NULL) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    len = strlen(copy);
    while (len > 0 && copy[len - 1] == '/')
        copy[--len] = '\0';
    *out = copy;

cleanup:
    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_url_cleanup(u);
    return error;
}

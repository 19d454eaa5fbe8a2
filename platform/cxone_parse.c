/* cxone_parse.c - parsing what CXone answers: the tenant in an id_token, durations written
 * as numbers or strings ("12.5", "00:00:12"), and a skill summary's counts */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "platform/client.h"

#define MAX_ID_TOKEN 16384

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

/* Decodes base64url without padding (padding tolerated at the end). */
static int b64url_decode(rg_buf *out, const char *in, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;

    while (n > 0 && in[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return rg_error_set(RG_EINVALID, "the payload is not base64url (byte %zu)", i);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            char c = (char)((acc >> (bits - 8)) & 0xff);
            bits -= 8;
            if (rg_buf_put(out, &c, 1) < 0)
                return rg_error_set(RG_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* The id_token is a JWT: header.payload.signature. Its signature is not checked here (the
 * token came over TLS from the auth endpoint); the tenant is compared with the brand's. */
int rg_platform__cxone_tenant(char *out, size_t outlen, const char *id_token)
{
    const char *dot1, *dot2;
    rg_buf payload = RG_BUF_INIT;
    json_t *doc = NULL, *tenant;
    int error = 0;

    if (id_token == NULL || strlen(id_token) > MAX_ID_TOKEN)
        return rg_error_set(RG_EINVALID, "not a token of at most %d bytes", MAX_ID_TOKEN);
    if ((dot1 = strchr(id_token, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
        dot2 == dot1 + 1)
        return rg_error_set(RG_EINVALID, "not a JWT (header.payload.signature)");
    if ((error = b64url_decode(&payload, dot1 + 1, (size_t)(dot2 - dot1 - 1))) < 0)
        goto cleanup;
    if ((doc = json_loadb(payload.ptr ? payload.ptr : "", payload.len, JSON_REJECT_DUPLICATES,
                          NULL)) == NULL ||
        !json_is_object(doc)) {
        error = rg_error_set(RG_EINVALID, "the payload is not a JSON object");
        goto cleanup;
    }
    tenant = json_object_get(doc, "tenantId");
    if (!json_is_string(tenant) || json_string_length(tenant) == 0 ||
        json_string_length(tenant) >= outlen || json_string_length(tenant) > 128) {
        error = rg_error_set(RG_EINVALID, "the payload's tenantId is missing, not a string or "
                                          "longer than 128 characters");
        goto cleanup;
    }
    memcpy(out, json_string_value(tenant), json_string_length(tenant) + 1);

cleanup:
    json_decref(doc);
    if (payload.ptr != NULL)
        explicit_bzero(payload.ptr, payload.len);
    rg_buf_dispose(&payload);
    return error;
}

/* "S[.f]", "M:S[.f]" or "H:M:S[.f]" (each part a decimal number, minutes and seconds < 60
 * after the first part), or a plain JSON number: seconds, finite and non-negative. */
int rg_platform__cxone_seconds(double *out, const json_t *v, const char *what)
{
    const char *s, *p;
    double parts[3], total = 0;
    size_t nparts = 0;

    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (!isfinite(d) || d < 0)
            return rg_error_set(RG_EINVALID, "%s: %g is not a duration of seconds", what, d);
        *out = d;
        return 0;
    }
    if (!json_is_string(v))
        return rg_error_set(RG_EINVALID, "%s: expected seconds as a number or string", what);
    s = json_string_value(v);
    if (json_string_length(v) == 0 || json_string_length(v) > 32)
        return rg_error_set(RG_EINVALID, "%s: \"%.32s\" is not a duration", what, s);
    for (p = s;;) {
        char *end = NULL;
        size_t len = strcspn(p, ":");
        char part[33];
        if (nparts == 3 || len == 0 || len >= sizeof(part))
            return rg_error_set(RG_EINVALID, "%s: \"%.32s\" is not a duration", what, s);
        memcpy(part, p, len);
        part[len] = '\0';
        if (strspn(part, "0123456789.") != len || part[0] == '.' ||
            strchr(part, '.') != strrchr(part, '.'))
            return rg_error_set(RG_EINVALID, "%s: \"%.32s\" is not a duration", what, s);
        parts[nparts] = strtod(part, &end);
        if (end == NULL || *end != '\0' || !isfinite(parts[nparts]))
            return rg_error_set(RG_EINVALID, "%s: \"%.32s\" is not a duration", what, s);
        nparts++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (i > 0 && parts[i] >= 60)
            return rg_error_set(RG_EINVALID, "%s: \"%.32s\": minutes and seconds must be below 60",
                                what, s);
        if (i + 1 < nparts && parts[i] != floor(parts[i]))
            return rg_error_set(RG_EINVALID, "%s: \"%.32s\": only the seconds may have a fraction",
                                what, s);
        total = total * 60 + parts[i];
    }
    *out = total;
    return 0;
}

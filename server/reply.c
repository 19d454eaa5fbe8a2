/* reply.c - HTTP replies: JSON bodies, {"error":{"code","message"}}, library codes to statuses */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

const char *rg_server__header(rg_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *rg_server__query(rg_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

enum MHD_Result rg_server__reply(rg_request *req, unsigned status, const char *content_type,
                                 const char *body, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"rollgate\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && req->allow)
        MHD_add_response_header(resp, "Allow", req->allow);
    ret = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result rg_server__reply_json(rg_request *req, unsigned status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    enum MHD_Result ret;

    json_decref(doc);
    if (text == NULL)
        return rg_server__reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                      "out of memory building the reply");
    ret = rg_server__reply(req, status, "application/json", text, strlen(text));
    free(text);
    return ret;
}

enum MHD_Result rg_server__reply_error(rg_request *req, unsigned status, const char *code,
                                       const char *fmt, ...)
{
    char message[1024];
    char *text;
    json_t *doc;
    va_list ap;
    enum MHD_Result ret;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return MHD_NO;
    ret = rg_server__reply(req, status, "application/json", text, strlen(text));
    free(text);
    return ret;
}

enum MHD_Result rg_server__reply_rc(rg_request *req, int rc)
{
    const char *msg = *rg_error_last() ? rg_error_last() : "unknown error";

    switch (rc) {
    case RG_EINVALID: return rg_server__reply_error(req, 400, "invalid", "%s", msg);
    case RG_ELIMIT: return rg_server__reply_error(req, 400, "limit", "%s", msg);
    case RG_ENOTFOUND: return rg_server__reply_error(req, 404, "not_found", "%s", msg);
    case RG_ECONFLICT: return rg_server__reply_error(req, 409, "conflict", "%s", msg);
    case RG_ECLAIMED: return rg_server__reply_error(req, 409, "claimed", "%s", msg);
    case RG_ELEASE: return rg_server__reply_error(req, 409, "lease_lost", "%s", msg);
    case RG_EAUTH: return rg_server__reply_error(req, 401, "unauthorized", "%s", msg);
    case RG_EPLATFORM:
    case RG_EUNREACHABLE: return rg_server__reply_error(req, 502, "platform", "%s", msg);
    case RG_ETIMEOUT: return rg_server__reply_error(req, 504, "timeout", "%s", msg);
    case RG_EDB: return rg_server__reply_error(req, 503, "database", "%s", msg);
    default: return rg_server__reply_error(req, 500, "internal", "%s", msg);
    }
}

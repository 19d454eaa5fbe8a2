/* dashboard.c - GET /, /app.js, /app.css: the dashboard, compiled in from server/dashboard/ */
#include <string.h>

#include "server/server_private.h"

/* Generated at build time by server/embed.cmake (no download, no tool beyond CMake). */
extern const unsigned char rg_dashboard_html[], rg_dashboard_js[], rg_dashboard_css[];
extern const size_t rg_dashboard_html_len, rg_dashboard_js_len, rg_dashboard_css_len;

/* Everything comes from this server: the page's script and style are files of their own,
 * so neither needs 'unsafe-inline'; the API and the event stream are 'self' too. */
#define RG_DASHBOARD_CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static enum MHD_Result serve(rg_request *req, const unsigned char *bytes, size_t len,
                             const char *type)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)bytes, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy", RG_DASHBOARD_CSP);
    ret = MHD_queue_response(req->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result rg_server__dashboard(rg_request *req)
{
    return serve(req, rg_dashboard_html, rg_dashboard_html_len, "text/html; charset=utf-8");
}

enum MHD_Result rg_server__dashboard_asset(rg_request *req, const char *name)
{
    if (strcmp(name, "app.js") == 0)
        return serve(req, rg_dashboard_js, rg_dashboard_js_len, "text/javascript; charset=utf-8");
    return serve(req, rg_dashboard_css, rg_dashboard_css_len, "text/css; charset=utf-8");
}

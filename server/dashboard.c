/* dashboard.c - GET /: the dashboard page, compiled in from server/dashboard/index.html */
#include "server/server_private.h"

/* Generated at build time by server/embed.cmake (no download, no tool beyond CMake). */
extern const unsigned char rg_dashboard_html[];
extern const size_t rg_dashboard_html_len;

enum MHD_Result rg_server__dashboard(rg_request *req)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(rg_dashboard_html_len, (void *)rg_dashboard_html,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* Everything comes from this server; the page's own inline script and style only. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src "
                            "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    ret = MHD_queue_response(req->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* loop.c - the one curl_multi event loop: admits queued operations under the concurrency
 * ceiling, token and rate budget, sends them, and sorts answers into retry or result */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "platform/client.h"
#include "rollgate/version.h"

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    rg_platform_op *op = userdata;
    size_t len = size * nmemb;

    if (op->response.len + len > (size_t)RG_PLATFORM_MAX_BODY) {
        op->body_too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (rg_buf_put(&op->response, data, len) < 0)
        return 0;
    return len;
}

static int add_header(rg_platform_op *op, const char *line)
{
    struct curl_slist *next = curl_slist_append(op->headers, line);
    if (next == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    op->headers = next;
    return 0;
}

/* "Authorization: Basic base64(id:secret)" or "Authorization: Bearer token". The scratch
 * buffers are wiped here; the list itself is wiped when the transfer is released. */
static int add_auth(rg_platform_op *op)
{
    rg_org *org = op->org;
    rg_buf pair = RG_BUF_INIT, line = RG_BUF_INIT;
    unsigned char *b64 = NULL;
    int error = 0;

    if (op->kind == RG_OP_TOKEN && op->cxone_step == 1)
        return 0; /* CXone discovery: a public document, no credentials go there */
    if (op->kind == RG_OP_TOKEN) {
        if (rg_buf_printf(&pair, "%s:%s", org->client_id, org->client_secret) < 0 ||
            (b64 = malloc(4 * (pair.len / 3 + 1) + 1)) == NULL) {
            error = rg_error_set(RG_ENOMEM, "out of memory");
            goto cleanup;
        }
        EVP_EncodeBlock(b64, (const unsigned char *)pair.ptr, (int)pair.len);
        if (rg_buf_printf(&line, "Authorization: Basic %s", (const char *)b64) < 0) {
            error = rg_error_set(RG_ENOMEM, "out of memory");
            goto cleanup;
        }
    } else if (rg_buf_printf(&line, "Authorization: Bearer %s", org->token) < 0) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    error = add_header(op, line.ptr);

cleanup:
    if (b64 != NULL) {
        explicit_bzero(b64, strlen((const char *)b64));
        free(b64);
    }
    if (pair.ptr != NULL)
        explicit_bzero(pair.ptr, pair.len);
    if (line.ptr != NULL)
        explicit_bzero(line.ptr, line.len);
    rg_buf_dispose(&pair);
    rg_buf_dispose(&line);
    return error;
}

static int build_headers(rg_platform_op *op)
{
    rg_buf line = RG_BUF_INIT;
    int error;

    if ((error = add_header(op, "Accept: application/json")) < 0 ||
        (error = add_header(op, "Expect:")) < 0 || (error = add_auth(op)) < 0)
        return error;
    if (op->req_body != NULL &&
        (error = add_header(op, op->kind == RG_OP_TOKEN
                                    ? "Content-Type: application/x-www-form-urlencoded"
                                    : "Content-Type: application/json")) < 0)
        return error;
    if (strcmp(op->method, "PATCH") == 0) {
        if (rg_buf_printf(&line, "If-Match: %s", op->etag) < 0)
            return rg_error_set(RG_ENOMEM, "out of memory");
        error = add_header(op, line.ptr);
        rg_buf_dispose(&line);
    }
    return error;
}

static int setup_easy(rg_platform *p, rg_platform_op *op)
{
    CURL *e = op->easy;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    if (rc == CURLE_OK)                                                                            \
    rc = curl_easy_setopt(e, opt, val)
    SET(CURLOPT_URL, op->url);
    /* the proxy environment read once (client.c); "" is no proxy, no exception */
    SET(CURLOPT_PROXY, strncasecmp(op->url, "https:", 6) == 0
                           ? (p->proxy_https ? p->proxy_https : "")
                           : (p->proxy_http ? p->proxy_http : ""));
    SET(CURLOPT_NOPROXY, p->no_proxy ? p->no_proxy : "");
    SET(CURLOPT_PRIVATE, op);
    SET(CURLOPT_HTTPHEADER, op->headers);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, op);
    SET(CURLOPT_HEADERFUNCTION, rg_platform__header_cb);
    SET(CURLOPT_HEADERDATA, op);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)p->opts.connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)p->opts.request_timeout_ms);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_USERAGENT, "rollgate/" RG_VERSION);
    SET(CURLOPT_SSL_VERIFYPEER, p->opts.insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, p->opts.insecure ? 0L : 2L);
    if (p->ca_file != NULL)
        SET(CURLOPT_CAINFO, p->ca_file);
    /* libcurl silently resends a request whose reused connection died before any answer;
     * a row PUT has no precondition to refuse a second copy, so it takes a new connection
     * (a versioned PUT too: its copy would come back 409 and hide that the first landed). */
    if (op->kind == RG_OP_ROW_PUT || op->kind == RG_OP_VERSIONED_PUT ||
        op->kind == RG_OP_ROW_CREATE || op->kind == RG_OP_ROW_DELETE ||
        strcmp(op->method, "PUT") == 0)
        SET(CURLOPT_FRESH_CONNECT, 1L);
    if (strcmp(op->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(op->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, op->method);
        SET(CURLOPT_POSTFIELDSIZE, (long)(op->req_body ? strlen(op->req_body) : 0));
        SET(CURLOPT_POSTFIELDS, op->req_body ? op->req_body : "");
    }
#undef SET
    if (rc != CURLE_OK)
        return rg_error_set(RG_EPLATFORM, "curl option: %s", curl_easy_strerror(rc));
    return 0;
}

static int start_transfer(rg_platform *p, rg_platform_op *op, int64_t now)
{
    rg_org *org = op->org;
    CURLMcode mc;
    int error;

    rg_platform__headers_reset(&op->hdr);
    rg_buf_clear(&op->response);
    op->body_too_large = 0;
    if ((op->easy = curl_easy_init()) == NULL)
        return rg_error_set(RG_ENOMEM, "curl_easy_init failed");
    if ((error = build_headers(op)) < 0 || (error = setup_easy(p, op)) < 0)
        goto fail;
    if ((mc = curl_multi_add_handle(p->multi, op->easy)) != CURLM_OK) {
        error = rg_error_set(RG_EPLATFORM, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        goto fail;
    }
    op->state = RG_OPS_IN_FLIGHT;
    op->sent_at = now;
    op->token_gen = org->token_gen;
    if (op->kind == RG_OP_STRATEGY_UPDATE && op->update_step == 1)
        op->patch_attempts++;
    p->in_flight++;
    org->in_flight++;
    if (p->in_flight > p->stats.peak_in_flight)
        p->stats.peak_in_flight = p->in_flight;
    p->stats.requests++;
    if (op->kind == RG_OP_TOKEN && op->cxone_step == 0) {
        p->stats.token_fetches++;
        org->token_fetches++;
    } else if (op->kind != RG_OP_TOKEN && org->rate_known) {
        org->rate_budget--;
    }
    return 0;

fail:
    curl_easy_cleanup(op->easy);
    op->easy = NULL;
    return error;
}

static void wake_at(int64_t *wake, int64_t at)
{
    if (at < *wake)
        *wake = at;
}

static void start_ready(rg_platform *p, int64_t now, int64_t *wake)
{
    rg_platform_op *op, *next;

    for (op = p->pending_head; op != NULL && p->in_flight < p->opts.max_concurrency; op = next) {
        next = op->next;
        if (op->state != RG_OPS_QUEUED)
            continue;
        if (op->ready_at > now) {
            wake_at(wake, op->ready_at);
            continue;
        }
        if (op->kind != RG_OP_TOKEN) {
            if (!rg_platform__rate_admit(p, op->org, now, wake))
                continue;
            if (op->org->cxone && !rg_platform__cxone_admit(op->org, now, wake))
                continue;
            if (!rg_platform__token_ready(p, op->org, now)) {
                /* A fetch queued at the head starts next turn; one in flight wakes us. */
                if (op->org->token_op != NULL && op->org->token_op->state == RG_OPS_QUEUED)
                    wake_at(wake,
                            op->org->token_op->ready_at > now ? op->org->token_op->ready_at : now);
                continue;
            }
        }
        /* a CXone op's URL is known once its brand's discovery is done */
        if ((op->url == NULL && op->rel_path != NULL && rg_platform__cxone_url(op) < 0) ||
            start_transfer(p, op, now) < 0)
            rg_platform__op_fail(op, rg_error_code(), "org %s: %s: %s", op->org_id, op->call,
                                 rg_error_last());
    }
}

/* Failures that mean no HTTP answer could be had and none will come on a retry: name
 * resolution and TLS. (Other non-retryable codes are the client's own problems.) */
static int unreachable(CURLcode res)
{
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR: return 1;
    default: return 0;
    }
}

static int retryable(CURLcode res)
{
    switch (res) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return 1;
    default: return 0;
    }
}

/* `transport`: the attempt got no HTTP answer. An op that gives up on those fails
 * RG_EUNREACHABLE ("platform unreachable"), one that kept getting 5xx RG_EPLATFORM. */
static void retry_transient(rg_platform *p, rg_platform_op *op, const char *why, int transport,
                            int64_t now)
{
    if (op->kind == RG_OP_STRATEGY_UPDATE && op->update_step == 1) {
        /* The PATCH may have been applied: never resend it blind. */
        rg_platform__update_unknown(op, why, transport, now);
        return;
    }
    if (op->kind == RG_OP_ROW_PUT || op->kind == RG_OP_VERSIONED_PUT ||
        op->kind == RG_OP_ROW_CREATE || op->kind == RG_OP_ROW_DELETE) {
        /* The caller re-reads and compares before any other PUT. */
        op->outcome_unknown = 1;
        rg_platform__op_fail(op, transport ? RG_EUNREACHABLE : RG_EPLATFORM,
                             "org %s: %s: outcome unknown: %s", op->org_id, op->call, why);
        return;
    }
    op->transient_failures++;
    if (op->transient_failures > p->opts.max_retries) {
        if (transport)
            rg_platform__op_fail(op, RG_EUNREACHABLE,
                                 "org %s: %s: platform unreachable: %s "
                                 "(gave up after %d attempts)",
                                 op->org_id, op->call, why, op->transient_failures);
        else
            rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: %s (gave up after %d attempts)",
                                 op->org_id, op->call, why, op->transient_failures);
        return;
    }
    p->stats.retries++;
    rg_platform__op_requeue(op, now + rg_platform__backoff(p, op->transient_failures));
}

static void count_status(rg_platform *p, long status)
{
    if (status >= 200 && status < 300)
        p->stats.status_2xx++;
    else if (status >= 400 && status < 500)
        p->stats.status_4xx++;
    else if (status >= 500)
        p->stats.status_5xx++;
    if (status == 401)
        p->stats.status_401++;
    else if (status == 412)
        p->stats.status_412++;
    else if (status == 429)
        p->stats.status_429++;
}

static json_t *parse_body(const rg_platform_op *op)
{
    if (op->response.len == 0)
        return NULL;
    return json_loadb(op->response.ptr, op->response.len, JSON_REJECT_DUPLICATES, NULL);
}

static void on_status(rg_platform *p, rg_platform_op *op, long status, json_t *body, int64_t now)
{
    char why[64];

    if (status == 429) {
        op->rate_limited++;
        if (op->rate_limited > p->opts.max_429_retries) {
            rg_platform__op_fail(op, RG_ELIMIT, "org %s: %s: rate limited (429) %d times",
                                 op->org_id, op->call, op->rate_limited);
        } else if (op->kind == RG_OP_TOKEN) {
            int64_t delay = op->hdr.retry_after_s >= 0 ? op->hdr.retry_after_s * 1000
                                                       : rg_platform__backoff(p, op->rate_limited);
            rg_platform__op_requeue(op, now + delay);
        } else {
            rg_platform__rate_block(p, op->org, &op->hdr, now, op->rate_limited);
            rg_platform__op_requeue(op, 0);
        }
    } else if (status == 500 || status == 502 || status == 503 || status == 504) {
        snprintf(why, sizeof(why), "HTTP %ld", status);
        retry_transient(p, op, why, 0, now);
    } else if (status == 401 && op->kind != RG_OP_TOKEN) {
        rg_platform__token_invalidate(p, op->org, op->token_gen);
        if (op->retried_401)
            rg_platform__op_fail(op, RG_EAUTH, "org %s: %s: HTTP 401 even with a fresh token",
                                 op->org_id, op->call);
        else {
            op->retried_401 = 1;
            rg_platform__op_requeue(op, 0);
        }
    } else {
        rg_platform__op_handle(op, status, body);
    }
}

static void finish(rg_platform *p, rg_platform_op *op, CURLcode res)
{
    long status = 0;
    int64_t now = rg_time_mono_ms();
    json_t *body = NULL;
    int too_large = op->body_too_large;

    curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &status);
    if (res == CURLE_OK)
        body = parse_body(op);
    rg_platform__transfer_release(op); /* wipes the raw response */
    op->state = RG_OPS_QUEUED;
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "%s %s -> %ld org=%s (%s)", op->method, op->url,
           status, op->org_id, res == CURLE_OK ? "ok" : curl_easy_strerror(res));
    if (res != CURLE_OK) {
        p->stats.transport_errors++;
        if (too_large)
            rg_platform__op_fail(op, RG_ELIMIT, "org %s: %s: response larger than %u bytes",
                                 op->org_id, op->call, RG_PLATFORM_MAX_BODY);
        else if (retryable(res))
            retry_transient(p, op, curl_easy_strerror(res), 1, now);
        else if (unreachable(res))
            rg_platform__op_fail(op, RG_EUNREACHABLE, "org %s: %s: platform unreachable: %s",
                                 op->org_id, op->call, curl_easy_strerror(res));
        else
            rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: %s", op->org_id, op->call,
                                 curl_easy_strerror(res));
        return;
    }
    op->http_status = status;
    count_status(p, status);
    if (op->kind != RG_OP_TOKEN)
        rg_platform__rate_update(p, op->org, &op->hdr, op->sent_at, now);
    if (status >= 200 && status < 300 && body == NULL && op->kind != RG_OP_TOKEN) {
        rg_platform__op_fail(op, RG_EPLATFORM,
                             "org %s: %s: HTTP %ld with a body that is not "
                             "JSON",
                             op->org_id, op->call, status);
        return;
    }
    on_status(p, op, status, body, now);
    json_decref(body);
}

/* Returns the number of transfers that ended. */
static int drain(rg_platform *p)
{
    CURLMsg *msg;
    int left, n = 0;

    while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
        rg_platform_op *op = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&op);
        if (op == NULL)
            continue;
        finish(p, op, msg->data.result);
        n++;
    }
    return n;
}

void rg_platform_set_idle(rg_platform *p, rg_platform_idle_fn idle, void *payload)
{
    if (p == NULL)
        return;
    p->idle = idle;
    p->idle_payload = payload;
}

int rg_platform_run(rg_platform *p)
{
    int error = 0, running;

    if (p == NULL)
        return rg_error_set(RG_EINVALID, "platform: client is NULL");
    if (p->running)
        return rg_error_set(RG_EINVALID, "platform: rg_platform_run called from a callback");
    p->running = 1;
    while (p->pending > 0) {
        int64_t now = rg_time_mono_ms(), wake = now + 1000, timeout;
        CURLMcode mc;

        start_ready(p, now, &wake);
        if ((mc = curl_multi_perform(p->multi, &running)) != CURLM_OK) {
            error = rg_error_set(RG_EPLATFORM, "platform: curl_multi_perform: %s",
                                 curl_multi_strerror(mc));
            break;
        }
        if (drain(p) > 0 || p->pending == 0)
            continue;
        timeout = wake - rg_time_mono_ms();
        if (p->idle != NULL) {
            int64_t bound = p->idle(p->idle_payload);
            if (bound >= 0 && bound < timeout)
                timeout = bound;
        }
        if (timeout < 0)
            timeout = 0;
        if (timeout > 1000)
            timeout = 1000;
        if ((mc = curl_multi_poll(p->multi, NULL, 0, (int)timeout, NULL)) != CURLM_OK) {
            error = rg_error_set(RG_EPLATFORM, "platform: curl_multi_poll: %s",
                                 curl_multi_strerror(mc));
            break;
        }
    }
    p->running = 0;
    return error;
}

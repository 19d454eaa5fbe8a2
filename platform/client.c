/* client.c - the platform client object: options, the organization registry, counters */
#include <string.h>

#include "platform/client.h"

void rg_platform_options_init(rg_platform_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->max_concurrency = 32;
    opts->connect_timeout_ms = 10000;
    opts->request_timeout_ms = 30000;
    opts->max_retries = 6;
    opts->max_429_retries = 20;
    opts->max_412_attempts = 3;
    opts->backoff_base_ms = 100;
    opts->backoff_cap_ms = 10000;
    opts->retry_after_cap_ms = 180000;
    opts->rate_reset_margin_ms = 50;
    opts->rate_low_water = 10;
    opts->jitter_seed = 0;
    opts->insecure = 0;
    opts->ca_file = NULL;
    opts->strategies_path = "/api/v2/routing/strategies";
    opts->media_type = "voice";
    opts->predicate_batch = 100;
}

/* The static name of an accepted media type ("" = no filter), or NULL. */
static const char *media_type_name(const char *m)
{
    static const char *const names[] = {"", "voice", "chat", "email", "callback", "message", NULL};

    for (size_t i = 0; m != NULL && names[i]; i++)
        if (strcmp(names[i], m) == 0)
            return names[i];
    return NULL;
}

static int options_check(const rg_platform_options *o)
{
    if (o->max_concurrency < 1 || o->max_concurrency > 4096)
        return rg_error_set(RG_EINVALID, "platform: max_concurrency %d outside 1..4096",
                            o->max_concurrency);
    if (o->connect_timeout_ms < 1 || o->request_timeout_ms < 1)
        return rg_error_set(RG_EINVALID, "platform: timeouts must be positive");
    if (o->max_retries < 0 || o->max_retries > 100 || o->max_429_retries < 0 ||
        o->max_429_retries > 1000)
        return rg_error_set(RG_EINVALID, "platform: retry bounds outside 0..100 / 0..1000");
    if (o->max_412_attempts < 1 || o->max_412_attempts > 100)
        return rg_error_set(RG_EINVALID, "platform: max_412_attempts outside 1..100");
    if (o->backoff_base_ms < 0 || o->backoff_cap_ms < o->backoff_base_ms ||
        o->retry_after_cap_ms < 0 || o->rate_reset_margin_ms < 0)
        return rg_error_set(RG_EINVALID, "platform: backoff bounds must be >= 0 and cap >= "
                                         "base");
    if (o->rate_low_water < 0)
        return rg_error_set(RG_EINVALID, "platform: rate_low_water must be >= 0");
    if (o->predicate_batch < 1 || o->predicate_batch > 1000)
        return rg_error_set(RG_EINVALID, "platform: predicate_batch %d outside 1..1000",
                            o->predicate_batch);
    if (media_type_name(o->media_type) == NULL)
        return rg_error_set(RG_EINVALID, "platform: media_type must be voice, chat, email, "
                                         "callback, message or empty");
    if (o->strategies_path == NULL || o->strategies_path[0] != '/')
        return rg_error_set(RG_EINVALID, "platform: strategies_path must start with '/'");
    return 0;
}

/* The first of the variables that is set and not empty, copied (NULL: none). */
static int env_first(char **out, const char *const *names)
{
    *out = NULL;
    for (; *names != NULL; names++) {
        const char *v = getenv(*names);
        if (v != NULL && *v != '\0')
            return (*out = rg_strdup(v)) != NULL ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
    }
    return 0;
}

/* libcurl's own choice, made once: <scheme>_proxy (HTTPS_PROXY too, but never HTTP_PROXY,
 * which a CGI client can set), then all_proxy / ALL_PROXY; no_proxy, then NO_PROXY. Set on
 * every transfer, they spare libcurl its five getenv calls a request, each a scan of the
 * whole environment (20,000 entries when 10,000 orgs' credentials are there). */
static int proxy_env(rg_platform *p)
{
    static const char *const http[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
    static const char *const https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                        NULL};
    static const char *const none[] = {"no_proxy", "NO_PROXY", NULL};
    int error;

    if ((error = env_first(&p->proxy_http, http)) < 0 ||
        (error = env_first(&p->proxy_https, https)) < 0)
        return error;
    return env_first(&p->no_proxy, none);
}

int rg_platform_new(rg_platform **out, const rg_platform_options *opts)
{
    rg_platform *p = NULL;
    rg_platform_options defaults;
    int error;

    if (out == NULL)
        return rg_error_set(RG_EINVALID, "platform: out is NULL");
    if (opts == NULL) {
        rg_platform_options_init(&defaults);
        opts = &defaults;
    }
    if ((error = options_check(opts)) < 0)
        return error;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return rg_error_set(RG_EPLATFORM, "platform: libcurl failed to initialise");
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    p->opts = *opts;
    if ((p->strategies_path = rg_strdup(opts->strategies_path)) == NULL ||
        (opts->ca_file != NULL && (p->ca_file = rg_strdup(opts->ca_file)) == NULL)) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    p->opts.strategies_path = p->strategies_path;
    p->opts.media_type = media_type_name(opts->media_type); /* a static string */
    p->opts.ca_file = p->ca_file;
    if ((error = proxy_env(p)) < 0)
        goto cleanup;
    if ((p->multi = curl_multi_init()) == NULL) {
        error = rg_error_set(RG_EPLATFORM, "platform: curl_multi_init failed");
        goto cleanup;
    }
    curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opts->max_concurrency);
    p->rng = opts->jitter_seed != 0 ? opts->jitter_seed
                                    : (uint64_t)rg_time_now_ms() ^ 0x9e3779b97f4a7c15ull;
    *out = p;
    return 0;

cleanup:
    free(p->strategies_path);
    free(p->ca_file);
    free(p->proxy_http);
    free(p->proxy_https);
    free(p->no_proxy);
    free(p);
    return error;
}

static void org_free(rg_org *org)
{
    if (org == NULL)
        return;
    free(org->id);
    free(org->api_url);
    free(org->login_url);
    rg_platform__wipe_free(org->client_id);
    rg_platform__wipe_free(org->client_secret);
    rg_platform__wipe_free(org->token);
    rg_platform__cxone_org_free(org);
    free(org);
}

void rg_platform_free(rg_platform *p)
{
    rg_platform_op *op;
    rg_org *org, *org_next;

    if (p == NULL)
        return;
    p->closing = 1;
    while ((op = p->pending_head) != NULL) {
        int internal = op->internal;
        op->done = NULL;
        rg_platform__op_fail(op, RG_ECONFLICT, "cancelled: the client was freed");
        if (!internal)
            op->platform = NULL; /* the caller still frees it */
    }
    for (org = p->orgs; org != NULL; org = org_next) {
        org_next = org->next;
        org_free(org);
    }
    rg_platform_credentials_end(p);
    curl_multi_cleanup(p->multi);
    free(p->strategies_path);
    free(p->ca_file);
    free(p->proxy_http);
    free(p->proxy_https);
    free(p->no_proxy);
    free(p);
}

static unsigned org_bucket(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % RG_PLATFORM_ORG_BUCKETS;
}

rg_org *rg_platform__org(const rg_platform *p, const char *org_id)
{
    rg_org *org;

    if (org_id == NULL)
        return NULL;
    for (org = p->buckets[org_bucket(org_id)]; org != NULL; org = org->next_in_bucket)
        if (strcmp(org->id, org_id) == 0)
            return org;
    return NULL;
}

int rg_platform_has_org(const rg_platform *p, const char *org_id)
{
    return p != NULL && rg_platform__org(p, org_id) != NULL;
}

static int org_new(rg_org **out, rg_platform *p, const rg_platform_org *desc)
{
    rg_org *org;
    int error;

    if (desc == NULL || desc->id == NULL || *desc->id == '\0')
        return rg_error_set(RG_EINVALID, "platform: an organization needs an id");
    if (strlen(desc->id) > 128)
        return rg_error_set(RG_EINVALID, "platform: org id longer than 128 characters");
    if (rg_platform__org(p, desc->id) != NULL)
        return rg_error_set(RG_ECONFLICT, "org %s: registered twice", desc->id);
    if ((org = calloc(1, sizeof(*org))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((org->id = rg_strdup(desc->id)) == NULL) {
        free(org);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    if ((desc->api_url != NULL && strncmp(desc->api_url, "cxone:", 6) == 0
             ? (error = rg_platform__cxone_org(org, desc, p->opts.insecure))
             : (error = rg_platform__url_check(&org->api_url, desc->api_url, "api_url", desc->id,
                                               p->opts.insecure))) < 0 ||
        (error = rg_platform__url_check(&org->login_url, desc->login_url, "login_url", desc->id,
                                        p->opts.insecure)) < 0) {
        org_free(org);
        return error;
    }
    *out = org;
    return 0;
}

static void org_register(rg_platform *p, rg_org *org)
{
    unsigned b = org_bucket(org->id);
    org->next_in_bucket = p->buckets[b];
    p->buckets[b] = org;
    org->next = p->orgs;
    p->orgs = org;
}

int rg_platform_add_org(rg_platform *p, const rg_platform_org *desc)
{
    rg_org *org = NULL;
    int error;

    if (p == NULL)
        return rg_error_set(RG_EINVALID, "platform: client is NULL");
    if ((error = org_new(&org, p, desc)) < 0)
        return error;
    if ((error = org->cxone ? rg_platform__cxone_credentials(p, org, desc->credentials)
                            : rg_platform__load_credentials(p, &org->client_id, &org->client_secret,
                                                            org->id, desc->credentials)) < 0) {
        org_free(org);
        return error;
    }
    org_register(p, org);
    return 0;
}

int rg_platform_add_org_secret(rg_platform *p, const rg_platform_org *desc, const char *client_id,
                               const char *client_secret)
{
    rg_org *org = NULL;
    int error;

    if (p == NULL)
        return rg_error_set(RG_EINVALID, "platform: client is NULL");
    if ((error = org_new(&org, p, desc)) < 0)
        return error;
    if (client_id == NULL || *client_id == '\0' || client_secret == NULL ||
        *client_secret == '\0') {
        error = rg_error_set(RG_EAUTH, "org %s: client_id and client_secret are required", org->id);
        org_free(org);
        return error;
    }
    if ((org->client_id = rg_strdup(client_id)) == NULL ||
        (org->client_secret = rg_strdup(client_secret)) == NULL) {
        org_free(org);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    org_register(p, org);
    return 0;
}

/* xorshift64*: enough for jitter, reproducible from the seed. */
static uint64_t next_random(rg_platform *p)
{
    uint64_t x = p->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int64_t rg_platform__jitter(rg_platform *p, int64_t ceiling_ms)
{
    if (ceiling_ms <= 0)
        return 0;
    return (int64_t)(next_random(p) % (uint64_t)(ceiling_ms + 1));
}

/* Full jitter: uniform in [0, min(cap, base * 2^(failures-1))]. */
int64_t rg_platform__backoff(rg_platform *p, int failures)
{
    int64_t ceiling = p->opts.backoff_base_ms;
    for (int i = 1; i < failures && ceiling < p->opts.backoff_cap_ms; i++)
        ceiling *= 2;
    if (ceiling > p->opts.backoff_cap_ms)
        ceiling = p->opts.backoff_cap_ms;
    return rg_platform__jitter(p, ceiling);
}

void rg_platform_get_stats(rg_platform_stats *out, const rg_platform *p)
{
    if (out == NULL)
        return;
    if (p == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = p->stats;
    out->in_flight = p->in_flight;
}

uint64_t rg_platform_org_token_fetches(const rg_platform *p, const char *org_id)
{
    rg_org *org = p != NULL ? rg_platform__org(p, org_id) : NULL;
    return org != NULL ? org->token_fetches : 0;
}

size_t rg_platform_pending(const rg_platform *p)
{
    return p != NULL ? p->pending : 0;
}

/* tokencache.c - OAuth tokens kept across platform clients: an engine makes a client per
 * rollout step, and without this every step with work fetched a new token per org */
#include <pthread.h>
#include <string.h>

#include "platform/client.h"

#define TOKEN_BUCKETS 4096u
#define TOKEN_MAX_ENTRIES 200000u /* past this, expired entries are swept before an insert */

typedef struct token_entry {
    struct token_entry *next;
    char key[65];       /* hex SHA-256 of login URL, org, client id and secret */
    char *token;        /* wiped on free */
    int64_t expires_at; /* mono ms */
    int64_t refresh_at; /* mono ms: 80% of the lifetime */
    char *api_url;      /* a CXone brand's discovered API base, kept with its token */
} token_entry;

struct rg_platform_tokens {
    pthread_mutex_t lock;
    token_entry *buckets[TOKEN_BUCKETS];
    size_t count;
};

int rg_platform_tokens_new(rg_platform_tokens **out)
{
    rg_platform_tokens *t;

    if (out == NULL)
        return rg_error_set(RG_EINVALID, "platform tokens: out is NULL");
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return rg_error_set(RG_ENOMEM, "platform tokens: cannot initialise a mutex");
    }
    *out = t;
    return 0;
}

static void entry_free(token_entry *e)
{
    rg_platform__wipe_free(e->token);
    free(e->api_url);
    explicit_bzero(e, sizeof(*e));
    free(e);
}

void rg_platform_tokens_free(rg_platform_tokens *t)
{
    if (t == NULL)
        return;
    for (size_t b = 0; b < TOKEN_BUCKETS; b++) {
        token_entry *e = t->buckets[b], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

size_t rg_platform_tokens_count(rg_platform_tokens *t)
{
    size_t n;

    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->lock);
    n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* The key proves knowledge of the secret: another registration of the same org id with
 * other credentials (another tenant) never gets this token. */
void rg_platform__token_key(rg_org *org)
{
    rg_buf in = RG_BUF_INIT;

    if (org->token_key[0] != '\0')
        return;
    if (rg_buf_printf(&in, "%s\n%s\n%s\n%s", org->login_url, org->id,
                      org->client_id ? org->client_id : "",
                      org->client_secret ? org->client_secret : "") == 0 &&
        (!org->cxone || rg_buf_printf(&in, "\ncxone\n%s\n%s\n%s", org->discovery_url,
                                      org->access_key_id, org->access_key_secret) == 0))
        rg_sha256_hex(org->token_key, in.ptr, in.len);
    if (in.ptr != NULL)
        explicit_bzero(in.ptr, in.len);
    rg_buf_dispose(&in);
}

static unsigned bucket_of(const char *key)
{
    unsigned h = 0;
    for (int i = 0; i < 8; i++) /* the key is a hash already */
        h = (h << 4) | (unsigned)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return h % TOKEN_BUCKETS;
}

static token_entry **find(rg_platform_tokens *t, const char *key)
{
    token_entry **slot = &t->buckets[bucket_of(key)];

    for (; *slot != NULL; slot = &(*slot)->next)
        if (strcmp((*slot)->key, key) == 0)
            return slot;
    return slot;
}

static void sweep_expired(rg_platform_tokens *t, int64_t now)
{
    for (size_t b = 0; b < TOKEN_BUCKETS; b++) {
        token_entry **slot = &t->buckets[b];
        while (*slot != NULL) {
            token_entry *e = *slot;
            if (now >= e->expires_at) {
                *slot = e->next;
                entry_free(e);
                t->count--;
            } else {
                slot = &e->next;
            }
        }
    }
}

int rg_platform__tokens_take(rg_platform_tokens *t, rg_org *org, int64_t now)
{
    token_entry *e;
    char *copy = NULL;
    int found = 0;

    if (t == NULL || org->client_secret == NULL)
        return 0;
    rg_platform__token_key(org);
    if (org->token_key[0] == '\0')
        return 0; /* no key (out of memory): fetch as without a cache */
    pthread_mutex_lock(&t->lock);
    e = *find(t, org->token_key);
    /* A CXone brand needs the API base its token came with. */
    if (e != NULL && org->cxone && org->api_url == NULL &&
        (e->api_url == NULL || (org->api_url = rg_strdup(e->api_url)) == NULL))
        e = NULL;
    if (e != NULL && now < e->expires_at && (copy = rg_strdup(e->token)) != NULL) {
        rg_platform__wipe_free(org->token);
        org->token = copy;
        org->token_gen++;
        org->token_expires_at = e->expires_at;
        org->token_refresh_at = e->refresh_at;
        found = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

void rg_platform__tokens_put(rg_platform_tokens *t, rg_org *org)
{
    token_entry **slot, *e;
    char *copy;

    if (t == NULL || org->token == NULL || org->client_secret == NULL)
        return;
    rg_platform__token_key(org);
    if (org->token_key[0] == '\0')
        return;
    if ((copy = rg_strdup(org->token)) == NULL)
        return; /* the cache is an optimisation: without it the next client fetches again */
    pthread_mutex_lock(&t->lock);
    slot = find(t, org->token_key);
    if ((e = *slot) == NULL) {
        if (t->count >= TOKEN_MAX_ENTRIES) {
            sweep_expired(t, rg_time_mono_ms());
            slot = find(t, org->token_key);
        }
        if (t->count < TOKEN_MAX_ENTRIES && (e = calloc(1, sizeof(*e))) != NULL) {
            memcpy(e->key, org->token_key, sizeof(e->key));
            *slot = e;
            t->count++;
        }
    }
    if (e != NULL) {
        rg_platform__wipe_free(e->token);
        e->token = copy;
        copy = NULL;
        e->expires_at = org->token_expires_at;
        e->refresh_at = org->token_refresh_at;
        if (org->cxone && org->api_url != NULL) {
            free(e->api_url);
            e->api_url = rg_strdup(org->api_url);
        }
    }
    pthread_mutex_unlock(&t->lock);
    rg_platform__wipe_free(copy);
}

void rg_platform__tokens_drop(rg_platform_tokens *t, rg_org *org, const char *token)
{
    token_entry **slot, *e;

    if (t == NULL || token == NULL || org->client_secret == NULL)
        return;
    rg_platform__token_key(org);
    if (org->token_key[0] == '\0')
        return;
    pthread_mutex_lock(&t->lock);
    slot = find(t, org->token_key);
    /* only the token refused: a newer one another client stored meanwhile stays */
    if ((e = *slot) != NULL && e->token != NULL && strcmp(e->token, token) == 0) {
        *slot = e->next;
        entry_free(e);
        t->count--;
    }
    pthread_mutex_unlock(&t->lock);
}

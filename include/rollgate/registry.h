/* registry.h - the tenants' platform connections, kept by the server's owner: which tenant
 * owns which organizations, each organization's region (its API and login hosts) and where
 * its client credentials are; each tenant's webhook secret. A JSON file of mode 0600. */
#ifndef RG_REGISTRY_H
#define RG_REGISTRY_H

#include <stddef.h>

#include <jansson.h>

#include "rollgate/error.h"

/* The region that names loopback URLs of the entry itself; used only in test mode. */
#define RG_REGISTRY_LOOPBACK "loopback"

/* One organization's entry; strings are borrowed from the registry that returned it. */
typedef struct rg_registry_org {
    const char *tenant;
    const char *org;
    const char *region;  /* a Genesys Cloud region ("us-east-1") or "loopback" */
    const char *api_url; /* the region's API host, or the loopback entry's own */
    const char *login_url;
    const char *credentials; /* "env", "env:PREFIX" (PREFIX_CLIENT_ID/_SECRET) or
                              * "file:/ABSOLUTE/PATH" */
} rg_registry_org;

typedef struct rg_registry rg_registry;

/* The API and login base URLs of a Genesys Cloud region ("us-east-1", "eu-west-1", …;
 * the list is in docs/serve.md). RG_EINVALID listing the regions otherwise.
 * @param[out] api_url, login_url static strings. */
int rg_registry_region_urls(const char **api_url, const char **login_url, const char *region);

/* Loads and validates the file (mode 0600, ours, at most 4 MiB). RG_ENOTFOUND when absent.
 * @param[out] out free with rg_registry_free. */
int rg_registry_load(rg_registry **out, const char *path);
void rg_registry_free(rg_registry *registry);

/* The entry of `org_id` registered to `tenant`. RG_ENOTFOUND "org O is not registered to
 * tenant T" whether or not another tenant has it (the message says nothing of others).
 * A loopback entry is RG_EAUTH unless allow_loopback. */
int rg_registry_find(rg_registry_org *out, const rg_registry *registry, const char *tenant,
                     const char *org_id, int allow_loopback);
/* The tenant's webhook secret source ("env:NAME" or "file:PATH"), or NULL. Borrowed. */
const char *rg_registry_webhook_source(const rg_registry *registry, const char *tenant);
/* Reads the tenant's webhook secret. RG_ENOTFOUND when the tenant has none, RG_EAUTH when
 * its variable is unset or its file is not private. @param[out] out caller wipes and frees. */
int rg_registry_webhook_secret(char **out, const rg_registry *registry, const char *tenant);

/* [{"tenant","org","region","api_url","login_url","credentials"}] for one tenant or all
 * (tenant NULL), sorted; new reference. Sources are names and paths, never secrets. */
json_t *rg_registry_list_json(const rg_registry *registry, const char *tenant);

/* Adds or replaces (same tenant and org) an entry in the file at `path`, creating it 0600
 * when absent. An org registered to another tenant is RG_ECONFLICT. For a loopback region
 * `org->api_url`/`login_url` must be loopback http(s) URLs; for any other region they must
 * be NULL. A file: credentials source must exist and be private. */
int rg_registry_add(const char *path, const rg_registry_org *org);
/* Removes one entry; RG_ENOTFOUND when the tenant has no such org. */
int rg_registry_remove(const char *path, const char *tenant, const char *org_id);
/* Sets (source "env:NAME" or "file:PATH") or clears (source NULL) a tenant's webhook
 * secret. */
int rg_registry_set_webhook(const char *path, const char *tenant, const char *source);

#endif

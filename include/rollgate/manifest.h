/* manifest.h - rollout manifests: what changes, where, in which order, under which policy */
#ifndef RG_MANIFEST_H
#define RG_MANIFEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/error.h"
#include "rollgate/policy.h"

/* Bounds checked at load time (RG_ELIMIT past them, besides the rg_doc limits). */
#define RG_MANIFEST_MAX_STAGES 20
#define RG_MANIFEST_MAX_GROUPS 1000
#define RG_MANIFEST_MAX_ORGS 10000  /* over all groups */
#define RG_MANIFEST_MAX_TARGETS 256 /* template targets */
#define RG_MANIFEST_MAX_VARS 256    /* per group, and --var */
#define RG_MANIFEST_MAX_NOTIFY 16
#define RG_MANIFEST_MAX_ID 128 /* [A-Za-z0-9_.:-]{1,128} */

/* A template target weight that the engine computes from agents on queue. */
#define RG_WEIGHT_CAPACITY (-1)

typedef enum {
    RG_APPROVAL_REQUIRED = 0,
    RG_APPROVAL_NONE = 1,
} rg_approval;

typedef enum {
    RG_CREDENTIALS_ENV = 0,  /* ROLLGATE_<ORG>_CLIENT_ID / _CLIENT_SECRET */
    RG_CREDENTIALS_FILE = 1, /* JSON {"<org>": {"client_id","client_secret"}}, mode 0600 */
} rg_credentials_kind;

typedef struct rg_manifest_platform {
    char *driver; /* "genesys" or "cxone" (docs/cxone.md) */
    char *api_url;
    char *login_url;
    rg_credentials_kind credentials;
    char *credentials_path; /* RG_CREDENTIALS_FILE only, as written (not resolved) */
    int insecure;           /* skip TLS verification; only ever for loopback hosts */
    /* CXone brands (docs/cxone.md): driver cxone (api_url and login_url are then the CXone
     * hosts), or driver genesys with platform.cxone for its `driver: cxone` orgs. NULL/0
     * when the manifest has no CXone brand. */
    char *cxone_url;        /* discovery host */
    char *cxone_login_url;  /* auth host */
    char *api_version;      /* "v31.0": the last segment of .../incontactapi/services/ */
    int64_t rate_budget;    /* requests per minute per brand (600) */
    char *weight_field;     /* the weight-store skill's field holding the rows ("notes") */
    char *weight_store;     /* the weight-store skill for every brand; NULL: the datatable */
    char *cxone_descriptor; /* derived: what the platform layer gets as each brand's api_url */
} rg_manifest_platform;

typedef struct rg_manifest_org {
    char *id;
    char *api_url;   /* NULL: the platform's */
    char *login_url; /* NULL: the platform's */
    int cxone;       /* `driver: cxone` in a genesys manifest (platform.cxone's settings) */
} rg_manifest_org;

typedef struct rg_manifest_var {
    char *name;
    char *value;
} rg_manifest_var;

typedef struct rg_manifest_group {
    char *name;
    char **depends_on;
    size_t depends_on_count;
    rg_manifest_org *orgs;
    size_t orgs_count;
    rg_manifest_var *vars;
    size_t vars_count;
    int tier; /* longest depends_on chain below this group: 0 for a group with none */
} rg_manifest_group;

typedef struct rg_manifest_target {
    char *type;   /* "Queue" */
    char *id;     /* may hold {{VAR}} */
    int weight;   /* 0..100, or RG_WEIGHT_CAPACITY */
    int priority; /* >= 0 */
} rg_manifest_target;

/* One entry of `stages`: a plain percent, or {percent, approval, pause} (docs/manifest.md,
 * "Stages"). Room for more per-stage fields. */
typedef struct rg_manifest_stage {
    int percent; /* cumulative, 1..100; 0 for a traffic-sized stage without a cap */
    /* Traffic-sized ({min_offered: N}): the stage grows, in target order, until its canary
     * orgs' expected offered calls over the soak reach N, at most `percent` when given, else
     * the next stage's percent less one org. Resolved at start from analytics. 0: none. */
    int64_t min_offered;
    int approval_required; /* a person approves before this stage's targets are changed */
    int pause;             /* after this stage's verdict promotes, stop paused until resumed */
} rg_manifest_stage;

typedef struct rg_manifest_notify {
    char *url;
    char **events;
    size_t events_count;
    char *secret_env; /* the NAME of "env:NAME"; the secret itself is never stored */
} rg_manifest_notify;

/* One entry of `gates` (docs/gates.md): an HTTP receiver asked before a step, which proceeds
 * only on a 2xx answer. */
#define RG_MANIFEST_MAX_GATES 16
typedef enum {
    RG_GATE_PRE_ROLLOUT = 0,   /* once, before the first stage's first write */
    RG_GATE_PRE_STAGE,         /* before each stage's first write */
    RG_GATE_CONFIRM_PROMOTION, /* when a stage's verdict promotes, before it is recorded */
    RG_GATE_POST_ROLLBACK,     /* after a verified restore, before rolled_back is recorded */
} rg_gate_point;
const char *rg_gate_point_name(rg_gate_point at);

typedef struct rg_manifest_gate {
    rg_gate_point at;
    char *url;
    int64_t timeout_ms; /* the whole ask, retries included; default 60 s */
    char *secret_env;   /* the NAME of "env:NAME"; the secret itself is never stored */
} rg_manifest_gate;

/* One entry of `environments`: its own groups and what it requires of the same artifact
 * elsewhere (docs/environments.md). */
#define RG_MANIFEST_MAX_ENVIRONMENTS 16
#define RG_MANIFEST_DIGEST_LEN 72 /* "sha256:" + 64 hex digits + NUL */

typedef struct rg_manifest_env {
    char *name;
    /* Its groups; for the selected environment they are the manifest's `groups` and these
     * are NULL/0 (rg_manifest_env_groups gives either). */
    rg_manifest_group *groups;
    size_t groups_count;
    char **requires; /* environments whose rollout of the same digest must have completed */
    size_t requires_count;
    int64_t max_age_ms; /* how long ago that may have been; 0: no limit */
    int has_approval;   /* approval given for this environment, overriding the top level */
    rg_approval approval;
} rg_manifest_env;

/* What a manifest changes (change.resource), a tagged kind so more kinds fit beside:
 * - routing_strategy: PATCH /api/v2/routing/strategies/{id} with If-Match, the seed
 *   article's model that rollgate-sim serves; not a resource of the real Genesys Cloud API.
 *   `change.strategy: ID` is its shorthand.
 * - datatable_row: one row of an Architect data table that the inbound flow reads
 *   (GET/PUT /api/v2/flows/datatables/{datatable}/rows/{row}); docs/manifest.md.
 * - versioned: a resource with a `version` field at `path` (IVR configs, schedule groups,
 *   emergency groups): GET, then a full-replace PUT carrying the version read. */
typedef enum {
    RG_RESOURCE_ROUTING_STRATEGY = 0,
    RG_RESOURCE_DATATABLE_ROW = 1,
    RG_RESOURCE_VERSIONED = 2,
} rg_resource_kind;

#define RG_MANIFEST_MAX_ROW_FIELDS 50 /* the platform's limit per data table */
#define RG_MANIFEST_MAX_ROW_KEY 256

typedef struct rg_manifest_resource {
    rg_resource_kind kind;
    char *datatable; /* datatable_row: the data table id */
    char *row;       /* datatable_row: the row key */
    int create;      /* datatable_row: a missing row passes plan (`create: true`) */
    /* datatable_row: change.weights {weight column: queue column}, NULL when none */
    json_t *weights;
    char *path; /* versioned: the resource's API path ("/api/v2/architect/ivrs/<id>") */
} rg_manifest_resource;

/* "routing_strategy", "datatable_row" or "versioned". */
const char *rg_resource_kind_name(rg_resource_kind kind);

/* A loaded, validated manifest: read-only; free with rg_manifest_free. */
typedef struct rg_manifest {
    char *name;
    char *tenant;
    char *policy_ref;          /* the name or path written, or NULL when the policy was embedded */
    rg_policy *policy;         /* always loaded */
    rg_manifest_stage *stages; /* percents strictly increasing, ending at 100 */
    size_t stages_count;
    rg_approval approval;
    rg_manifest_platform platform;
    rg_manifest_group *groups;
    size_t groups_count;
    rg_manifest_resource resource; /* change.resource */
    /* change.strategy; for another kind the resource's id as targets and snapshots name it
     * (datatable_row: "<datatable>/<row>", versioned: its path) */
    char *strategy;
    char **watch_queues; /* empty: every queue the old or new body targets */
    size_t watch_queues_count;
    /* change.template as written ({{VAR}} unresolved; weights 0..100 or "capacity"); for a
     * datatable_row the row's fields but `key`; for versioned the top-level fields to set */
    json_t *template_json;
    rg_manifest_target *targets; /* change.template.targets, parsed (routing_strategy) */
    size_t targets_count;
    rg_manifest_notify *notify;
    size_t notify_count;
    rg_manifest_gate *gates;
    size_t gates_count;
    int has_holdout;
    double holdout; /* share of targets kept unchanged until the last stage, (0, 0.5] */
    /* environments: NULL/0 for a manifest without them. `environment` is the selected one
     * (its groups are `groups` above). */
    char *environment;
    rg_manifest_env *environments;
    size_t environments_count;
    /* The artifact: SHA-256 of the canonical JSON of name, tenant, stages, holdout, policy and
     * change, i.e. everything but the environment-specific orgs, variables and approval. */
    char digest[RG_MANIFEST_DIGEST_LEN];
} rg_manifest;

/* Variables given outside the manifest (`--var K=V`); they override group vars. */
typedef struct rg_manifest_options {
    const rg_manifest_var *vars;
    size_t vars_count;
    /* The environment to select (`--env NAME`); NULL: the manifest's own `environment` key
     * (the stored form), required when it has `environments`. */
    const char *environment;
} rg_manifest_options;

/* Loads and validates a manifest file (YAML or JSON). A policy named by path is read
 * relative to the manifest's directory. Errors read "file:line:col: field.path: what".
 * @param[out] out the manifest; free with rg_manifest_free. opts may be NULL. */
int rg_manifest_load_file(rg_manifest **out, const char *path, const rg_manifest_options *opts);
/* The same from bytes named `name`; relative policy paths resolve against base_dir
 * (NULL: the working directory). */
int rg_manifest_load_buffer(rg_manifest **out, const char *name, const char *data, size_t len,
                            const char *base_dir, const rg_manifest_options *opts);
void rg_manifest_free(rg_manifest *manifest);

/* Normalised JSON for storage: every field present in a fixed order, the policy embedded
 * as an object, --var values folded into each group's vars. Loading it again gives an
 * equal manifest. @param[out] out a new reference owned by the caller. */
int rg_manifest_to_json(json_t **out, const rg_manifest *manifest);
/* 1 when equal field by field (policy included), else 0. */
int rg_manifest_equal(const rg_manifest *a, const rg_manifest *b);

/* One (organization, strategy) the rollout changes, in rollout order. */
typedef struct rg_resolved_target {
    size_t seq;          /* 0-based position in rollout order */
    size_t group_index;  /* into manifest->groups */
    const char *group;   /* borrowed from the manifest */
    int tier;            /* dependency tier of the group */
    const char *org;     /* borrowed from the manifest */
    const char *api_url; /* effective: the org's, else the platform's (borrowed) */
    const char *login_url;
    size_t stage; /* 0-based index of the first stage that covers it */
    /* The rendered new body {"name"?, "settings"?, "targets":[...]} with every {{VAR}}
     * substituted; a `capacity` weight stays the string "capacity" for the engine.
     * Owned by the resolution. */
    json_t *body;
} rg_resolved_target;

typedef struct rg_resolution {
    rg_resolved_target *targets;
    size_t count;
    size_t stages_count;
    size_t *stage_end; /* stage k covers targets [0, stage_end[k]) */
} rg_resolution;

/* Orders targets by dependency tier, then group order, then listed order; renders each
 * template; assigns stages: stage k covers the first max(1, ceil(p_k * N / 100)) targets
 * (with a holdout, every stage but the last leaves the final floor(holdout * N) out).
 * Borrowed strings live as long as the manifest.
 * @param[out] out free with rg_resolution_free. */
int rg_manifest_resolve(rg_resolution **out, const rg_manifest *manifest);
void rg_resolution_free(rg_resolution *resolution);
/* Re-assigns the stages of a resolution with each target's expected offered calls over the
 * soak (`offered[i]` for targets[i]): traffic-sized stages (min_offered) grow until theirs
 * reach the number. rg_manifest_resolve sizes them without traffic (one org each). */
int rg_resolution_size_stages(rg_resolution *resolution, const rg_manifest *manifest,
                              const double *offered);
/* 1 when some stage is traffic-sized (min_offered). */
int rg_manifest_traffic_sized(const rg_manifest *manifest);

/* Renders `text` with the variables of group `group_index` (and opts' overrides folded
 * in at load). RG_EINVALID naming the variable when one is undefined.
 * @param[out] out a new string the caller frees. */
int rg_manifest_render(char **out, const rg_manifest *manifest, size_t group_index,
                       const char *text);

/* The environment variable names for an org's credentials: ROLLGATE_<ORG>_CLIENT_ID and
 * ROLLGATE_<ORG>_CLIENT_SECRET, <ORG> upper-cased with every other byte than A-Z0-9 as '_'.
 * `which` is "CLIENT_ID" or "CLIENT_SECRET". @param[out] out caller frees. */
int rg_manifest_credentials_env(char **out, const char *org_id, const char *which);

const char *rg_approval_name(rg_approval a);

/* The environment entry `name` of the manifest, or NULL. Lives as long as the manifest. */
const rg_manifest_env *rg_manifest_env_find(const rg_manifest *manifest, const char *name);
/* The groups of an environment entry (the manifest's own for the selected one). */
const rg_manifest_group *rg_manifest_env_groups(const rg_manifest *manifest,
                                                const rg_manifest_env *env, size_t *out_count);

#endif

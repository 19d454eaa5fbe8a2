/* sync.c - one-call synchronous wrappers over the batch interface, for the CLI */
#include "platform/client.h"

/* Runs the client until `op` is done; returns its status with its message set. */
static int run_one(rg_platform *p, rg_platform_op *op)
{
    int error;

    if ((error = rg_platform_run(p)) < 0)
        return error;
    if ((error = rg_platform_op_status(op)) < 0)
        return rg_error_set(error, "%s", rg_platform_op_error(op));
    return 0;
}

int rg_platform_org_check(json_t **out_org, rg_platform *p, const char *org_id)
{
    rg_platform_op *op = NULL;
    int error;

    if ((error = rg_platform_queue_org_check(&op, p, org_id, NULL, NULL)) < 0)
        return error;
    if ((error = run_one(p, op)) == 0 && out_org != NULL)
        *out_org = json_incref(rg_platform_op_body(op));
    rg_platform_op_free(op);
    return error;
}

int rg_platform_queue_exists(rg_platform *p, const char *org_id, const char *queue_id)
{
    rg_platform_op *op = NULL;
    int error;

    if ((error = rg_platform_queue_queue_get(&op, p, org_id, queue_id, NULL, NULL)) < 0)
        return error;
    error = run_one(p, op);
    rg_platform_op_free(op);
    return error;
}

static int take_results(json_t **out_body, char **out_etag, rg_platform_op *op)
{
    char *etag = NULL;

    if (out_etag != NULL && (etag = rg_strdup(rg_platform_op_etag(op))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (out_body != NULL)
        *out_body = json_incref(rg_platform_op_body(op));
    if (out_etag != NULL)
        *out_etag = etag;
    return 0;
}

int rg_platform_strategy_get(json_t **out_body, char **out_etag, rg_platform *p, const char *org_id,
                             const char *strategy_id)
{
    rg_platform_op *op = NULL;
    int error;

    if ((error = rg_platform_queue_strategy_get(&op, p, org_id, strategy_id, NULL, NULL)) < 0)
        return error;
    if ((error = run_one(p, op)) == 0)
        error = take_results(out_body, out_etag, op);
    rg_platform_op_free(op);
    return error;
}

int rg_platform_strategy_update(json_t **out_body, char **out_etag, rg_platform *p,
                                const char *org_id, const char *strategy_id, const char *etag,
                                json_t *patch, rg_platform_merge_fn merge, void *merge_payload)
{
    rg_platform_op *op = NULL;
    int error;

    if ((error = rg_platform_queue_strategy_update(&op, p, org_id, strategy_id, etag, patch, merge,
                                                   merge_payload, NULL, NULL)) < 0)
        return error;
    if ((error = run_one(p, op)) == 0)
        error = take_results(out_body, out_etag, op);
    rg_platform_op_free(op);
    return error;
}

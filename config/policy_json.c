/* policy_json.c - a policy as normalised JSON, deep copies and equality */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/policy_internal.h"
#include "rollgate/util.h"

static int set_duration(json_t *obj, const char *key, int64_t ms)
{
    rg_buf text = RG_BUF_INIT;
    int rc = rg_format_duration(&text, ms);

    if (rc == 0 && json_object_set_new(obj, key, json_string(rg_buf_cstr(&text))) != 0)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    rg_buf_dispose(&text);
    return rc;
}

static json_t *tolerance_json(const rg_policy_metric *m)
{
    rg_buf text = RG_BUF_INIT;
    json_t *value;

    if (m->scale == RG_TOLERANCE_RELATIVE)
        return json_pack("{s:f}", "relative", m->tolerance);
    if (!m->tolerance_is_duration)
        return json_pack("{s:f}", "absolute", m->tolerance);
    if (rg_format_duration(&text, (int64_t)llround(m->tolerance)) < 0)
        return NULL;
    value = json_pack("{s:s}", "absolute", rg_buf_cstr(&text));
    rg_buf_dispose(&text);
    return value;
}

static json_t *metric_json(const rg_policy_metric *m)
{
    json_t *obj = json_pack("{s:s, s:s}", "name", m->name, "kind", rg_metric_kind_name(m->kind));
    json_t *tol = tolerance_json(m);

    if (obj == NULL || tol == NULL)
        goto fail;
    if (m->kind == RG_METRIC_PROPORTION) {
        if (json_object_set_new(obj, "events", json_string(m->events)) ||
            json_object_set_new(obj, "trials", json_string(m->trials)))
            goto fail;
    } else if (json_object_set_new(obj, "source", json_string(m->source))) {
        goto fail;
    }
    if (json_object_set_new(obj, "increase_is_bad", json_boolean(m->increase_is_bad)) ||
        json_object_set_new(obj, "tolerance", tol) ||
        json_object_set_new(obj, "critical", json_boolean(m->critical))) {
        tol = NULL;
        goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    json_decref(tol);
    return NULL;
}

static int add_sections(json_t *obj, const rg_policy *p)
{
    json_t *capacity = json_pack("{s:f}", "min_ratio", p->capacity_min_ratio);
    json_t *metrics = json_array();
    int rc = 0;

    if (capacity == NULL || metrics == NULL)
        goto nomem;
    if (p->has_capacity_max_load &&
        json_object_set_new(capacity, "max_load", json_real(p->capacity_max_load)))
        goto nomem;
    for (size_t i = 0; i < p->metrics_count; i++)
        if (json_array_append_new(metrics, metric_json(&p->metrics[i])))
            goto nomem;
    if (json_object_set_new(obj, "breaker",
                            json_pack("{s:i}", "consecutive", p->breaker_consecutive)) ||
        json_object_set_new(obj, "on_inconclusive",
                            json_string(rg_on_inconclusive_name(p->on_inconclusive))) ||
        json_object_set_new(obj, "errors", json_pack("{s:i}", "limit", p->errors_limit)) ||
        (rc = set_duration(obj, "verify_window", p->verify_window_ms)) < 0)
        goto nomem;
    rc = json_object_set_new(obj, "capacity", capacity);
    capacity = NULL;
    if (rc != 0 || json_object_set_new(obj, "metrics", metrics)) {
        metrics = NULL;
        goto nomem;
    }
    if (p->has_tau2 && json_object_set_new(obj, "tau2", json_real(p->tau2)))
        goto nomem;
    /* written when not the default, so that older normalised policies stay byte-identical */
    if ((p->variance != RG_VARIANCE_POOLED &&
         json_object_set_new(obj, "variance", json_string(rg_variance_kind_name(p->variance)))) ||
        (p->information != RG_INFORMATION_CALENDAR &&
         json_object_set_new(obj, "information",
                             json_string(rg_information_kind_name(p->information)))) ||
        (p->alpha_split != RG_ALPHA_SPLIT_NONE &&
         json_object_set_new(obj, "alpha_split", json_string("stages"))) ||
        (p->spending != RG_SPENDING_OBRIEN_FLEMING &&
         json_object_set_new(obj, "spending", json_string(rg_spending_kind_name(p->spending)))) ||
        (p->fail_rule != RG_FAIL_ESTIMATE &&
         json_object_set_new(obj, "fail_rule", json_string(rg_fail_rule_name(p->fail_rule)))))
        goto nomem;
    return rg_policy__analytics_json(obj, p); /* capacity and metrics belong to obj now */
nomem:
    json_decref(capacity);
    json_decref(metrics);
    return rc < 0 ? rc : rg_error_set(RG_ENOMEM, "out of memory");
}

int rg_policy_to_json(json_t **out, const rg_policy *p)
{
    json_t *obj = NULL;
    int rc = 0;

    if (out == NULL || p == NULL)
        return rg_error_set(RG_EINVALID, "rg_policy_to_json: invalid arguments");
    if ((obj = json_object()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((p->name && json_object_set_new(obj, "name", json_string(p->name))) ||
        json_object_set_new(obj, "alpha", json_real(p->alpha)) ||
        json_object_set_new(obj, "sequential", json_string(rg_sequential_name(p->sequential)))) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = set_duration(obj, "stabilization_window", p->stabilization_window_ms)) < 0 ||
        (rc = set_duration(obj, "soak_limit", p->soak_limit_ms)) < 0 ||
        (rc = set_duration(obj, "poll_interval", p->poll_interval_ms)) < 0 ||
        (rc = set_duration(obj, "granularity", p->granularity_ms)) < 0 ||
        (rc = set_duration(obj, "settle", p->settle_ms)) < 0 ||
        (rc = set_duration(obj, "pre_window", p->pre_window_ms)) < 0 ||
        (rc = add_sections(obj, p)) < 0)
        goto cleanup;
    *out = obj;
    obj = NULL;
cleanup:
    json_decref(obj);
    return rc;
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int metric_equal(const rg_policy_metric *a, const rg_policy_metric *b)
{
    return str_eq(a->name, b->name) && a->kind == b->kind && str_eq(a->events, b->events) &&
           str_eq(a->trials, b->trials) && str_eq(a->source, b->source) &&
           a->increase_is_bad == b->increase_is_bad && a->scale == b->scale &&
           a->tolerance == b->tolerance && a->tolerance_is_duration == b->tolerance_is_duration &&
           a->critical == b->critical;
}

int rg_policy_equal(const rg_policy *a, const rg_policy *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->variance != b->variance || a->information != b->information ||
        a->alpha_split != b->alpha_split || a->fail_rule != b->fail_rule ||
        a->spending != b->spending || !rg_policy__analytics_equal(a, b))
        return 0;
    if (!str_eq(a->name, b->name) || a->alpha != b->alpha || a->sequential != b->sequential ||
        a->stabilization_window_ms != b->stabilization_window_ms ||
        a->soak_limit_ms != b->soak_limit_ms || a->poll_interval_ms != b->poll_interval_ms ||
        a->granularity_ms != b->granularity_ms || a->settle_ms != b->settle_ms ||
        a->pre_window_ms != b->pre_window_ms || a->breaker_consecutive != b->breaker_consecutive ||
        a->on_inconclusive != b->on_inconclusive || a->errors_limit != b->errors_limit ||
        a->verify_window_ms != b->verify_window_ms ||
        a->capacity_min_ratio != b->capacity_min_ratio ||
        a->has_capacity_max_load != b->has_capacity_max_load ||
        (a->has_capacity_max_load && a->capacity_max_load != b->capacity_max_load) ||
        a->has_tau2 != b->has_tau2 || (a->has_tau2 && a->tau2 != b->tau2) ||
        a->metrics_count != b->metrics_count)
        return 0;
    for (size_t i = 0; i < a->metrics_count; i++)
        if (!metric_equal(&a->metrics[i], &b->metrics[i]))
            return 0;
    return 1;
}

int rg_policy_dup(rg_policy **out, const rg_policy *policy)
{
    json_t *json = NULL;
    char *text = NULL;
    int rc;

    if (out == NULL || policy == NULL)
        return rg_error_set(RG_EINVALID, "rg_policy_dup: invalid arguments");
    if ((rc = rg_policy_to_json(&json, policy)) < 0)
        return rc;
    if ((text = json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(17))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = rg_policy_load_buffer(out, "policy", text, strlen(text));
cleanup:
    free(text);
    json_decref(json);
    return rc;
}

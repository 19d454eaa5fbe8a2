/* test_manifest_resolve.c - the default policy's values, policy round trips, target order,
 * rendered bodies and stage coverage */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/manifest.h"
#include "rollgate/util.h"
#include "support/testutil.h"

static void test_default_policy_is_decisions_md(void **state)
{
    rg_policy *p = NULL;
    const rg_policy_metric *a, *s;
    (void)state;

    assert_int_equal(rg_policy_load(&p, "contact-center", NULL), 0);
    assert_string_equal(p->name, "contact-center");
    assert_true(p->alpha == 0.05);
    assert_int_equal(p->sequential, RG_SEQUENTIAL_GROUP);
    assert_int_equal(p->stabilization_window_ms, 15 * 60000);
    assert_int_equal(p->soak_limit_ms, 30 * 60000);
    assert_int_equal(p->poll_interval_ms, 5 * 60000);
    assert_int_equal(p->granularity_ms, 60000);
    assert_int_equal(p->settle_ms, 60000);
    assert_int_equal(p->pre_window_ms, 30 * 60000);
    assert_int_equal(p->breaker_consecutive, 2);
    assert_int_equal(p->on_inconclusive, RG_ON_INCONCLUSIVE_HOLD);
    assert_int_equal(p->errors_limit, 3);
    assert_int_equal(p->verify_window_ms, 5 * 60000);
    assert_true(p->capacity_min_ratio == 0.8);
    assert_false(p->has_capacity_max_load);
    assert_false(p->has_tau2);
    assert_int_equal(p->metrics_count, 2);
    a = &p->metrics[0];
    assert_string_equal(a->name, "abandonment_rate");
    assert_int_equal(a->kind, RG_METRIC_PROPORTION);
    assert_string_equal(a->events, "tAbandon");
    assert_string_equal(a->trials, "nOffered");
    assert_null(a->source);
    assert_true(a->increase_is_bad);
    assert_int_equal(a->scale, RG_TOLERANCE_RELATIVE);
    assert_true(a->tolerance == 0.15);
    assert_true(a->critical);
    s = &p->metrics[1];
    assert_string_equal(s->name, "speed_of_answer");
    assert_int_equal(s->kind, RG_METRIC_MEAN);
    assert_string_equal(s->source, "tAnswered");
    assert_null(s->events);
    assert_true(s->increase_is_bad);
    assert_int_equal(s->scale, RG_TOLERANCE_ABSOLUTE);
    assert_true(s->tolerance == 10000.0);
    assert_true(s->tolerance_is_duration);
    assert_false(s->critical);
    rg_policy_free(p);
}

static void test_policy_round_trip_and_dup(void **state)
{
    rg_policy *p = NULL, *back = NULL, *copy = NULL;
    json_t *json = NULL;
    char *text = NULL;
    (void)state;

    assert_int_equal(rg_policy_load(&p, "contact-center", NULL), 0);
    assert_int_equal(rg_policy_to_json(&json, p), 0);
    text = json_dumps(json, JSON_COMPACT);
    assert_string_equal(json_string_value(json_object_get(json, "granularity")), "1m");
    assert_int_equal(rg_policy_load_buffer(&back, "p.json", text, strlen(text)), 0);
    assert_true(rg_policy_equal(p, back));
    assert_int_equal(rg_policy_dup(&copy, p), 0);
    assert_true(rg_policy_equal(p, copy));
    copy->metrics[1].tolerance = 9000;
    assert_false(rg_policy_equal(p, copy));
    free(text);
    json_decref(json);
    rg_policy_free(p);
    rg_policy_free(back);
    rg_policy_free(copy);
}

static void test_policy_name_refuses_traversal(void **state)
{
    rg_policy *p = NULL;
    (void)state;

    assert_int_equal(rg_policy_load(&p, "..", NULL), RG_EINVALID);
    assert_int_equal(rg_policy_load(&p, "Contact", NULL), RG_EINVALID);
    assert_null(p);
}

static rg_manifest *load_good(const char *rel)
{
    char path[4096];
    rg_manifest *m = NULL;

    rg_test_path(path, sizeof(path), rel);
    if (rg_manifest_load_file(&m, path, NULL) < 0)
        fail_msg("%s: %s", rel, rg_error_last());
    return m;
}

static void test_resolution_orders_by_tier_and_renders(void **state)
{
    static const char *const orgs[] = {"org_parent_001", "org_sub_002", "org_sub_003",
                                       "org_sub_004", "org_sub_005"};
    static const size_t stages[] = {0, 1, 1, 2, 2};
    rg_manifest *m = load_good("tests/data/good/routing.yaml");
    rg_resolution *r = NULL;
    const rg_resolved_target *t;
    (void)state;

    assert_int_equal(rg_manifest_resolve(&r, m), 0);
    assert_int_equal(r->count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(r->targets[i].seq, i);
        assert_string_equal(r->targets[i].org, orgs[i]);
        assert_int_equal(r->targets[i].stage, stages[i]);
    }
    /* holdout 0.2 of 5 keeps the last target out until the final stage */
    assert_int_equal(r->stage_end[0], 1);
    assert_int_equal(r->stage_end[1], 3);
    assert_int_equal(r->stage_end[2], 5);
    t = &r->targets[0];
    assert_string_equal(t->group, "global_shared");
    assert_int_equal(t->tier, 0);
    assert_string_equal(json_string_value(json_object_get(t->body, "name")),
                        "Production_Routing_v2.1-global");
    t = &r->targets[4];
    assert_string_equal(t->group, "eu_central");
    assert_int_equal(t->tier, 1);
    assert_string_equal(t->api_url, "https://api.mypurecloud.de");
    assert_string_equal(t->login_url, "https://login.mypurecloud.de");
    assert_string_equal(r->targets[3].api_url, "https://api.mypurecloud.com");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(t->body, "settings"), "region")),
        "eu-central");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(t->body, "targets"), 2), "id")),
                        "queue_eu_fallback");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(t->body, "targets"), 1), "weight")),
                        "capacity");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(t->body, "targets"), 0), "weight")),
                     50);
    rg_resolution_free(r);
    rg_manifest_free(m);
}

/* A one-group manifest with n orgs (chained in tiers when chain is set). */
static rg_manifest *synthetic(size_t n, const char *stages, const char *holdout, int chain)
{
    rg_buf yaml = RG_BUF_INIT;
    rg_manifest *m = NULL;

    rg_buf_printf(&yaml,
                  "name: s\ntenant: t\nstages: %s\n%s%s%s"
                  "platform: {driver: genesys, api_url: 'http://127.0.0.1:1', "
                  "login_url: 'http://127.0.0.1:1', credentials: env, insecure: true}\n"
                  "groups:\n",
                  stages, holdout ? "holdout: " : "", holdout ? holdout : "", holdout ? "\n" : "");
    for (size_t i = 0; i < n; i++) {
        rg_buf_printf(&yaml, "  - {name: g%zu, orgs: [o%zu]", i, i);
        if (chain && i > 0)
            rg_buf_printf(&yaml, ", depends_on: [g%zu]", i - 1);
        rg_buf_puts(&yaml, "}\n");
    }
    rg_buf_puts(&yaml, "change: {strategy: st, template: {targets: "
                       "[{type: Queue, id: q, weight: 100, priority: 1}]}}\n");
    if (rg_manifest_load_buffer(&m, "synthetic.yaml", yaml.ptr, yaml.len, NULL, NULL) < 0)
        fail_msg("synthetic: %s", rg_error_last());
    rg_buf_dispose(&yaml);
    return m;
}

static void check_stage_ends(size_t n, const char *stages, const char *holdout, const size_t *want,
                             size_t count)
{
    rg_manifest *m = synthetic(n, stages, holdout, 0);
    rg_resolution *r = NULL;

    assert_int_equal(rg_manifest_resolve(&r, m), 0);
    assert_int_equal(r->stages_count, count);
    for (size_t k = 0; k < count; k++)
        if (r->stage_end[k] != want[k])
            fail_msg("n=%zu stages=%s stage %zu: end %zu, want %zu", n, stages, k, r->stage_end[k],
                     want[k]);
    rg_resolution_free(r);
    rg_manifest_free(m);
}

static void test_stage_coverage(void **state)
{
    static const size_t one[] = {1, 1, 1}, three[] = {1, 2, 3}, ten[] = {1, 5, 10},
                        seven[] = {1, 4, 7}, held[] = {1, 5, 7, 10}, hundred[] = {1, 100};
    (void)state;

    check_stage_ends(1, "[10, 50, 100]", NULL, one, 3);
    check_stage_ends(3, "[10, 50, 100]", NULL, three, 3);
    check_stage_ends(10, "[10, 50, 100]", NULL, ten, 3);
    check_stage_ends(7, "[10, 50, 100]", NULL, seven, 3);
    check_stage_ends(10, "[10, 50, 90, 100]", "0.3", held, 4);
    check_stage_ends(100, "[1, 100]", NULL, hundred, 2);
}

static void test_tiers_follow_longest_chain(void **state)
{
    rg_manifest *m = synthetic(4, "[100]", NULL, 1);
    rg_resolution *r = NULL;
    (void)state;

    assert_int_equal(m->groups[3].tier, 3);
    assert_int_equal(rg_manifest_resolve(&r, m), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r->targets[i].tier, (int)i);
        assert_int_equal(r->targets[i].group_index, i);
    }
    rg_resolution_free(r);
    rg_manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_policy_is_decisions_md),
        cmocka_unit_test(test_policy_round_trip_and_dup),
        cmocka_unit_test(test_policy_name_refuses_traversal),
        cmocka_unit_test(test_resolution_orders_by_tier_and_renders),
        cmocka_unit_test(test_stage_coverage),
        cmocka_unit_test(test_tiers_follow_longest_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* verdict_inputs.h - the soak's decision path without the store: windows, control, verdict, rule
 *
 * engine/soak.c builds its verdicts and actions through these functions, and so does
 * bench/decision_quality, so that the study measures the engine's own decisions. */
#ifndef RG_ENGINE_VERDICT_INPUTS_H
#define RG_ENGINE_VERDICT_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "rollgate/policy.h"
#include "rollgate/stats.h"

/* The pre and post windows of a stage, aligned to the policy's granularity: pre is
 * [stage start - pre_window, stage start), post [applied + settle, now). */
typedef struct {
    int64_t pre_from, pre_to, post_from, post_to;
    double post_share; /* (post_to - post_from) / the post window's length at poll K */
} rg_soak_bounds;

void rg_engine__soak_bounds(rg_soak_bounds *out, const rg_policy *p, int64_t stage_started_ms,
                            int64_t stage_applied_ms, int64_t now_ms);

/* At the last stage (no later orgs), the pre window starts late enough for the earlier orgs
 * changed last (`latest_applied_ms`, plus settle) to be on the new configuration throughout,
 * when at least half the pre window remains; otherwise it is left as it is and only the
 * earlier orgs changed before it began are control. Canary and control share the window, so
 * a common trend still cancels. */
void rg_engine__last_stage_bounds(rg_soak_bounds *b, const rg_policy *p, int64_t latest_applied_ms);
/* When the last stage may start so that the orgs of earlier stages, the latest changed at
 * latest_applied_ms, are its control: their settle, then half a pre window on the new
 * configuration (the bound rg_engine__last_stage_bounds accepts); 0 when none changed. */
int64_t rg_engine__last_stage_ready_ms(const rg_policy *p, int64_t latest_applied_ms);

typedef enum { RG_SOAK_NONE = 0, RG_SOAK_CANARY = 1, RG_SOAK_CONTROL = 2 } rg_soak_role;

/* A target's part in the current stage's comparison. Canary: changed in this stage. Control:
 * a later stage's org (unchanged); at the last stage, when no later org exists, an org changed
 * in an earlier stage whose change was applied (plus settle) before the pre window began, so
 * that both its windows are on the new configuration and its change is the trend alone.
 * `changed`: the target's change was applied (not left unchanged). `any_later`: some target
 * belongs to a later stage. */
rg_soak_role rg_engine__soak_role(const rg_policy *p, int target_stage, int changed,
                                  int64_t applied_at_ms, int stage_index, int any_later,
                                  const rg_soak_bounds *b);

/* One metric's four windows with each cell's org (see rg_stats_metric_input.orgs). */
typedef struct {
    rg_stats_window canary_pre, canary_post, control_pre, control_post;
    const uint32_t *orgs[4]; /* canary_pre, canary_post, control_pre, control_post */
    int has_control;
} rg_verdict_windows;

/* Where the soak stands for one metric. */
typedef struct {
    int stage_index, stage_count;
    int poll, planned;
    double post_share;
    const double *fractions; /* this metric's information fractions at polls 1..poll-1 */
    double msprt_prev_p;     /* 1 at the first poll */
    rg_stats_cache *cache;   /* optional */
    /* 1: the verification after a restore, one fixed-sample look (poll 1 of 1) at the
     * policy's alpha with pooled variance and no control; the other fields but `cache` and
     * `msprt_prev_p` are unused. */
    int verification;
} rg_verdict_state;

/* The per-stage level: alpha / stage_count under alpha_split: stages, else alpha. */
double rg_engine__stage_alpha(const rg_policy *p, int stage_count);

/* The one builder of what a policy asks of a look (soak poll or verification, by
 * s->verification): the statistics' parameters and the metric's input over `w`. */
void rg_engine__verdict_params(rg_stats_verdict_params *out, const rg_policy *p,
                               const rg_verdict_state *s);
void rg_engine__metric_input(rg_stats_metric_input *out, const rg_policy_metric *m,
                             const rg_verdict_windows *w, const rg_verdict_state *s);

/* Judges one metric with the policy's statistics (the two builders above, then
 * rg_stats_verdict_compute). 0 or RG_E* (invalid input). */
int rg_engine__verdict(rg_stats_verdict *out, const rg_policy *p, const rg_policy_metric *m,
                       const rg_verdict_windows *w, const rg_verdict_state *s);

/* The fraction to remember for poll `poll` (observed information): the verdict's, or when it
 * had none the calendar's, kept above the previous poll's (`prev`, 0 at the first). */
double rg_engine__next_fraction(const rg_stats_verdict *v, double prev, int poll, int planned);

typedef enum {
    RG_POLL_CONTINUE = 0, /* soak on */
    RG_POLL_TRIP = 1,     /* roll back */
    RG_POLL_PROMOTE = 2,
    RG_POLL_HOLD = 3, /* wait for a person */
} rg_poll_action;

/* The promote / hold / trip rule for one poll's verdicts (one per policy metric, in order).
 * `streaks` holds each metric's consecutive fails before this poll and is updated. `why`
 * gets the reason for anything but CONTINUE. */
rg_poll_action rg_engine__poll_rule(char *why, size_t whylen, const rg_policy *p,
                                    const rg_stats_verdict *v, int64_t *streaks, int poll,
                                    int planned, int stage_index);

#endif

/* app.js - the rollgate dashboard (served from /app.js: the CSP allows script-src 'self').
 * Every text from the API is inserted with textContent, never as HTML. The token stays in
 * sessionStorage and is only ever sent as the Authorization header (of the API calls and
 * of the event stream, which is read with fetch because EventSource cannot send headers).
 * Updates come from the rollout's event stream; nothing polls. */
"use strict";
const KEY = "rollgate_token";
const SVGNS = "http://www.w3.org/2000/svg";
const ROLES = { viewer: 0, operator: 1, release: 2 };
const TERMINAL = ["completed", "rolled_back", "rollback_incomplete", "failed"];
/* What each action needs: the role, the states it applies in, and what it does. */
const ACTIONS = [
  { name: "approve", role: "release", states: ["awaiting_approval"],
    text: "Approve the rollout: the stage waiting for approval is applied to the platform." },
  { name: "pause", role: "operator", states: ["running"],
    text: "Pause the rollout: nothing more is applied until it is resumed." },
  { name: "resume", role: "operator", states: ["paused"],
    text: "Resume the rollout where it stopped." },
  { name: "promote", role: "release", states: ["running", "held"],
    text: "Promote to the next stage now: a held stage continues, a running one skips the " +
          "rest of its soak (forced)." },
  { name: "rollback", role: "operator", danger: true, needsReason: true,
    states: ["awaiting_approval", "running", "paused", "held"],
    text: "Roll back: every changed organization is restored to what it had before." },
  { name: "retry", role: "release", states: ["rolled_back"], noReason: true,
    text: "Retry: start a new rollout of the same recorded artifact, linked to this one. It " +
          "takes fresh snapshots and waits for approval." },
  { name: "undo", role: "operator", danger: true, needsReason: true, states: ["completed"],
    text: "Undo: every organization this completed rollout changed is restored from its " +
          "snapshot, then verified by telemetry." },
];
let selected = null, me = null, lastStatus = null, drive = null, drove = false;
let stream = null, refreshTimer = null;

function takeFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (params.get("token")) sessionStorage.setItem(KEY, params.get("token"));
  if (params.get("rollout")) selected = params.get("rollout");
  /* Test mode: take one action through the page's own buttons and dialog. Only with a
     token in the same fragment, so a link cannot act with a token the tab already holds. */
  if (params.get("drive") && params.get("token")) drive = { action: params.get("drive"), reason: params.get("reason") || "" };
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

function headers() { return { "Authorization": "Bearer " + sessionStorage.getItem(KEY) }; }

async function api(path, method, body) {
  const init = { headers: headers(), cache: "no-store", method: method || "GET" };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, init);
  if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin(); throw new Error("token refused"); }
  const doc = await r.json();
  if (!r.ok) throw new Error(doc && doc.error ? doc.error.message : ("HTTP " + r.status));
  return doc;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("app").hidden = true;
}

function clock(ms) {
  const d = new Date(ms);
  return [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    .map(n => String(n).padStart(2, "0")).join(":");
}

function fmt(v, digits) {
  if (typeof v !== "number" || !isFinite(v)) return "n/a";
  return Number(v.toPrecision(digits || 3)).toString();
}

/* ---- rollouts list ---- */

async function loadList() {
  const data = await api("/api/v1/rollouts");
  document.getElementById("tenant").textContent = "tenant " + data.tenant +
    (me ? " · " + me.name + " (" + me.role + ")" : "");
  const body = document.querySelector("#rollouts tbody");
  body.replaceChildren();
  if (!selected && data.rollouts.length) selected = data.rollouts[data.rollouts.length - 1].id;
  for (const r of data.rollouts) {
    const tr = el("tr", null, "rollout" + (r.id === selected ? " selected" : ""));
    tr.dataset.id = r.id;
    tr.tabIndex = 0;
    tr.setAttribute("aria-label", "rollout " + r.name + ", " + r.state);
    tr.append(el("td", r.name), el("td", r.state, "state"), el("td", r.percent + "%"));
    const pick = () => { selected = r.id; openStream(); refresh(); };
    tr.addEventListener("click", pick);
    tr.addEventListener("keydown", ev => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); } });
    body.append(tr);
  }
}

/* ---- the story: verdict, soak, plan, stages, targets ---- */

function drawStages(st) {
  const box = document.getElementById("d-stages");
  box.replaceChildren();
  for (let i = 0; i < st.stage.count; i++) {
    const done = i < st.stage.index || st.state === "completed";
    const cur = i === st.stage.index && !done;
    const e = el("div", "stage " + (i + 1) + (cur ? " · " + st.stage.percent + "% · now" : done ? " ✓ done" : ""),
                 done ? "stage done" : cur ? "stage current" : "stage");
    box.append(e);
  }
}

function drawTargets(st) {
  const body = document.querySelector("#targets tbody");
  body.replaceChildren();
  for (const t of st.targets) {
    const tr = el("tr");
    tr.className = "target";
    tr.append(el("td", t.org), el("td", t.group), el("td", t.tier), el("td", t.stage + 1),
              el("td", t.state, "state"), el("td", t.last_error || ""));
    body.append(tr);
  }
}

/* The current verdict per metric, in the words `rollgate explain` prints. */
function drawVerdict(st) {
  const p = document.getElementById("d-verdict");
  p.replaceChildren();
  const last = st.last_verdicts || [];
  if (!last.length) { p.textContent = "no verdict yet"; return; }
  for (const v of last) {
    const sym = v.decision === "pass" ? "● " : v.decision === "fail" ? "✖ " : "○ ";
    const cls = v.decision === "pass" ? "pass" : v.decision === "fail" ? "fail" : "inc";
    const line = el("span", sym + "stage " + (v.stage + 1) + " poll " + v.poll + "  " + v.metric +
      "  " + v.decision + (v.reason ? ": " + v.reason : ""), cls);
    line.dataset.decision = v.decision;
    p.append(line, el("br"));
  }
}

function drawSoak(st) {
  const p = document.getElementById("d-soak"), bar = document.getElementById("soak-bar");
  const fill = document.getElementById("soak-fill");
  const s = st.soak;
  if (!s) { p.textContent = st.state === "running" ? "" : ""; bar.hidden = true; return; }
  p.textContent = "soaking: poll " + s.poll + " of " + s.planned + ", " +
    Math.round(s.left_ms / 1000) + " s left in the window";
  const tenth = s.planned ? Math.min(10, Math.round(10 * s.poll / s.planned)) : 0;
  fill.className = "w" + (tenth * 10);
  bar.hidden = false;
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", String(s.planned));
  bar.setAttribute("aria-valuenow", String(s.poll));
  bar.setAttribute("aria-label", "soak progress");
}

/* The planner's numbers as recorded at start (status "planner"): per stage and metric the
 * expected half-width at the soak's end, the MDE, P(promote | healthy) and P(trip | 1.5 x
 * tolerance), and why a stage cannot decide. Each number cell keeps the API's value in
 * data-value; the current stage's rows are marked in words (aria-current), not only by colour. */
function planValue(v, unit) {
  if (typeof v !== "number" || !isFinite(v)) return "n/a";
  if (unit === "seconds") return fmt(v, 3) + " s";
  return fmt(v * 100, 3) + (unit === "relative" ? " %" : " pp");
}

function planCell(v, text) {
  const td = el("td", text, "num");
  td.dataset.value = typeof v === "number" ? String(v) : "null";
  return td;
}

function drawPlan(st) {
  const box = document.getElementById("d-plan");
  const plan = st.planner;
  box.replaceChildren();
  if (!plan || typeof plan !== "object") { box.hidden = true; return; }
  box.hidden = false;
  if (typeof plan.error === "string") {
    box.append(el("p", "planner: not planned at start: " + plan.error, "muted plan-note"));
    return;
  }
  const t = el("table", null, "plan");
  t.id = "plan-table";
  const cap = el("caption", "planned at start from the last " + fmt(plan.analytics_minutes, 3) +
                 " minutes of traffic", "plan-note");
  const head = el("tr");
  for (const h of ["stage", "metric", "half-width", "MDE", "P(promote | healthy)",
                   "P(trip | 1.5× tolerance)", "warning"])
    head.append(el("th", h));
  const thead = el("thead"), tbody = el("tbody");
  thead.append(head);
  for (const stage of plan.stages || []) {
    const cur = stage.stage - 1 === st.stage.index && st.outcome === "running";
    const metrics = stage.metrics && stage.metrics.length ? stage.metrics : [null];
    for (const m of metrics) {
      const tr = el("tr", null, cur ? "plan-row current" : "plan-row");
      tr.dataset.stage = String(stage.stage);
      if (m) tr.dataset.metric = m.name;
      if (cur) tr.setAttribute("aria-current", "step");
      tr.append(el("td", "stage " + stage.stage + " (" + stage.percent + "%)" + (cur ? " · now" : "")));
      if (m) {
        tr.append(el("td", m.name),
                  planCell(m.half_width, planValue(m.half_width, m.unit)),
                  planCell(m.mde, planValue(m.mde, m.unit)),
                  planCell(stage.p_promote, fmt(stage.p_promote * 100, 3) + " %"),
                  planCell(m.p_trip_1_5, fmt(m.p_trip_1_5 * 100, 3) + " %"));
      } else {
        tr.append(el("td", "–"), el("td", "–"), el("td", "–"), el("td", "–"), el("td", "–"));
      }
      const warn = stage.error ? stage.error
        : (m ? m.cannot_decide : stage.cannot_decide) ? "cannot decide within its soak limit" : "";
      tr.append(el("td", warn, warn ? "fail plan-warning" : ""));
      tbody.append(tr);
    }
  }
  t.append(cap, thead, tbody);
  box.append(t);
  for (const w of plan.warnings || []) box.append(el("p", "warning: " + w, "fail plan-warning"));
}

/* ---- actions ---- */

function drawActions(st) {
  const box = document.getElementById("actions");
  box.replaceChildren();
  if (!me) return;
  for (const a of ACTIONS) {
    if (ROLES[me.role] < ROLES[a.role] || !a.states.includes(st.state)) continue;
    const b = el("button", a.name, a.danger ? "action danger" : "action");
    b.type = "button";
    b.dataset.action = a.name;
    b.setAttribute("aria-label", a.name + " rollout " + st.name);
    b.addEventListener("click", () => ask(a, st));
    box.append(b);
  }
  box.dataset.count = String(box.children.length);
}

/* An in-page dialog: what the action does, a reason (required for a rollback), confirm. */
function ask(a, st) {
  const dlg = document.getElementById("confirm");
  const reason = document.getElementById("confirm-reason");
  const err = document.getElementById("confirm-error");
  document.getElementById("confirm-title").textContent = a.name + " " + st.name + "?";
  document.getElementById("confirm-text").textContent = a.text;
  document.getElementById("confirm-required").textContent =
    a.needsReason ? "(required)" : a.noReason ? "(not recorded)" : "(optional)";
  reason.setAttribute("aria-required", a.needsReason ? "true" : "false");
  reason.value = "";
  err.textContent = "";
  document.getElementById("confirm-ok").textContent = a.name;
  dlg.dataset.action = a.name;
  dlg.dataset.rollout = st.id;
  dlg.dataset.state = st.state;
  dlg.showModal();
  reason.focus();
}

async function confirmed(ev) {
  ev.preventDefault();
  const dlg = document.getElementById("confirm");
  const reason = document.getElementById("confirm-reason").value.trim();
  const action = ACTIONS.find(a => a.name === dlg.dataset.action);
  if (action.needsReason && !reason) {
    document.getElementById("confirm-error").textContent = "A " + action.name + " needs a reason.";
    return;
  }
  const out = document.getElementById("action-result");
  const body = reason && !action.noReason ? { reason } : {};
  if (action.name === "promote" && dlg.dataset.state === "running") body.force = true;
  try {
    const r = await api("/api/v1/rollouts/" + encodeURIComponent(dlg.dataset.rollout) + "/" +
                        action.name, "POST", body);
    /* a retry answers with the new rollout, which the page then shows */
    const outcome = r.outcome ||
      (r.id && r.id !== dlg.dataset.rollout ? "started " + r.id : "done");
    out.textContent = action.name + ": " + outcome + ", now " + r.state;
    out.dataset.outcome = r.outcome || "done";
    if (action.name === "retry" && r.id) selected = r.id;
    dlg.close();
  } catch (e) {
    document.getElementById("confirm-error").textContent = e.message;
    out.textContent = action.name + " refused: " + e.message;
    out.dataset.outcome = "error";
    if (drive) dlg.close();
  }
  document.body.dataset.action = action.name;
  document.body.dataset.actionOutcome = out.dataset.outcome;
  scheduleRefresh();
}

/* Test mode (#drive=ACTION&reason=TEXT): press the button, fill the dialog, confirm, as a
 * person would; the test then reads the outcome from the API, not from the page. */
function driveOnce() {
  if (!drive || drove) return;
  drove = true;
  const b = document.querySelector('button[data-action="' + CSS.escape(drive.action) + '"]');
  if (!b) { document.body.dataset.actionOutcome = "no-button"; return; }
  b.click();
  document.getElementById("confirm-reason").value = drive.reason;
  document.getElementById("confirm-ok").click();
}

/* ---- charts ---- */

/* How a metric's verdict numbers are shown: relative changes and proportions in %,
 * mean durations in seconds. */
function unitOf(metric) {
  const tol = metric.tolerance || {};
  if (typeof tol.relative === "number") return { mul: 100, unit: "%", label: "change vs control (%)" };
  if (metric.kind === "mean") return { mul: 1, unit: " s", label: "difference vs control (s)" };
  return { mul: 100, unit: " pp", label: "difference vs control (percentage points)" };
}

function durationSeconds(text) {
  const m = /^([0-9.]+)(ms|s|m|h)$/.exec(String(text));
  if (!m) return NaN;
  return parseFloat(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

/* The tolerance on the scale the verdicts are reported in. */
function toleranceOf(metric) {
  const tol = metric.tolerance || {};
  const sign = metric.increase_is_bad === false ? -1 : 1;
  if (typeof tol.relative === "number") return sign * tol.relative;
  if (typeof tol.absolute === "string") return sign * durationSeconds(tol.absolute);
  if (typeof tol.absolute === "number")
    return sign * (metric.kind === "mean" ? tol.absolute / 1000 : tol.absolute);
  return NaN;
}

function niceTicks(lo, hi, n) {
  const span = hi - lo, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(k => k * mag).find(s => span / s <= n) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/* x: clock time over the polls' span; stages drawn as labelled segments behind. */
function timeAxis(s, points, L, R, T, B, W, H) {
  const ts = points.map(p => p.at).filter(isFinite);
  let t0 = Math.min(...ts), t1 = Math.max(...ts);
  if (!ts.length) { t0 = Date.now() - 60000; t1 = Date.now(); }
  if (t1 - t0 < 10000) { t0 -= 5000; t1 += 5000; }
  const pad = (t1 - t0) * 0.04; t0 -= pad; t1 += pad;
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0);
  const stages = [...new Set(points.map(p => p.stage))].sort((a, b) => a - b);
  stages.forEach((st, i) => {
    const mine = points.filter(p => p.stage === st).map(p => p.at);
    const a = i === 0 ? t0 : (Math.min(...mine) + Math.max(...points.filter(p => p.stage === stages[i - 1]).map(p => p.at))) / 2;
    const next = stages[i + 1];
    const b = next === undefined ? t1
      : (Math.max(...mine) + Math.min(...points.filter(p => p.stage === next).map(p => p.at))) / 2;
    s.append(svg("rect", { x: x(a), y: T, width: Math.max(0, x(b) - x(a)), height: H - T - B,
                           fill: i % 2 ? "#f3f4f8" : "#fafbfd", class: "stage-segment" }));
    if (i > 0) s.append(svg("line", { x1: x(a), x2: x(a), y1: T, y2: H - B, stroke: "#98a2b3", "stroke-dasharray": "2 3" }));
    s.append(svg("text", { x: x(a) + 4, y: T + 11, "font-size": 10, fill: "#475467", class: "stage-label" },
                 "stage " + (st + 1)));
  });
  const span = t1 - t0, steps = [5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].map(k => k * 1000);
  const step = steps.find(k => span / k <= 5) || 7200000;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    s.append(svg("line", { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, stroke: "#667085" }));
    s.append(svg("text", { x: x(t), y: H - B + 15, "font-size": 10, fill: "#475467",
                           "text-anchor": "middle", class: "time-tick" }, clock(t)));
  }
  s.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#667085" }));
  s.append(svg("text", { x: W - R, y: H - 4, "font-size": 10, fill: "#475467", "text-anchor": "end" },
               "time (UTC)"));
  return x;
}

function yAxis(s, lo, hi, u, L, R, T, B, W, H) {
  const y = v => T + (H - T - B) * (hi - v) / (hi - lo);
  for (const v of niceTicks(lo, hi, 5)) {
    s.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: v === 0 ? "#667085" : "#eaecf0" }));
    s.append(svg("text", { x: L - 4, y: y(v) + 3, "font-size": 10, fill: "#475467", "text-anchor": "end",
                           class: "y-tick" }, fmt(v * u.mul) + u.unit));
  }
  const lab = svg("text", { x: 10, y: T + (H - T - B) / 2, "font-size": 10, fill: "#475467",
                            "text-anchor": "middle", transform: "rotate(-90 10 " + (T + (H - T - B) / 2) + ")" }, u.label);
  s.append(lab);
  return y;
}

function mark(s, cx, cy, decision, tip) {
  let m;
  if (decision === "fail") {
    m = svg("path", { d: "M" + (cx - 4) + " " + (cy - 4) + " L" + (cx + 4) + " " + (cy + 4) + " M" + (cx + 4) + " " +
                      (cy - 4) + " L" + (cx - 4) + " " + (cy + 4), stroke: "#c62828", "stroke-width": 2.5 });
  } else if (decision === "pass") {
    m = svg("circle", { cx, cy, r: 4, fill: "#1a7f37" });
  } else {
    m = svg("circle", { cx, cy, r: 4, fill: "#fff", stroke: "#6b7280", "stroke-width": 1.5 });
  }
  m.setAttribute("class", "point decision-" + decision);
  m.setAttribute("tabindex", "0");
  m.setAttribute("aria-label", tip);
  m.append(svg("title", {}, tip));
  s.append(m);
}

function drawChart(metric, points) {
  const W = 480, H = 260, L = 64, R = 12, T = 24, B = 34;
  const u = unitOf(metric), tol = toleranceOf(metric);
  const s = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", "data-metric": metric.name,
                         role: "group", "aria-label": metric.name + ": estimated change per poll" });
  s.append(svg("text", { x: L, y: 15, "font-size": 13, "font-weight": 600 }, metric.name));
  /* The range always holds 0 and the tolerance with room either side, so a tiny spread of
     estimates is drawn small against the band rather than blown up to the chart's height. */
  const ys = [0];
  if (isFinite(tol)) ys.push(tol * 1.3, -tol * 0.6);
  for (const p of points) for (const v of [p.estimate, p.ci[0], p.ci[1]]) if (isFinite(v)) ys.push(v);
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
  const x = timeAxis(s, points, L, R, T, B, W, H);
  const y = yAxis(s, lo, hi, u, L, R, T, B, W, H);
  if (isFinite(tol)) {
    const a = Math.min(0, tol), b = Math.max(0, tol);
    s.append(svg("rect", { x: L, y: y(b), width: W - L - R, height: y(a) - y(b), fill: "#1a7f37",
                           "fill-opacity": 0.12, class: "tolerance-band" }));
    s.append(svg("line", { x1: L, x2: W - R, y1: y(tol), y2: y(tol), stroke: "#c62828",
                           "stroke-dasharray": "5 4", class: "tolerance" }));
    s.append(svg("text", { x: W - R - 2, y: y(tol) - 3, "font-size": 10, fill: "#c62828", "text-anchor": "end" },
                 "tolerance " + fmt(tol * u.mul) + u.unit));
  }
  let path = "";
  points.forEach(p => {
    if (!isFinite(p.at)) return;
    if (isFinite(p.ci[0]) && isFinite(p.ci[1]))
      s.append(svg("line", { x1: x(p.at), x2: x(p.at), y1: y(Math.min(hi, p.ci[0])), y2: y(Math.max(lo, p.ci[1])),
                             stroke: "#9bb7f0", "stroke-width": 5, class: "interval" }));
    if (isFinite(p.estimate)) path += (path ? " L" : "M") + x(p.at).toFixed(1) + " " + y(p.estimate).toFixed(1);
  });
  if (path) s.append(svg("path", { d: path, fill: "none", stroke: "#2f5bd3" }));
  points.forEach(p => {
    if (!isFinite(p.estimate) || !isFinite(p.at)) return;
    const tip = clock(p.at) + " stage " + (p.stage + 1) + " poll " + p.poll + ": estimate " +
      fmt(p.estimate * u.mul) + u.unit + ", interval [" + fmt(p.ci[0] * u.mul) + ", " + fmt(p.ci[1] * u.mul) +
      "]" + u.unit + ", z " + fmt(p.z) + ", boundary " + fmt(p.boundary) + ", " + p.decision +
      (p.reason ? " - " + p.reason : "");
    mark(s, x(p.at), y(p.estimate), p.decision, tip);
  });
  return s;
}

function num(v) { return typeof v === "number" ? v : NaN; }

/* Canary against control per poll, on the metric's own scale (a rate in %, or seconds). */
function drawLevels(metric, points) {
  const W = 480, H = 220, L = 64, R = 12, T = 24, B = 34;
  const u = metric.kind === "mean" ? { mul: 1, unit: " s", label: "level (s)" } : { mul: 100, unit: "%", label: "level (%)" };
  const series = [["canary_post", "#2f5bd3", ""], ["control_post", "#6b7280", ""], ["canary_pre", "#2f5bd3", "4 4"]];
  const ys = [];
  for (const p of points) for (const [k] of series) if (isFinite(p.levels[k])) ys.push(p.levels[k]);
  if (!ys.length) return null;
  const s = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "levels", "data-metric": metric.name,
                         role: "img", "aria-label": metric.name + ": canary and control levels" });
  s.append(svg("text", { x: L, y: 15, "font-size": 13, "font-weight": 600 }, metric.name + ": canary vs control"));
  let lo = Math.min(0, ...ys), hi = Math.max(...ys);
  if (hi - lo < 1e-9) { hi += 1e-3; lo -= 1e-3; }
  hi += (hi - lo) * 0.08;
  const x = timeAxis(s, points, L, R, T, B, W, H);
  const y = yAxis(s, lo, hi, u, L, R, T, B, W, H);
  for (const [k, colour, dash] of series) {
    let path = "";
    points.forEach(p => {
      if (isFinite(p.levels[k]) && isFinite(p.at)) path += (path ? " L" : "M") + x(p.at).toFixed(1) + " " + y(p.levels[k]).toFixed(1);
    });
    if (path) s.append(svg("path", { d: path, fill: "none", stroke: colour, "stroke-dasharray": dash, class: "level-" + k }));
  }
  points.forEach(p => {
    if (!isFinite(p.at)) return;
    if (isFinite(p.levels.control_post))
      s.append(svg("rect", { x: x(p.at) - 3, y: y(p.levels.control_post) - 3, width: 6, height: 6, fill: "#6b7280" }));
    if (isFinite(p.levels.canary_post))
      s.append(svg("circle", { cx: x(p.at), cy: y(p.levels.canary_post), r: 3.5, fill: "#2f5bd3", class: "level-point" }));
  });
  s.append(svg("text", { x: L, y: H - 4, "font-size": 10, fill: "#475467" },
               "● canary  ■ control  ┄ canary before"));
  return s;
}

function drawCharts(v) {
  const box = document.getElementById("charts");
  box.replaceChildren();
  const metrics = (v.metrics && v.metrics.length) ? v.metrics
    : [...new Set(v.verdicts.map(x => x.metric))].map(name => ({ name }));
  for (const m of metrics) {
    const points = v.verdicts.filter(x => x.metric === m.name).map(x => ({
      stage: x.stage, poll: x.poll, decision: x.decision, reason: x.reason, at: Date.parse(x.at),
      estimate: num(x.estimate), ci: [num(x.ci[0]), num(x.ci[1])], z: num(x.z), boundary: num(x.boundary),
      levels: Object.fromEntries(["canary_pre", "canary_post", "control_pre", "control_post"]
        .map(k => [k, num((x.levels || {})[k])])) }));
    box.append(drawChart(m, points));
    const lv = drawLevels(m, points);
    if (lv) box.append(lv);
  }
  box.dataset.count = String(metrics.length);
}

/* ---- timeline: events, polls, commands and webhook deliveries, by time ---- */

function detailText(d) {
  if (!d || typeof d !== "object") return "";
  if (typeof d.reason === "string") return d.reason;
  return Object.entries(d).filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => k + " " + v).join(", ");
}

function drawTimeline(v, audit) {
  const rows = [];
  for (const e of v.events) {
    if (e.kind === "levels") continue;
    const text = e.kind === "state" ? (e.from || "") + " → " + (e.to || "") +
      (detailText(e.detail) ? ": " + detailText(e.detail) : "") : detailText(e.detail);
    rows.push({ at: e.at, kind: e.kind, text });
  }
  const polls = new Map();
  for (const x of v.verdicts) {
    const k = x.stage + "/" + x.poll;
    if (!polls.has(k)) polls.set(k, { at: x.at, kind: "poll", parts: [], stage: x.stage, poll: x.poll });
    polls.get(k).parts.push(x.metric + " " + x.decision);
  }
  for (const p of polls.values())
    rows.push({ at: p.at, kind: "poll", text: "stage " + (p.stage + 1) + " poll " + p.poll + ": " + p.parts.join(", ") });
  for (const a of audit) {
    if (a.action === "webhook")
      rows.push({ at: a.at, kind: "webhook", text: (a.reason || "") + ": " + (a.outcome || "") });
    else
      rows.push({ at: a.at, kind: "command", text: a.action + " by " + a.actor +
        (a.reason ? ", reason: " + a.reason : "") + (a.outcome ? " (" + a.outcome + ")" : "") });
  }
  rows.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const ol = document.getElementById("timeline");
  ol.replaceChildren();
  for (const r of rows) {
    const li = el("li", null, r.kind);
    li.dataset.kind = r.kind;
    li.append(el("span", r.at ? clock(Date.parse(r.at)) : "", "at"), el("span", r.kind, "kind"), el("span", r.text, "text"));
    ol.append(li);
  }
  ol.dataset.count = String(rows.length);
}

/* ---- refresh, live stream ---- */

async function refresh() {
  try {
    if (!me) me = await api("/api/v1/whoami");
    await loadList();
    if (selected) {
      const base = "/api/v1/rollouts/" + encodeURIComponent(selected);
      const [st, v, au] = await Promise.all([api(base), api(base + "/verdicts"), api(base + "/audit")]);
      lastStatus = st;
      document.getElementById("d-title").textContent = st.name + " (" + st.id + ")";
      document.getElementById("d-meta").textContent = "state " + st.state + ", stage " +
        (st.stage.index + 1) + "/" + st.stage.count + " (" + st.stage.percent + "%)" +
        (st.verification ? ", verification " + st.verification : "") +
        (st.hold_reason ? ", waiting for a person: " + st.hold_reason : "");
      drawVerdict(st);
      drawSoak(st);
      drawPlan(st);
      drawActions(st);
      drawStages(st);
      drawTargets(st);
      drawCharts(v);
      drawTimeline(v, au.audit);
      if (!stream) openStream();
    }
    document.getElementById("error").textContent = "";
    document.body.dataset.loaded = "1";
    if (drive && !drove) driveOnce();
  } catch (e) {
    document.getElementById("error").textContent = e.message;
  }
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

/* The rollout's Server-Sent Events, read with fetch (for the Authorization header); every
 * event or verdict redraws. Reconnects with Last-Event-ID after a drop; ends with the
 * rollout. */
async function openStream() {
  if (stream) stream.abort();
  if (!selected || (lastStatus && lastStatus.id === selected && TERMINAL.includes(lastStatus.state))) {
    stream = null; document.getElementById("live").textContent = ""; return;
  }
  const ctl = new AbortController(), id = selected;
  stream = ctl;
  let lastId = null;
  const live = document.getElementById("live");
  for (let attempt = 0; attempt < 20 && stream === ctl; attempt++) {
    try {
      const h = headers();
      if (lastId) h["Last-Event-ID"] = lastId;
      const r = await fetch("/api/v1/rollouts/" + encodeURIComponent(id) + "/events",
                            { headers: h, cache: "no-store", signal: ctl.signal });
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      live.textContent = "● live";
      const reader = r.body.getReader(), dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const msg = buf.slice(0, i); buf = buf.slice(i + 2);
          const m = /^id: (\d+)$/m.exec(msg);
          if (m) lastId = m[1];
          if (/^event: /m.test(msg)) scheduleRefresh();
        }
      }
      live.textContent = "";
      scheduleRefresh();
      if (lastStatus && TERMINAL.includes(lastStatus.state)) break;
    } catch (e) {
      if (ctl.signal.aborted) return;
      live.textContent = "○ reconnecting";
    }
    await new Promise(ok => setTimeout(ok, 2000));
  }
  if (stream === ctl) stream = null;
}

function start() {
  if (!sessionStorage.getItem(KEY)) { showLogin(); return; }
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("token-input").value.trim());
    me = null;
    start();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    if (stream) stream.abort();
    stream = null; me = null;
    showLogin();
  });
  document.getElementById("confirm-form").addEventListener("submit", confirmed);
  document.getElementById("confirm-cancel").addEventListener("click", () => document.getElementById("confirm").close());
  takeFragment();
  start();
});

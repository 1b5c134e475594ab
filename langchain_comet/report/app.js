// langchain-comet report: renders the archive data embedded in this page. No network, no
// libraries. Every text from the archive reaches the page through textContent, never HTML.
// Long lists (traces, runs, table rows) are windowed so 10,000 runs stay responsive.
"use strict";

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const RUNS = DATA.runs;
const TRACES = DATA.traces;
const RUN_INDEX = new Map(RUNS.map((run, i) => [run.id, i]));
const TRACE_ROW_HEIGHT = 54;
const RUN_ROW_HEIGHT = 30;
const PAGE_SIZE = 100;

// -- small helpers ---------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "–";
  if (ms >= 60000) return (ms / 60000).toFixed(1) + " min";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (ms >= 10) return ms.toFixed(0) + " ms";
  if (ms >= 1) return ms.toFixed(1) + " ms";
  return ms.toFixed(2) + " ms";
}

// "1 run", "2 runs", "1,000 runs".
function fmtCount(n, noun) {
  return fmtNum(n) + " " + noun + (n === 1 ? "" : "s");
}

function fmtNum(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e6)) return value.toExponential(3);
  return value.toLocaleString("en-US", { maximumSignificantDigits: 4 });
}

// Dollars with enough digits for one call's fraction of a cent; null is an unknown price.
function fmtUsd(value) {
  if (value === null || value === undefined) return "price unknown";
  if (value === 0 || value >= 1) return "$" + value.toFixed(2);
  if (value < 0.000001) return "<$0.000001";
  return "$" + value.toFixed(6).replace(/0+$/, "");
}

// Milliseconds since the epoch of an ISO time, keeping its microseconds (Date.parse drops them).
function isoMs(iso) {
  if (!iso) return NaN;
  const match = /\.(\d+)/.exec(iso);
  const fraction = match ? Number("0." + match[1]) * 1000 : 0;
  return Date.parse(iso.replace(/\.\d+/, "")) + fraction;
}

function fmtTime(iso) {
  if (!iso) return "–";
  const match = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(iso);
  return match ? match[1] : iso;
}

// A run or trace id short enough to show, different for each trace: LangChain's uuid7 ids
// begin with a millisecond clock (the same first digits for a minute), end with random ones.
function shortId(id) {
  const text = String(id);
  return text.length > 8 ? "…" + text.slice(-8) : text;
}

// Why calls have no cost: no token usage reported (no price can help), or no price known.
function unpricedText(cost) {
  const all = cost.priced_calls + cost.unpriced_calls;
  const unknown = cost.unpriced_calls - (cost.unreported_calls || 0);
  const parts = [];
  if (cost.unreported_calls) parts.push(cost.unreported_calls + " of " + all + " calls: no token usage");
  if (unknown) parts.push(unknown + " of " + all + " calls: price unknown");
  return parts.join(" · ");
}

function typeBadge(type) {
  return el("span", { class: "badge t-" + String(type).replace(/[^a-z_]/gi, ""), text: type || "?" });
}

// A LangGraph node's own run is labelled "node"; everything else by its run type.
function runBadge(run) {
  return run.is_node ? el("span", { class: "badge t-node", text: "node", title: "LangGraph node, step " + run.graph_step }) : typeBadge(run.type);
}

// What paused or redirected a run (LangGraph's interrupt(), a Command handoff), in one line.
function interruptText(run) {
  const info = run.interrupt;
  if (!info || typeof info !== "object") return "interrupted";
  const compact = (value) => typeof value === "string" ? value : JSON.stringify(value);
  if (info.kind === "interrupt") {
    const values = info.values || [];
    return "interrupt: " + compact(values.length === 1 ? values[0] : values);
  }
  if (info.kind === "handoff") return "handoff → " + compact(info.goto);
  return (info.type || "control flow") + ": " + (info.message || "");
}

function feedbackText(item) {
  const value = typeof item.value === "boolean" ? String(item.value) : fmtNum(item.value);
  return item.name + "=" + value + (item.comment ? " “" + item.comment + "”" : "");
}

function statusPill(status) {
  return el("span", { class: "status " + status, text: status || "?" });
}

// A function called at most once per animation frame, for scroll handlers.
function perFrame(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fn(); });
  };
}

// -- virtual list ----------------------------------------------------------------------------

// Renders only the rows in view (plus a margin) of a list of fixed-height rows.
class VirtualList {
  constructor(container, rowHeight, renderRow) {
    this.container = container;
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.items = [];
    this.inner = el("div", { class: "vlist-inner" });
    container.replaceChildren(this.inner);
    container.addEventListener("scroll", perFrame(() => this.draw()));
    new ResizeObserver(perFrame(() => this.draw())).observe(container);
  }

  setItems(items) {
    this.items = items;
    this.inner.style.height = items.length * this.rowHeight + "px";
    this.draw(true);
  }

  draw(force) {
    const top = this.container.scrollTop;
    const height = this.container.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - 8);
    const last = Math.min(this.items.length, Math.ceil((top + height) / this.rowHeight) + 8);
    if (!force && first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const rows = [];
    for (let i = first; i < last; i++) {
      const row = this.renderRow(this.items[i], i);
      row.classList.add("vrow");
      row.style.top = i * this.rowHeight + "px";
      rows.push(row);
    }
    this.inner.replaceChildren(...rows);
  }

  scrollToIndex(index) {
    const top = index * this.rowHeight;
    const view = this.container.clientHeight;
    if (top < this.container.scrollTop || top + this.rowHeight > this.container.scrollTop + view) {
      this.container.scrollTop = Math.max(0, top - view / 3);
    }
    this.draw(true);
  }
}

// -- header ------------------------------------------------------------------------------------

function renderHeader() {
  const exp = DATA.experiment;
  const ov = DATA.overview;
  document.getElementById("experiment-name").textContent = exp.name || exp.id;
  const chips = [
    ["project", exp.project || "–"],
    ["archive", exp.archive],
    ...(exp.tags.length ? [["tags", exp.tags.join(", ")]] : []),
    ...(exp.created_from ? [["created from", exp.created_from]] : []),
  ];
  document.getElementById("experiment-chips").replaceChildren(
    ...chips.map(([key, value]) => el("span", { class: "chip" }, key + " ", el("b", { text: value }))));

  const tokens = ov.tokens || {};
  const kpi = (label, value, sub, bad) =>
    el("div", { class: "kpi" + (bad ? " bad" : "") },
      el("div", { class: "label", text: label }),
      el("div", { class: "value", text: value }),
      sub ? el("div", { class: "sub", text: sub }) : null);
  const cards = [];
  if (ov.has_run_tree) {
    cards.push(kpi("Traces", fmtNum(ov.traces), fmtCount(ov.runs, "run")));
  }
  cards.push(kpi("LLM calls", fmtNum(ov.llm_calls), fmtCount(ov.generations, "generation")));
  cards.push(kpi("Errors", fmtNum(ov.errors), ov.errors ? "see the Errors tab" : "none", ov.errors > 0));
  if (ov.interrupted) {
    cards.push(kpi("Interrupted", fmtNum(ov.interrupted), "runs paused or handed off (not errors)"));
  }
  cards.push(ov.calls_with_usage
    ? kpi("Tokens", fmtNum(tokens.total_tokens || 0),
      fmtNum(tokens.prompt_tokens || 0) + " prompt · " + fmtNum(tokens.completion_tokens || 0) + " completion")
    : kpi("Tokens", "–", "none reported"));
  if (ov.cost.recorded) {
    cards.push(kpi("Cost", ov.cost.total === null ? "–" : fmtUsd(ov.cost.total),
      ov.cost.unpriced_calls ? unpricedText(ov.cost) : ov.cost.priced_calls + " calls priced"));
  }
  if (ov.llm_latency.count) {
    cards.push(kpi("LLM latency p50", fmtMs(ov.llm_latency.p50),
      "p95 " + fmtMs(ov.llm_latency.p95) + " · max " + fmtMs(ov.llm_latency.max)));
  }
  if (ov.trace_latency.count) {
    cards.push(kpi("Trace latency p50", fmtMs(ov.trace_latency.p50),
      "p95 " + fmtMs(ov.trace_latency.p95) + " · max " + fmtMs(ov.trace_latency.max)));
  }
  document.getElementById("kpis").replaceChildren(...cards);
}

// -- tabs --------------------------------------------------------------------------------------

const TABS = [
  { id: "traces", label: "Traces", count: () => DATA.overview.traces },
  { id: "table", label: "Session table", count: () => DATA.table.rows.length },
  { id: "actions", label: "Action records", count: () => DATA.actions ? DATA.actions.rows.length : 0, when: () => DATA.actions },
  { id: "models", label: "Cost by model", count: () => DATA.overview.cost.by_model.rows.length, when: () => DATA.overview.cost.recorded },
  { id: "metrics", label: "Metrics", count: () => DATA.metrics.length },
  { id: "visualizations", label: "Visualizations", count: () => DATA.visualizations.total },
  { id: "feedback", label: "Feedback", count: () => DATA.feedback.table.rows.length, when: () => DATA.feedback.table.rows.length },
  { id: "graph", label: "Graph", count: () => DATA.graph.structure.nodes.length, when: () => DATA.graph },
  { id: "errors", label: "Errors", count: () => DATA.overview.errors, bad: true },
];
const rendered = new Set();
const renderers = {};

function renderTabs() {
  const nav = document.getElementById("tabs");
  for (const tab of TABS) {
    if (tab.when && !tab.when()) continue;
    const count = tab.count();
    nav.append(el("button", {
      class: "tab", role: "tab", id: "tab-button-" + tab.id, "data-tab": tab.id,
      onclick: () => showTab(tab.id),
    }, tab.label, el("span", { class: "count" + (tab.bad && count ? " bad" : ""), text: fmtNum(count) })));
  }
}

function showTab(id) {
  for (const button of document.querySelectorAll(".tab")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === id));
  }
  for (const panel of document.querySelectorAll(".tab-panel")) {
    panel.hidden = panel.id !== "tab-" + id;
  }
  if (!rendered.has(id) && renderers[id]) {
    rendered.add(id);
    renderers[id](document.getElementById("tab-" + id));
  }
}

// -- traces and waterfall -----------------------------------------------------------------------

const state = { traceIndex: -1, runId: null, collapsed: new Set(), traceList: null, waterfall: null, showHidden: false };

function traceRoot(trace) { return RUNS[trace.start]; }

// A resumed LangGraph trace is several segments (interrupt, wait, resume...): its last root
// says where it stands now.
function segmentRoots(trace) { return (trace.segments || [trace.start]).map((i) => RUNS[i]); }
function traceStatus(trace) {
  if (trace.errors) return "error";
  const roots = segmentRoots(trace);
  return roots[roots.length - 1].status;
}
// The segments' latencies summed (never the waits between them); unknown (null) while a
// segment has none: a run still open when its process ended.
function traceLatency(trace) {
  const roots = segmentRoots(trace);
  if (roots.some((root) => root.latency === null || root.latency === undefined)) return null;
  return roots.reduce((sum, root) => sum + root.latency, 0);
}

function renderTraces(panel) {
  if (!DATA.overview.has_run_tree) {
    panel.replaceChildren(
      el("div", { class: "notice warn", style: "margin: 16px 20px" },
        el("b", { text: "No run tree in this archive. " }),
        "It has no langchain-runs.jsonl: it was not written by langchain-comet (probably by " +
        "langchain_community's CometCallbackHandler, which records no run tree). The session table, " +
        "action records and metrics are in their tabs."));
    return;
  }
  const list = document.getElementById("trace-list");
  state.traceList = new VirtualList(list, TRACE_ROW_HEIGHT, renderTraceItem);
  state.waterfall = new VirtualList(document.getElementById("waterfall"), RUN_ROW_HEIGHT, renderRunRow);
  const filter = document.getElementById("trace-filter");
  const errorsOnly = document.getElementById("trace-errors-only");
  const user = fillSelect(document.getElementById("trace-user"), DATA.filters.users, "all users");
  const session = fillSelect(document.getElementById("trace-session"), DATA.filters.sessions, "all sessions");
  const apply = () => filterTraces(filter.value.trim().toLowerCase(), errorsOnly.checked, user.value, session.value);
  filter.addEventListener("input", apply);
  errorsOnly.addEventListener("change", apply);
  user.addEventListener("change", apply);
  session.addEventListener("change", apply);
  list.addEventListener("keydown", (event) => moveSelection(event, state.traceList.items, state.traceIndex, selectTrace));
  document.getElementById("waterfall").addEventListener("keydown", (event) => {
    const rows = state.waterfall.items;
    moveSelection(event, rows, RUN_INDEX.get(state.runId), (i) => selectRun(RUNS[i].id));
  });
  apply();  // selects the first trace's root, if there is a trace
  if (state.runId === null) renderDetails(null);
}

// A filter by user or session, shown only when the archive has any.
function fillSelect(select, values, everything) {
  select.replaceChildren(el("option", { value: "", text: everything }), ...values.map((v) => el("option", { value: v, text: v })));
  select.hidden = !values.length;
  return select;
}

function moveSelection(event, items, current, select) {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  event.preventDefault();
  items = items.filter((item) => item >= 0);  // not the waits between a trace's segments
  const position = items.indexOf(current);
  const next = items[Math.max(0, Math.min(items.length - 1, position + (event.key === "ArrowDown" ? 1 : -1)))];
  if (next !== undefined) select(next);
}

function filterTraces(query, errorsOnly, user, session) {
  const shown = [];
  for (let i = 0; i < TRACES.length; i++) {
    const trace = TRACES[i];
    if (errorsOnly && !trace.errors) continue;
    if (user && !trace.users.includes(user)) continue;
    if (session && !trace.sessions.includes(session)) continue;
    if (query && !traceMatches(trace, query)) continue;
    shown.push(i);
  }
  document.getElementById("trace-count").textContent =
    shown.length === TRACES.length ? fmtCount(TRACES.length, "trace")
      : fmtNum(shown.length) + " of " + fmtCount(TRACES.length, "trace");
  state.traceList.setItems(shown);
  if (shown.length && !shown.includes(state.traceIndex)) selectTrace(shown[0]);
}

function traceMatches(trace, query) {
  for (let i = trace.start; i < trace.start + trace.count; i++) {
    const run = RUNS[i];
    if (String(run.name).toLowerCase().includes(query) || run.id.includes(query) ||
        String(run.type).includes(query) || (run.model && run.model.toLowerCase().includes(query)) ||
        (run.user && String(run.user).toLowerCase().includes(query)) ||
        (run.session && String(run.session).toLowerCase().includes(query))) {
      return true;
    }
  }
  return false;
}

function renderTraceItem(traceIndex) {
  const trace = TRACES[traceIndex];
  const root = traceRoot(trace);
  const status = traceStatus(trace);
  const resumes = (trace.segments || []).length - 1;
  const feedback = trace.feedback || [];
  return el("div", {
    class: "trace-item" + (traceIndex === state.traceIndex ? " selected" : ""),
    "data-trace-index": traceIndex,
    onclick: () => selectTrace(traceIndex),
  },
    el("div", { class: "line1" },
      el("span", { class: "dot " + status, title: status }),
      el("span", { class: "name", text: root.name }),
      el("span", { class: "dur", text: fmtMs(traceLatency(trace)) })),
    el("div", { class: "line2" },
      el("span", { text: fmtTime(root.start) }),
      el("span", { text: fmtCount(trace.count, "run") }),
      resumes > 0 ? el("span", { class: "resumes", text: "↻ resumed " + resumes + "×" }) : null,
      status === "interrupted" ? el("span", { class: "paused", text: "waiting" }) : null,
      trace.tokens ? el("span", { text: fmtNum(trace.tokens) + " tokens" }) : null,
      trace.cost !== null && trace.cost !== undefined ? el("span", { text: fmtUsd(trace.cost) }) : null,
      trace.errors ? el("span", { style: "color: var(--error)", text: trace.errors + " error" + (trace.errors > 1 ? "s" : "") }) : null,
      feedback.length ? el("span", { class: "fb", title: feedback.map(feedbackText).join("\n"), text: "★ " + feedbackText(feedback[0]) + (feedback.length > 1 ? " +" + (feedback.length - 1) : "") }) : null));
}

function selectTrace(traceIndex, runId) {
  state.traceIndex = traceIndex;
  state.traceList.draw(true);
  const position = state.traceList.items.indexOf(traceIndex);
  if (position >= 0) state.traceList.scrollToIndex(position);
  renderWaterfall();
  selectRun(runId || traceRoot(TRACES[traceIndex]).id);
}

// The rows of the waterfall: collapsed subtrees and (unless shown) langsmith:hidden runs
// folded away; between a resumed trace's segments, a row for the wait (-k before segment k).
function visibleRuns(trace) {
  const rows = [];
  const segments = trace.segments || [trace.start];
  let hideBelow = Infinity;
  for (let i = trace.start; i < trace.start + trace.count; i++) {
    const run = RUNS[i];
    const segment = segments.indexOf(i);
    if (segment > 0) { rows.push(-segment); hideBelow = Infinity; }
    if (run.depth > hideBelow) continue;
    if (run.hidden && !state.showHidden) { hideBelow = run.depth; continue; }
    hideBelow = state.collapsed.has(run.id) ? run.depth : Infinity;
    rows.push(i);
  }
  return rows;
}

function hiddenRuns(trace) {
  let count = 0;
  for (let i = trace.start; i < trace.start + trace.count; i++) if (RUNS[i].hidden) count++;
  return count;
}

function traceSpan(trace) {
  let end = 0;
  for (let i = trace.start; i < trace.start + trace.count; i++) {
    end = Math.max(end, RUNS[i].offset + (RUNS[i].latency || 0));
  }
  return end || 1;
}

function renderWaterfall() {
  const trace = TRACES[state.traceIndex];
  const root = traceRoot(trace);
  state.span = traceSpan(trace);
  const ticks = el("div", { class: "ticks" });
  for (let k = 0; k <= 4; k++) {
    ticks.append(el("span", { style: "left:" + k * 25 + "%", text: fmtMs(state.span * k / 4) }));
  }
  const segments = (trace.segments || []).length;
  const hidden = hiddenRuns(trace);
  const feedback = trace.feedback || [];
  document.getElementById("waterfall-head").replaceChildren(...[
    el("h2", {}, typeBadge(root.type), el("span", { text: root.name }), statusPill(traceStatus(trace))),
    el("div", { class: "meta" },
      "trace " + root.trace + " · " + fmtCount(trace.count, "run") + " · " + fmtMs(traceLatency(trace)) +
      (segments > 1 ? " in " + segments + " segments (interrupted, resumed)" : "") +
      " · started " + (root.start || "–") + (root.user ? " · user " + root.user : "") +
      (root.session ? " · session " + root.session : "")),
    feedback.length ? el("div", { class: "meta feedback-line" },
      feedback.map((item) => el("span", { class: "fb-chip", text: "★ " + feedbackText(item) }))) : null,
    hidden ? el("label", { class: "check" },
      el("input", { type: "checkbox", id: "show-hidden", checked: state.showHidden, onchange: (event) => {
        state.showHidden = event.target.checked;
        state.waterfall.setItems(visibleRuns(trace));
      } }), "show " + hidden + " hidden run" + (hidden > 1 ? "s" : "") + " (langsmith:hidden)") : null,
    el("div", { class: "axis" }, el("span", { text: "run" }), ticks),
  ].filter(Boolean));
  state.waterfall.setItems(visibleRuns(trace));
}

// The wait before segment k of a resumed trace: what paused it, how long, what resumed it.
function renderWaitRow(marker) {
  const trace = TRACES[state.traceIndex];
  const k = -marker;
  const paused = RUNS[trace.segments[k - 1]];
  const resumed = RUNS[trace.segments[k]];
  const waited = isoMs(resumed.start) - isoMs(paused.end);
  const resume = resumed.inputs && typeof resumed.inputs === "object" && "resume" in resumed.inputs
    ? " · resumed with " + JSON.stringify(resumed.inputs.resume) : " · resumed";
  return el("div", { class: "wf-wait", "data-segment": k },
    el("span", { class: "pause", text: "‖" }),
    el("span", { text: interruptText(paused) }),
    el("span", { class: "muted", text: " · waited " + fmtMs(isFinite(waited) ? Math.max(0, waited) : null) + resume }));
}

function renderRunRow(runIndex) {
  if (runIndex < 0) return renderWaitRow(runIndex);
  const run = RUNS[runIndex];
  const failed = run.status === "error";
  const left = (run.offset / state.span) * 100;
  const width = Math.max(((run.latency || 0) / state.span) * 100, 0.3);
  const caret = run.children
    ? el("span", {
      class: "caret " + (state.collapsed.has(run.id) ? "closed" : "open"),
      title: "collapse / expand",
      onclick: (event) => { event.stopPropagation(); toggle(run.id); },
    })
    : el("span", { class: "caret" });
  const time = el("span", { class: "wf-time", text: fmtMs(run.latency) });
  if (left + width > 80) time.style.right = (100 - left + 1) + "%";
  else time.style.left = (left + width + 1) + "%";
  return el("div", {
    class: "wf-row" + (failed ? " error" : "") + (run.status === "interrupted" ? " interrupted" : "") +
      (run.id === state.runId ? " selected" : ""),
    "data-run-id": run.id,
    onclick: () => selectRun(run.id),
  },
    el("div", { class: "wf-name", style: "padding-left:" + (8 + run.depth * 16) + "px" },
      caret, runBadge(run), el("span", { class: "label", text: run.name, title: run.status === "interrupted" ? interruptText(run) : run.name })),
    el("div", { class: "wf-track" },
      el("div", {
        class: "wf-bar t-" + (run.is_node ? "node" : String(run.type).replace(/[^a-z_]/gi, "")) +
          (failed ? " failed" : run.status === "interrupted" ? " paused" : ""),
        style: "left:" + left + "%;width:" + width + "%",
        title: run.name + ": " + fmtMs(run.latency) + " (starts at +" + fmtMs(run.offset) + ")",
      }),
      time));
}

function toggle(runId) {
  if (state.collapsed.has(runId)) state.collapsed.delete(runId);
  else state.collapsed.add(runId);
  state.waterfall.setItems(visibleRuns(TRACES[state.traceIndex]));
}

function selectRun(runId) {
  const index = RUN_INDEX.get(runId);
  if (index === undefined) return;
  const run = RUNS[index];
  const traceIndex = traceOf(index);
  if (traceIndex !== state.traceIndex) {
    state.collapsed.clear();
    selectTrace(traceIndex, runId);
    return;
  }
  // Open collapsed ancestors so the selected run is visible.
  let parent = run.parent;
  while (parent && RUN_INDEX.has(parent)) {
    state.collapsed.delete(parent);
    if (RUNS[RUN_INDEX.get(parent)].hidden) state.showHidden = true;
    parent = RUNS[RUN_INDEX.get(parent)].parent;
  }
  if (run.hidden) state.showHidden = true;
  const hiddenBox = document.getElementById("show-hidden");
  if (hiddenBox) hiddenBox.checked = state.showHidden;
  state.runId = runId;
  state.waterfall.setItems(visibleRuns(TRACES[traceIndex]));
  const position = state.waterfall.items.indexOf(index);
  if (position >= 0) state.waterfall.scrollToIndex(position);
  renderDetails(run);
  if (location.hash !== "#run=" + runId) history.replaceState(null, "", "#run=" + runId);
}

function traceOf(runIndex) {
  let low = 0, high = TRACES.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (TRACES[mid].start <= runIndex) low = mid; else high = mid - 1;
  }
  return low;
}

function openRun(runId) {
  if (!RUN_INDEX.has(runId)) return false;
  showTab("traces");
  selectRun(runId);
  return true;
}

// -- run details ------------------------------------------------------------------------------

function renderDetails(run) {
  const pane = document.getElementById("run-details");
  if (!run) {
    pane.replaceChildren(el("div", { class: "empty", text: "Select a run to see its inputs, outputs, tokens and error." }));
    return;
  }
  const facts = [
    ["run id", run.id],
    ["parent", run.parent || "– (root)"],
    ["trace", run.trace],
    ["started", run.start],
    ["ended", run.end],
    ["latency", fmtMs(run.latency)],
    ["model", run.model],
    ["provider", run.provider],
    ["cost", DATA.overview.cost.recorded && (run.type === "llm" || run.type === "chat_model")
      ? (run.cost == null && !(run.tokens && run.tokens.total_tokens != null) ? "no token usage" : fmtUsd(run.cost))
      : null],
    ["cost source", run.cost_source ? COST_SOURCES[run.cost_source] || run.cost_source : null],
    ["trace cost", run.trace_cost !== null && run.trace_cost !== undefined ? fmtUsd(run.trace_cost) : null],
    ["time to first token", run.ttft !== null && run.ttft !== undefined ? fmtMs(run.ttft) : null],
    ["tokens streamed", run.streamed || null],
    ["user", run.user],
    ["session", run.session],
    ["graph node", run.node],
    ["graph step", run.graph_step],
    ["resumed from", run.resumed_from],
    ["step", run.step],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  const children = [
    el("div", { class: "details-title" }, runBadge(run), el("h2", { text: run.name }), statusPill(run.status)),
    el("dl", { class: "kv" }, facts.map(([key, value]) => [el("dt", { text: key }), el("dd", { text: String(value) })])),
  ];
  if (run.error) children.push(errorSection(run.error));
  if (run.interrupt) {
    children.push(section("Interrupted", el("div", { class: "interrupt-box", id: "run-interrupt" },
      el("div", { class: "itext", text: interruptText(run) }), jsonView(run.interrupt))));
  }
  if (!run.parent) {
    const trace = TRACES[traceOf(RUN_INDEX.get(run.id))];
    if (trace.feedback && trace.feedback.length) {
      children.push(section("Feedback on this trace", el("div", { id: "run-feedback" },
        trace.feedback.map((item) => el("div", { class: "fb-item" },
          el("b", { text: item.name + " = " + (typeof item.value === "boolean" ? String(item.value) : fmtNum(item.value)) }),
          item.comment ? el("span", { class: "muted", text: " — " + item.comment }) : null,
          el("span", { class: "muted small", text: "  " + fmtTime(item.time) }))))));
    }
  }
  if (run.tokens) children.push(tokenSection(run.tokens));
  if (run.params) children.push(paramsSection(run.params));
  if (run.tools || run.tool_choice !== undefined && run.tool_choice !== null) children.push(toolsSection(run.tools, run.tool_choice));
  if (run.prompt_template) children.push(templateSection(run.prompt_template));
  children.push(section("Inputs", valueView(run.inputs, "inputs")));
  children.push(section("Outputs", valueView(run.outputs, "outputs")));
  if (run.generation_metrics) children.push(collapsible("Generation metrics", jsonView(run.generation_metrics)));
  if (run.events && run.events.length) children.push(collapsible("Events (" + run.events.length + ")", jsonView(run.events)));
  if (run.tags && run.tags.length) children.push(collapsible("Tags", jsonView(run.tags)));
  if (run.metadata && Object.keys(run.metadata).length) children.push(collapsible("Metadata", jsonView(run.metadata)));
  if (run.more) children.push(collapsible("More", jsonView(run.more)));
  pane.replaceChildren(...children);
  pane.scrollTop = 0;
}

function section(title, body) {
  return el("div", { class: "section" }, el("h3", { text: title }), body);
}

function collapsible(title, body) {
  return el("details", { class: "section" }, el("summary", { text: title }), body);
}

function errorSection(error) {
  const box = el("div", { class: "error-box", id: "run-error" },
    el("span", { class: "etype", text: (error.type || "Error") + ": " }),
    el("span", { text: error.message || "" }));
  if (error.traceback) {
    box.append(el("details", {}, el("summary", { text: "traceback" }), el("pre", { class: "text", text: error.traceback })));
  }
  return section("Error", box);
}

function tokenSection(tokens) {
  const prompt = tokens.prompt_tokens || 0;
  const completion = tokens.completion_tokens || 0;
  const total = tokens.total_tokens || prompt + completion || 1;
  const facts = Object.entries(tokens).map(([key, value]) => [el("dt", { text: key.replace(/_/g, " ") }), el("dd", { text: fmtNum(value) })]);
  return section("Tokens", el("div", {},
    el("dl", { class: "kv" }, facts),
    el("div", { class: "token-bar", title: prompt + " prompt / " + completion + " completion" },
      el("div", { class: "p", style: "width:" + (prompt / total) * 100 + "%" }),
      el("div", { class: "c", style: "width:" + (completion / total) * 100 + "%" }))));
}

// Chat messages as a conversation; everything else as JSON.
function valueView(value, which) {
  if (value === null || value === undefined) return el("div", { class: "muted", text: "none recorded" });
  const messages = which === "inputs" ? chatInput(value) : chatOutput(value);
  if (messages) return el("div", {}, messages.map(messageView));
  if (typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && typeof value[keys[0]] === "string") {
      return el("div", {}, el("div", { class: "muted small", text: keys[0] }), el("pre", { class: "text", text: value[keys[0]] }));
    }
  }
  if (typeof value === "string") return el("pre", { class: "text", text: value });
  return jsonView(value);
}

function isMessage(value) {
  return value && typeof value === "object" && typeof value.role === "string" && "content" in value;
}

function chatInput(value) {
  const batches = value && value.messages;
  if (Array.isArray(batches) && batches.length && Array.isArray(batches[0]) && batches[0].every(isMessage)) {
    return batches.flat();
  }
  return null;
}

function chatOutput(value) {
  const generations = value && value.generations;
  if (!Array.isArray(generations)) return null;
  const messages = [];
  for (const batch of generations) {
    for (const generation of batch || []) {
      if (generation && isMessage(generation.message)) messages.push(generation.message);
      else if (generation && typeof generation.text === "string") messages.push({ role: "generation", content: generation.text });
    }
  }
  return messages.length ? messages : null;
}

function messageView(message) {
  const node = el("div", { class: "msg " + message.role },
    el("div", { class: "role", text: message.role + (message.name ? " · " + message.name : "") }),
    contentView(message.content));
  for (const call of message.tool_calls || []) {
    node.append(el("div", { class: "tool-call", text: "→ " + call.name + "(" + JSON.stringify(call.args) + ")" }));
  }
  return node;
}

// -- what the model saw (issue #15) ----------------------------------------------------------

const COST_SOURCES = { provider: "reported by the provider", prices: "prices option", "genai-prices": "genai-prices" };
const MEDIA_KINDS = ["image", "audio", "video", "file"];

// A message's content: text as text, media references as thumbnails, players or chips.
function contentView(content) {
  if (content === null || content === undefined || content === "") return null;
  if (typeof content === "string") return el("div", { class: "content", text: content });
  if (!Array.isArray(content)) return el("div", { class: "content", text: JSON.stringify(content, null, 2) });
  return el("div", { class: "content-parts" }, content.map((part) => {
    if (typeof part === "string") return el("div", { class: "content", text: part });
    if (part && part.type === "text" && typeof part.text === "string") return el("div", { class: "content", text: part.text });
    if (isMediaReference(part)) return mediaView(part);
    return el("div", { class: "content", text: JSON.stringify(part, null, 2) });
  }));
}

function isMediaReference(part) {
  return part && typeof part === "object" && MEDIA_KINDS.includes(part.type) &&
    ["sha256", "url", "file_id", "omitted"].some((key) => key in part);
}

function fmtBytes(count) {
  if (typeof count !== "number") return null;
  if (count < 1024) return count + " B";
  if (count < 1048576) return (count / 1024).toFixed(1) + " kB";
  return (count / 1048576).toFixed(1) + " MB";
}

function mediaView(ref) {
  const inline = ref.name ? DATA.media.inline[ref.name] : undefined;
  const facts = [ref.mime_type, fmtBytes(ref.bytes), ref.detail ? "detail " + ref.detail : null]
    .filter((fact) => fact);
  let preview = null;
  if (inline && ref.type === "image") {
    preview = el("img", { class: "media-thumb", alt: ref.name, title: ref.name });
    preview.src = inline;
  } else if (inline && ref.type === "audio") {
    preview = el("audio", { class: "media-audio", controls: true, preload: "metadata", title: ref.name });
    preview.src = inline;
  }
  let note = null;
  if (ref.url) note = "remote " + ref.type + ", not fetched: " + ref.url;
  else if (ref.file_id) note = "provider file " + ref.file_id;
  else if (ref.omitted) note = "not logged: " + ref.omitted;
  else if (ref.name && !inline) note = DATA.media.skipped[ref.name] ? "in the archive, not in this report: " + DATA.media.skipped[ref.name] : "in the archive";
  return el("figure", { class: "media " + ref.type, "data-media": ref.name || ref.url || ref.file_id || "" },
    preview,
    el("figcaption", {},
      el("span", { class: "badge t-tool", text: ref.type }),
      el("span", { class: "media-name", text: ref.name || ref.filename || "" }),
      facts.length ? el("span", { class: "muted", text: facts.join(" · ") }) : null,
      note ? el("div", { class: "muted small media-note", text: note }) : null,
      ref.sha256 ? el("div", { class: "muted small mono", text: "sha256 " + ref.sha256 }) : null));
}

function paramsSection(params) {
  const entries = Object.entries(params).filter(([, value]) => value !== null && value !== undefined);
  if (!entries.length) return section("Invocation parameters", el("div", { class: "muted", text: "none passed" }));
  return section("Invocation parameters", el("dl", { class: "kv params" }, entries.map(([key, value]) =>
    [el("dt", { text: key }), el("dd", { class: "mono", text: typeof value === "string" ? value : JSON.stringify(value) })])));
}

function toolName(tool) {
  if (!tool || typeof tool !== "object") return String(tool);
  if (tool.function && tool.function.name) return tool.function.name;
  return tool.name || tool.type || "?";
}

function toolsSection(tools, choice) {
  const list = Array.isArray(tools) ? tools : [];
  const body = el("div", { class: "tools" },
    choice !== null && choice !== undefined
      ? el("div", { class: "muted small", text: "tool_choice: " + (typeof choice === "string" ? choice : JSON.stringify(choice)) })
      : null,
    list.map((tool) => el("details", { class: "tool" },
      el("summary", {}, el("b", { class: "mono", text: toolName(tool) }),
        tool && tool.function && tool.function.description ? el("span", { class: "muted", text: " " + tool.function.description }) : null),
      jsonView(tool))));
  return section("Tools offered (" + list.length + ")", body);
}

function templateSection(template) {
  const head = el("div", { class: "muted small" }, el("b", { text: template.name || "template" }),
    template.version !== null && template.version !== undefined ? " · version " + template.version : "");
  let text;
  if (Array.isArray(template.template)) {
    text = el("div", {}, template.template.map((part) => el("div", { class: "msg " + (part && part.role) },
      el("div", { class: "role", text: part && part.role ? part.role : "?" }),
      el("div", { class: "content", text: part && typeof part.template === "string" ? part.template : JSON.stringify(part && part.template, null, 2) }))));
  } else if (typeof template.template === "string") {
    text = el("pre", { class: "text", text: template.template });
  } else {
    text = el("div", { class: "muted", text: "template text not recorded (the prompt is not serializable)" });
  }
  const variables = template.variables && typeof template.variables === "object" ? Object.entries(template.variables) : [];
  const vars = variables.length
    ? el("dl", { class: "kv params" }, variables.map(([key, value]) => [el("dt", { text: key }),
      el("dd", {}, isMediaReference(value) ? mediaView(value) : el("span", { class: "mono", text: typeof value === "string" ? value : JSON.stringify(value) }))]))
    : el("div", { class: "muted small", text: "no variables" });
  return section("Prompt template", el("div", { class: "template" }, head, text, el("h4", { text: "variables" }), vars));
}

function jsonView(value) {
  const pre = el("pre", { class: "json" });
  appendJson(pre, value, 0);
  return pre;
}

function appendJson(parent, value, indent) {
  const pad = "  ".repeat(indent);
  if (value === null || typeof value === "boolean") {
    parent.append(el("span", { class: "j-lit", text: String(value) }));
  } else if (typeof value === "number") {
    parent.append(el("span", { class: "j-num", text: String(value) }));
  } else if (typeof value === "string") {
    parent.append(el("span", { class: "j-str", text: JSON.stringify(value) }));
  } else if (Array.isArray(value)) {
    if (!value.length) { parent.append("[]"); return; }
    parent.append("[\n");
    value.forEach((item, i) => {
      parent.append(pad + "  ");
      appendJson(parent, item, indent + 1);
      parent.append(i < value.length - 1 ? ",\n" : "\n");
    });
    parent.append(pad + "]");
  } else {
    const entries = Object.entries(value);
    if (!entries.length) { parent.append("{}"); return; }
    parent.append("{\n");
    entries.forEach(([key, item], i) => {
      parent.append(pad + "  ", el("span", { class: "j-key", text: JSON.stringify(key) }), ": ");
      appendJson(parent, item, indent + 1);
      parent.append(i < entries.length - 1 ? ",\n" : "\n");
    });
    parent.append(pad + "}");
  }
}

// -- sortable, filterable table --------------------------------------------------------------

// `formats` maps a column name to how its cells are shown (sorting uses the raw values).
function renderDataTable(panel, table, emptyText, runColumn, formats) {
  if (!table || !table.rows.length) {
    panel.replaceChildren(el("div", { class: "empty", text: emptyText }));
    return;
  }
  const columns = table.columns;
  const runIdColumn = columns.indexOf(runColumn);
  const idColumn = columns.map((name) => /(^|_)id$/.test(name));
  const format = columns.map((name) => (formats || {})[name]);
  const numeric = columns.map((_, c) => table.rows.every((row) => row[c] === null || typeof row[c] === "number"));
  const search = table.rows.map((row) => row.map((cell) => (cell === null ? "" : String(cell))).join("\u0001").toLowerCase());
  const view = { rows: table.rows.map((_, i) => i), sortColumn: -1, ascending: true, page: 0 };

  const filter = el("input", { type: "search", placeholder: "Filter rows (any column)…", "aria-label": "Filter rows" });
  const count = el("span", { class: "muted small" });
  const prev = el("button", { class: "btn", text: "‹ Prev", onclick: () => { view.page--; draw(); } });
  const next = el("button", { class: "btn", text: "Next ›", onclick: () => { view.page++; draw(); } });
  const pageLabel = el("span", { class: "muted small" });
  const head = el("tr", {});
  const body = el("tbody", {});
  const tableNode = el("table", { class: "data" }, el("thead", {}, head), body);

  columns.forEach((name, c) => {
    head.append(el("th", { "data-column": name, onclick: () => sortBy(c), title: "sort by " + name }, name));
  });

  function sortBy(c) {
    view.ascending = view.sortColumn === c ? !view.ascending : true;
    view.sortColumn = c;
    view.page = 0;
    sortRows();
    draw();
  }

  function sortRows() {
    const c = view.sortColumn;
    if (c < 0) return;
    const sign = view.ascending ? 1 : -1;
    const rows = table.rows;
    view.rows.sort((a, b) => {
      const x = rows[a][c], y = rows[b][c];
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      if (numeric[c]) return (x - y) * sign;
      return String(x).localeCompare(String(y)) * sign;
    });
  }

  function applyFilter() {
    const query = filter.value.trim().toLowerCase();
    view.rows = table.rows.map((_, i) => i).filter((i) => !query || search[i].includes(query));
    view.page = 0;
    sortRows();
    draw();
  }

  function draw() {
    const pages = Math.max(1, Math.ceil(view.rows.length / PAGE_SIZE));
    view.page = Math.min(Math.max(0, view.page), pages - 1);
    const slice = view.rows.slice(view.page * PAGE_SIZE, (view.page + 1) * PAGE_SIZE);
    body.replaceChildren(...slice.map((i) => {
      const row = table.rows[i];
      const runId = runIdColumn >= 0 ? row[runIdColumn] : null;
      return el("tr", {
        class: runId && RUN_INDEX.has(runId) ? "link" : null,
        title: runId && RUN_INDEX.has(runId) ? "open this run in Traces" : null,
        onclick: runId ? () => openRun(runId) : null,
      }, row.map((cell, c) => el("td", {
        class: (numeric[c] ? "num" : "") + (idColumn[c] ? " id" : "") + (cell === null && !format[c] ? " null" : ""),
        title: typeof cell === "string" && (cell.length > 40 || idColumn[c]) ? cell.slice(0, 2000) : null,
        // An id shows its distinct end (shortId); the cell's title and the filter have it whole.
        text: format[c] ? format[c](cell) : cell === null ? "–"
          : numeric[c] ? fmtNum(cell) : idColumn[c] ? shortId(cell) : String(cell),
      })));
    }));
    for (const th of head.children) {
      const c = columns.indexOf(th.dataset.column);
      th.querySelector(".arrow")?.remove();
      if (c === view.sortColumn) th.append(el("span", { class: "arrow", text: view.ascending ? "▲" : "▼" }));
    }
    count.textContent = view.rows.length === table.rows.length
      ? fmtNum(table.rows.length) + " rows"
      : fmtNum(view.rows.length) + " of " + fmtNum(table.rows.length) + " rows";
    pageLabel.textContent = "page " + (view.page + 1) + " of " + pages;
    prev.disabled = view.page === 0;
    next.disabled = view.page >= pages - 1;
  }

  filter.addEventListener("input", applyFilter);
  panel.replaceChildren(
    el("div", { class: "table-toolbar" }, filter, count, el("div", { class: "pager" }, prev, pageLabel, next)),
    el("div", { class: "table-wrap" }, tableNode));
  draw();
}

renderers.table = (panel) => renderDataTable(panel, DATA.table,
  "The archive has no session table (no LLM generation was recorded).", "run_id");
renderers.models = (panel) => renderDataTable(panel, DATA.overview.cost.by_model, "No LLM calls.", null,
  { "cost (USD)": fmtUsd });
renderers.actions = (panel) => renderDataTable(panel, DATA.actions, "No action records.", null);

// -- metric charts ----------------------------------------------------------------------------

const CHART = { width: 420, height: 160, left: 48, right: 10, top: 10, bottom: 22, maxPoints: 600 };

// Keep the shape of long series: the min and max of each bucket.
function downsample(points) {
  if (points.length <= CHART.maxPoints) return points;
  const size = Math.ceil(points.length / (CHART.maxPoints / 2));
  const out = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size);
    let low = bucket[0], high = bucket[0];
    for (const point of bucket) {
      if (point[1] < low[1]) low = point;
      if (point[1] > high[1]) high = point;
    }
    out.push(...(low[0] <= high[0] ? [low, high] : [high, low]));
  }
  return out;
}

function renderChart(metric, picker) {
  const raw = metric.points.map(([step, value], i) => [step === null ? i : step, value]);
  const points = downsample(raw);
  const values = raw.map((p) => p[1]);
  const xs = points.map((p) => p[0]);
  const minX = Math.min(...xs), maxX = Math.max(...xs);
  let minY = Math.min(...values), maxY = Math.max(...values);
  if (minY === maxY) { minY -= 1; maxY += 1; }
  const w = CHART.width - CHART.left - CHART.right;
  const h = CHART.height - CHART.top - CHART.bottom;
  const sx = (x) => CHART.left + (maxX === minX ? w / 2 : ((x - minX) / (maxX - minX)) * w);
  const sy = (y) => CHART.top + h - ((y - minY) / (maxY - minY)) * h;
  const chart = svg("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img", "aria-label": metric.name });
  for (const y of [minY, (minY + maxY) / 2, maxY]) {
    chart.append(svg("line", { class: "grid", x1: CHART.left, x2: CHART.width - CHART.right, y1: sy(y), y2: sy(y) }));
    const label = svg("text", { class: "axis-label", x: CHART.left - 6, y: sy(y) + 3, "text-anchor": "end" });
    label.textContent = fmtNum(y);
    chart.append(label);
  }
  for (const [x, anchor] of minX === maxX ? [[minX, "middle"]] : [[minX, "start"], [maxX, "end"]]) {
    const label = svg("text", { class: "axis-label", x: sx(x), y: CHART.height - 6, "text-anchor": anchor });
    label.textContent = "step " + fmtNum(x);
    chart.append(label);
  }
  const path = points.map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join("");
  if (points.length > 1) {
    chart.append(svg("path", { class: "area", d: path + `L${sx(maxX)},${sy(minY)}L${sx(minX)},${sy(minY)}Z` }));
  }
  chart.append(svg("path", { class: "line", d: points.length > 1 ? path : `M${sx(xs[0]) - 3},${sy(points[0][1])}h6` }));
  const hoverLine = svg("line", { class: "hover-line", y1: CHART.top, y2: CHART.top + h, visibility: "hidden" });
  const hoverDot = svg("circle", { class: "hover-dot", r: 3.5, visibility: "hidden" });
  const hoverText = svg("text", { class: "hover-text", y: CHART.top + 10, visibility: "hidden" });
  chart.append(hoverLine, hoverDot, hoverText);
  chart.addEventListener("mousemove", (event) => {
    const box = chart.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * CHART.width;
    let best = points[0];
    for (const point of points) if (Math.abs(sx(point[0]) - x) < Math.abs(sx(best[0]) - x)) best = point;
    for (const node of [hoverLine, hoverDot, hoverText]) node.setAttribute("visibility", "visible");
    hoverLine.setAttribute("x1", sx(best[0]));
    hoverLine.setAttribute("x2", sx(best[0]));
    hoverDot.setAttribute("cx", sx(best[0]));
    hoverDot.setAttribute("cy", sy(best[1]));
    const right = sx(best[0]) > CHART.width / 2;
    hoverText.setAttribute("x", sx(best[0]) + (right ? -6 : 6));
    hoverText.setAttribute("text-anchor", right ? "end" : "start");
    hoverText.textContent = "step " + fmtNum(best[0]) + ": " + fmtNum(best[1]);
  });
  chart.addEventListener("mouseleave", () => {
    for (const node of [hoverLine, hoverDot, hoverText]) node.setAttribute("visibility", "hidden");
  });
  const last = values[values.length - 1];
  return el("div", { class: "chart", "data-metric": metric.name },
    el("div", { class: "chart-title" }, el("h3", { text: metric.name }), picker),
    el("div", { class: "stats", text: "last " + fmtNum(last) + " · min " + fmtNum(Math.min(...values)) +
      " · max " + fmtNum(Math.max(...values)) + " · " + fmtCount(values.length, "point") }),
    chart);
}

// A readability or custom metric is logged as <metric>_<stat> for eight statistics: one
// card with a statistic picker (the families come grouped from the archive's summary).
function renderMetricCard(family) {
  if (family.series.length === 1) return renderChart(family.series[0], null);
  const node = el("div", { class: "chart-slot" });
  const byStat = new Map(family.series.map((one) => [one.stat, one]));
  const draw = (stat) => node.replaceChildren(renderChart(byStat.get(stat), picker));
  const picker = el("select", { "aria-label": "statistic", onchange: (event) => draw(event.target.value) },
    family.series.map((one) => el("option", { value: one.stat, text: one.stat })));
  draw(family.series[0].stat);
  return node;
}

renderers.metrics = (panel) => {
  if (!DATA.metrics.length) {
    panel.replaceChildren(el("div", { class: "empty", text: "No metrics in this archive." }));
    return;
  }
  const cards = DATA.metrics;
  const total = cards.reduce((sum, family) => sum + family.series.length, 0);
  const grid = el("div", { class: "charts" });
  const filter = el("input", { type: "search", placeholder: "Filter metrics…", "aria-label": "Filter metrics" });
  const count = el("span", { class: "muted small" });
  const draw = () => {
    const query = filter.value.trim().toLowerCase();
    const shown = cards.filter((card) => card.name.toLowerCase().includes(query));
    count.textContent = fmtNum(shown.length) + " charts · " + fmtNum(total) + " metrics";
    grid.replaceChildren(...shown.map(renderMetricCard));
  };
  filter.addEventListener("input", draw);
  panel.replaceChildren(el("div", { class: "table-toolbar" }, filter, count), grid);
  draw();
};

// -- visualizations ---------------------------------------------------------------------------

renderers.visualizations = (panel) => {
  const viz = DATA.visualizations;
  if (!viz.items.length) {
    panel.replaceChildren(el("div", { class: "empty" },
      "No visualizations in this archive. Pass visualizations=[\"dep\", \"ent\"] to CometCallbackHandler to render each generation with spaCy."));
    return;
  }
  const list = el("div", { class: "viz-list" });
  if (viz.total > viz.items.length) {
    list.append(el("div", { class: "notice", text: "Showing the first " + fmtNum(viz.items.length) + " of " +
      fmtNum(viz.total) + " visualizations; all of them are in the archive." }));
  }
  viz.items.forEach((item, i) => {
    const style = (/langchain-viz-([a-z]+)-/.exec(item.name) || [])[1] || "viz";
    const details = el("details", { "data-viz": item.name },
      el("summary", {}, el("span", { class: "badge t-chain", text: style }),
        el("b", { text: item.name }),
        el("span", { class: "prompt", text: item.prompt ? "prompt: " + item.prompt : "" })));
    details.addEventListener("toggle", () => {
      if (!details.open || details.querySelector("iframe")) return;
      // Sandboxed without scripts; same origin only so its height can be read.
      const frame = el("iframe", { sandbox: "allow-same-origin", title: item.name });
      frame.srcdoc = item.html;
      frame.addEventListener("load", () => {
        const doc = frame.contentDocument;
        if (doc && doc.documentElement) {
          frame.style.height = Math.min(doc.documentElement.scrollHeight + 20, 640) + "px";
        }
      });
      details.append(frame);
    });
    if (i === 0) details.open = true;
    list.append(details);
  });
  panel.replaceChildren(list);
  list.querySelector("details[open]")?.dispatchEvent(new Event("toggle"));
};

// -- feedback ---------------------------------------------------------------------------------

renderers.feedback = (panel) => {
  const names = DATA.feedback.names.map((one) =>
    el("div", { class: "kpi" }, el("div", { class: "label", text: one.name }),
      el("div", { class: "value", text: fmtNum(one.mean) }),
      el("div", { class: "sub", text: "mean of " + fmtNum(one.count) })));
  const table = el("div", { class: "tab-body" });
  panel.replaceChildren(el("div", { class: "kpis feedback-kpis" }, names), table);
  renderDataTable(table, DATA.feedback.table, "No feedback in this archive.", "trace_id");
};

// -- graph ------------------------------------------------------------------------------------

const GRAPH = { rankGap: 84, nodeGap: 130, nodeHeight: 34, pad: 24 };

// Ranks by longest path from the entry, ignoring the edges that close a loop; nodes of a
// rank side by side in the order LangGraph lists them.
function layoutGraph(structure) {
  const nodes = structure.nodes;
  const ids = nodes.map((node) => node.id);
  const out = new Map(ids.map((id) => [id, []]));
  for (const edge of structure.edges) if (out.has(edge.source) && out.has(edge.target)) out.get(edge.source).push(edge.target);
  const back = new Set();
  const seen = new Set();
  const onStack = new Set();
  const visit = (id) => {
    seen.add(id);
    onStack.add(id);
    for (const next of out.get(id)) {
      if (onStack.has(next)) back.add(id + "\u0000" + next);
      else if (!seen.has(next)) visit(next);
    }
    onStack.delete(id);
  };
  for (const id of ids) if (!seen.has(id)) visit(id);
  const rank = new Map(ids.map((id) => [id, 0]));
  for (let pass = 0; pass < ids.length; pass++) {
    let changed = false;
    for (const edge of structure.edges) {
      if (back.has(edge.source + "\u0000" + edge.target) || !rank.has(edge.source) || !rank.has(edge.target)) continue;
      if (rank.get(edge.target) < rank.get(edge.source) + 1) { rank.set(edge.target, rank.get(edge.source) + 1); changed = true; }
    }
    if (!changed) break;
  }
  const byRank = [];
  for (const node of nodes) (byRank[rank.get(node.id)] ||= []).push(node);
  const width = (node) => Math.max(90, String(node.name).length * 7.4 + 28);
  const rowWidths = byRank.map((row) => (row || []).reduce((sum, node) => sum + width(node), 0) + GRAPH.nodeGap * ((row || []).length - 1));
  const total = Math.max(...rowWidths, 200) + 2 * GRAPH.pad + 120;
  const place = new Map();
  byRank.forEach((row, r) => {
    let x = (total - rowWidths[r]) / 2;
    for (const node of row || []) {
      place.set(node.id, { x, y: GRAPH.pad + r * GRAPH.rankGap, w: width(node), h: GRAPH.nodeHeight, node });
      x += width(node) + GRAPH.nodeGap;
    }
  });
  return { place, back, width: total, height: GRAPH.pad * 2 + (byRank.length - 1) * GRAPH.rankGap + GRAPH.nodeHeight };
}

function arrowHead(x, y, dx, dy) {
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length, uy = dy / length;
  const points = [[x, y], [x - 9 * ux + 4.5 * uy, y - 9 * uy - 4.5 * ux], [x - 9 * ux - 4.5 * uy, y - 9 * uy + 4.5 * ux]];
  return svg("polygon", { class: "g-arrow", points: points.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ") });
}

function drawGraph(structure) {
  const { place, back, width, height } = layoutGraph(structure);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "graph " + structure.name, id: "graph-svg" });
  // Subgraphs (LangGraph's xray): a dashed box around their nodes.
  const clusters = new Map();
  for (const box of place.values()) if (box.node.subgraph) (clusters.get(box.node.subgraph) || clusters.set(box.node.subgraph, []).get(box.node.subgraph)).push(box);
  for (const [name, boxes] of clusters) {
    const x0 = Math.min(...boxes.map((b) => b.x)) - 10, y0 = Math.min(...boxes.map((b) => b.y)) - 18;
    const x1 = Math.max(...boxes.map((b) => b.x + b.w)) + 10, y1 = Math.max(...boxes.map((b) => b.y + b.h)) + 8;
    chart.append(svg("rect", { class: "g-cluster", x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 8 }));
    const label = svg("text", { class: "g-cluster-label", x: x0 - 6, y: y0 + 12, "text-anchor": "end" });
    label.textContent = name;
    chart.append(label);
  }
  for (const edge of structure.edges) {
    const a = place.get(edge.source), b = place.get(edge.target);
    if (!a || !b) continue;
    const cls = "g-edge" + (edge.conditional ? " conditional" : "");
    let path, head;
    if (back.has(edge.source + "\u0000" + edge.target) || b.y <= a.y) {
      // A loop back up: around the left of both nodes (run counts are on their right).
      const x = Math.min(a.x, b.x) - 30;
      const sy = a.y + a.h / 2, ty = b.y + b.h / 2;
      path = `M${a.x},${sy} C${x},${sy} ${x},${ty} ${b.x},${ty}`;
      head = arrowHead(b.x, ty, 1, 0);
    } else {
      const sx = a.x + a.w / 2, sy = a.y + a.h, tx = b.x + b.w / 2, ty = b.y;
      const mid = (sy + ty) / 2;
      path = `M${sx},${sy} C${sx},${mid} ${tx},${mid} ${tx},${ty}`;
      head = arrowHead(tx, ty, 0, 1);
    }
    const line = svg("path", { class: cls, d: path, "data-edge": edge.source + "->" + edge.target });
    chart.append(line, head);
    if (edge.label) {
      const label = svg("text", { class: "g-edge-label", x: (a.x + a.w / 2 + b.x + b.w / 2) / 2 + 4, y: (a.y + a.h + b.y) / 2 });
      label.textContent = edge.label;
      chart.append(label);
    }
  }
  // How often each node ran in this archive, and how often it was interrupted or failed.
  const counts = new Map();
  for (const run of RUNS) {
    if (!run.is_node) continue;
    const entry = counts.get(run.node) || { runs: 0, interrupted: 0, handoffs: 0, errors: 0 };
    entry.runs++;
    if (run.status === "interrupted") entry[run.interrupt && run.interrupt.kind === "handoff" ? "handoffs" : "interrupted"]++;
    if (run.status === "error") entry.errors++;
    counts.set(run.node, entry);
  }
  for (const box of place.values()) {
    const node = box.node;
    const group = svg("g", { class: "g-node " + node.kind, "data-node": node.id });
    const rect = svg("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: node.kind === "node" ? 6 : box.h / 2 });
    const text = svg("text", { x: box.x + box.w / 2, y: box.y + box.h / 2 + 4, "text-anchor": "middle" });
    text.textContent = node.name;
    group.append(rect, text);
    const count = counts.get(node.name);
    if (count) {
      const title = svg("title", {});
      title.textContent = node.id + ": " + count.runs + " runs, " + count.interrupted + " paused, " + count.handoffs + " handed off, " + count.errors + " failed";
      const note = svg("text", { class: "g-count", x: box.x + box.w + 6, y: box.y + box.h / 2 + 4 });
      note.textContent = "×" + count.runs + (count.interrupted ? " · " + count.interrupted + " paused" : "") +
        (count.handoffs ? " · " + count.handoffs + " handed off" : "") + (count.errors ? " · " + count.errors + " failed" : "");
      group.append(title, note);
      if (count.interrupted || count.handoffs || count.errors) group.classList.add(count.errors ? "has-errors" : "has-interrupts");
    }
    chart.append(group);
  }
  return chart;
}

renderers.graph = (panel) => {
  const graph = DATA.graph;
  panel.replaceChildren(
    el("div", { class: "graph-head" }, el("h3", { text: graph.structure.name }),
      el("span", { class: "muted small", text: fmtNum(graph.structure.nodes.length) + " nodes · " +
        fmtNum(graph.structure.edges.length) + " edges · dashed: conditional edge" })),
    el("div", { class: "graph-wrap" }, drawGraph(graph.structure)),
    collapsible("Mermaid", el("pre", { class: "text", id: "graph-mermaid", text: graph.mermaid })));
};

// -- errors -----------------------------------------------------------------------------------

renderers.errors = (panel) => {
  const failed = RUNS.filter((run) => run.status === "error");
  if (!failed.length) {
    panel.replaceChildren(el("div", { class: "empty", text: DATA.overview.has_run_tree
      ? "No errors: every run succeeded." : "No run tree, so no run errors are recorded in this archive." }));
    return;
  }
  const rows = failed.map((run) => {
    const root = RUNS[TRACES[traceOf(RUN_INDEX.get(run.id))].start];
    return el("tr", { class: "link", "data-run-id": run.id, onclick: () => openRun(run.id), title: "open this run" },
      el("td", { text: fmtTime(run.start) }),
      el("td", {}, typeBadge(run.type), " ", run.name),
      el("td", { text: (run.error && run.error.type) || "Error" }),
      el("td", { style: "color: var(--error)", text: (run.error && run.error.message) || "", title: (run.error && run.error.message) || "" }),
      el("td", { text: root.name + " · " + shortId(root.id), title: root.id }));
  });
  panel.replaceChildren(el("div", { class: "table-wrap" }, el("table", { class: "data" },
    el("thead", {}, el("tr", {}, ["time", "run", "error type", "message", "trace"].map((h) => el("th", { text: h })))),
    el("tbody", {}, rows))));
};

// -- start ------------------------------------------------------------------------------------

function start() {
  renderHeader();
  renderTabs();
  // Read before the trace list selects its first run, which rewrites the address.
  const match = /^#run=(.+)$/.exec(location.hash);
  rendered.add("traces");
  renderTraces(document.getElementById("tab-traces"));
  if (!(match && openRun(decodeURIComponent(match[1])))) {
    showTab(DATA.overview.has_run_tree ? "traces" : (DATA.actions ? "table" : "metrics"));
  }
  document.body.dataset.ready = "1";
  window.reportReadyMs = performance.now();
}

start();

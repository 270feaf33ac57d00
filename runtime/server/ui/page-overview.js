// Overview: what ran and what was refused over a window (charts per minute), how each tool
// performs (median and 99th percentile time and fuel), this node and its store, and whether the
// record verifies. Refreshed every 10 s.

import { h, add, card, table, fmtUs, fmtNum, fmtBytes, facts, problem, fmtTime, fmtAgo, badge } from "./dom.js";
import { api, query } from "./api.js";
import { stackedBars } from "./charts.js";
import { verification } from "./page-audit.js";

const OUTCOME_SERIES = [
  { key: "ok", label: "ok", cls: "s-ok" },
  { key: "tool_error", label: "tool error", cls: "s-tool" },
  { key: "invalid_input", label: "invalid input", cls: "s-input" },
  { key: "limit", label: "limit hit (fuel, memory, time, output)", cls: "s-limit" },
  { key: "trap", label: "trap", cls: "s-trap" },
  { key: "stopped", label: "cancelled / interrupted", cls: "s-stop" },
  { key: "host_error", label: "host error", cls: "s-host" },
];
const GROUP = { fuel_exhausted: "limit", memory_exceeded: "limit", timeout: "limit", output_too_large: "limit", cancelled: "stopped", interrupted: "stopped" };

const WINDOWS = [["15 min", 900], ["1 hour", 3600], ["6 hours", 21600], ["24 hours", 86400]];

export function render(main, ctx) {
  const may = (a) => ctx.me.may.includes(a);
  const windowSel = h("select", { id: "o-window", "aria-label": "Window" }, WINDOWS.map(([l, s]) => h("option", { value: s, text: `last ${l}` })));
  windowSel.value = "3600";
  const tiles = h("div", { class: "tiles" }, ["Calls", "Failed", "Denials", "Refused requests"].map((t) => h("div", { class: "tile" }, h("span", { class: "tile-label", text: t }), h("span", { class: "tile-value", text: "—" }))));
  const charts = h("div", { class: "grid2 charts" }, h("div", { class: "chart-slot" }), h("div", { class: "chart-slot" }));
  const tools = card("Tools in this window", h("p", { class: "muted", text: "Loading…" }));
  const node = may("read_metrics") ? card("Nodes and store", h("p", { class: "muted", text: "Loading…" })) : null;
  const chain = may("verify_audit") ? card("Verification", h("p", { class: "muted", text: "Verifying…" })) : null;
  const note = h("p", { class: "hint", "aria-live": "polite" });
  add(main, h("div", { class: "page-head" }, h("h1", { text: "Overview" }), windowSel), tiles, note, charts, tools, h("div", { class: "grid2" }, node, chain));

  let timer = null;
  let stopped = false;
  const load = async () => {
    try {
      const st = await api(`/v1/stats${query({ window_secs: windowSel.value })}`);
      draw(st);
    } catch (e) {
      tools.replaceChildren(h("h2", { text: "Tools in this window" }), problem(e));
    }
    if (node) {
      api("/v1/status").then((s) => node.replaceChildren(h("h2", { text: "Nodes and store" }), facts([
        ["Answering", s.node], ["Version", s.version],
        ["Ready", s.ready ? "yes" : "NO"],
        ["Store", `${s.store === "shared" ? "PostgreSQL, shared by every node" : "embedded (SQLite)"}: ${s.store_ok ? "answers" : `does not answer (${s.store_error})`}`],
        ["Confinement", s.confinement],
        ["Calls running", `${s.running} (${s.free_slots} of ${s.max_in_flight} slots free)`],
        ["Tools live", String(s.tools_live)],
      ]), table([
        { label: "Node", cell: (n) => n.node },
        { label: "State", cell: (n) => n.stale ? badge(`not seen for ${fmtAgo(n.seen_at_ms).replace(" ago", "")}`, "bad") : (n.report && n.report.ready ? badge("ready", "ok") : badge("loading", "warn")) },
        { label: "Version", cell: (n) => (n.report ? n.report.version : "—") },
        { label: "Running", cell: (n) => (n.report ? `${n.report.running} (${n.report.free_slots} free)` : "—"), class: "num" },
        { label: "Up since", cell: (n) => (n.report ? fmtTime(n.report.started_at_ms) : "—") },
        { label: "Seen", cell: (n) => fmtAgo(n.seen_at_ms) },
      ], s.nodes, { class: "nodes", empty: "No node has reported yet.", rowAttrs: (n) => ({ "data-node": n.node }) }))).catch((e) => node.replaceChildren(h("h2", { text: "Nodes and store" }), problem(e)));
    }
    if (!stopped) timer = setTimeout(load, 10000);
  };
  const draw = (st) => {
    const total = (m) => Object.values(m.outcomes).reduce((a, b) => a + b, 0);
    const calls = st.minutes.reduce((t, m) => t + total(m), 0);
    const ok = st.minutes.reduce((t, m) => t + (m.outcomes.ok || 0), 0);
    const denials = st.minutes.reduce((t, m) => t + m.denials, 0);
    const refused = st.refusals.reduce((t, r) => t + Object.values(r.codes).reduce((a, b) => a + b, 0), 0);
    const values = [fmtNum(calls), calls ? `${fmtNum(calls - ok)} (${(((calls - ok) / calls) * 100).toFixed(1)}%)` : "0", fmtNum(denials), fmtNum(refused)];
    tiles.querySelectorAll(".tile-value").forEach((el, i) => { el.textContent = values[i]; });
    note.textContent = st.complete ? `From ${fmtTime(st.since_ms)} to ${fmtTime(st.until_ms)}.` : `From the newest ${st.scanned} calls of the window only (it holds more).`;
    const byMinute = st.minutes.map((m) => {
      const v = {};
      for (const [o, n] of Object.entries(m.outcomes)) v[GROUP[o] || o] = (v[GROUP[o] || o] || 0) + n;
      return { at_ms: m.at_ms, values: v };
    });
    const refusals = new Map(st.refusals.map((r) => [r.at_ms, r.codes]));
    const refusedByMinute = st.minutes.map((m) => {
      const c = refusals.get(m.at_ms) || {};
      const quota = c.quota_exceeded || 0;
      const rate = c.rate_limited || 0;
      const access = (c.unauthenticated || 0) + (c.forbidden || 0);
      const other = Object.values(c).reduce((a, b) => a + b, 0) - quota - rate - access;
      return { at_ms: m.at_ms, values: { denials: m.denials, quota, rate, access, other } };
    });
    charts.children[0].replaceChildren(stackedBars("Calls per minute, by outcome", byMinute, OUTCOME_SERIES, { unit: "calls" }));
    charts.children[1].replaceChildren(stackedBars("Denials and refusals per minute", refusedByMinute, [
      { key: "denials", label: "policy denials inside calls", cls: "s-deny" },
      { key: "quota", label: "quota refusals (this node)", cls: "s-quota" },
      { key: "rate", label: "rate limited (this node)", cls: "s-rate" },
      { key: "access", label: "unauthenticated / forbidden (this node)", cls: "s-access" },
      { key: "other", label: "other refusals (this node)", cls: "s-other" },
    ]));
    tools.replaceChildren(h("h2", { text: "Tools in this window" }), table([
      { label: "Tool", cell: (t) => h("a", { href: `#/tools/${encodeURIComponent(t.tool)}`, text: t.tool }) },
      { label: "Calls", cell: (t) => fmtNum(t.calls), class: "num" },
      { label: "Failed", cell: (t) => fmtNum(t.failures), class: "num" },
      { label: "Denials", cell: (t) => fmtNum(t.denials), class: "num" },
      { label: "p50 time", cell: (t) => fmtUs(t.p50_wall_us), class: "num" },
      { label: "p99 time", cell: (t) => fmtUs(t.p99_wall_us), class: "num" },
      { label: "p50 fuel", cell: (t) => fmtNum(t.p50_fuel), class: "num" },
      { label: "p99 fuel", cell: (t) => fmtNum(t.p99_fuel), class: "num" },
      { label: "Peak memory", cell: (t) => fmtBytes(t.max_memory_bytes), class: "num" },
    ], st.tools, { empty: "No call in this window.", class: "tool-stats" }));
  };
  windowSel.addEventListener("change", () => { clearTimeout(timer); load(); });
  load();
  // The chain walk reads the whole log: once per visit, and again on demand.
  if (chain) verification(chain);
  return () => { stopped = true; clearTimeout(timer); };
}

// Executions: the record, filtered and paged, with new calls arriving live; one execution with
// its usage, denials, digests, and what the page can check of it.

import { h, fill, card, Pages, table, digest, fmtTime, fmtUs, fmtNum, fmtBytes, outcome, facts, problem, badge } from "./dom.js";
import { api, query } from "./api.js";
import { receiptOf, receiptBox, theLogKey } from "./receipts.js";
import { verifyRecordLink, verifySigned } from "./verify.js";

const OUTCOMES = ["ok", "invalid_input", "tool_error", "fuel_exhausted", "memory_exceeded", "timeout", "output_too_large", "trap", "host_error", "cancelled", "interrupted", "input_required", "denied", "blocked"];

export function render(main, ctx) {
  if (ctx.params[0]) return detail(main, ctx.params[0], ctx.me.trace_link);
  const f = {
    tool: h("input", { id: "x-tool", type: "text", placeholder: "any", autocomplete: "off" }),
    outcome: h("select", { id: "x-outcome" }, h("option", { value: "", text: "any" }), OUTCOMES.map((o) => h("option", { value: o, text: o }))),
    caller: h("input", { id: "x-caller", type: "text", placeholder: "key id or issuer#subject", autocomplete: "off" }),
    since: h("input", { id: "x-since", type: "datetime-local" }),
    until: h("input", { id: "x-until", type: "datetime-local" }),
  };
  const live = h("input", { type: "checkbox", id: "x-live", checked: true });
  const form = h("form", { class: "filters", id: "exec-filters" },
    ...[["Tool", "tool"], ["Outcome", "outcome"], ["Caller", "caller"], ["From", "since"], ["Until", "until"]].map(([l, k]) => h("div", { class: "field" }, h("label", { for: f[k].id, text: l }), f[k])),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary", text: "Apply" })),
  );
  const state = h("p", { class: "muted", "aria-live": "polite" });
  const list = h("div", { class: "slot" });
  const pager = h("div", { class: "pager" });
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Executions" }), h("label", { class: "inline live" }, live, " Live: show new calls as they are recorded")), form, state, list, pager);

  let rows = [];
  const pages = new Pages();
  let timer = null;
  let stopped = false;
  const filter = () => ({
    tool: f.tool.value.trim(),
    outcome: f.outcome.value,
    caller: f.caller.value.trim(),
    since: f.since.value ? new Date(f.since.value).getTime() : "",
    until: f.until.value ? new Date(f.until.value).getTime() : "",
  });
  const draw = () => {
    list.replaceChildren(table([
      { label: "Finished", cell: (r) => fmtTime(r.finished_at_ms) },
      { label: "Tool", cell: (r) => h("span", {}, r.tool, h("span", { class: "muted", text: ` ${r.version}` })) },
      { label: "Outcome", cell: (r) => outcome(r.outcome) },
      { label: "Caller", cell: (r) => h("span", { title: r.caller, text: r.caller_name || r.caller }) },
      { label: "Time", cell: (r) => fmtUs(r.usage.wall_time_us), class: "num" },
      { label: "Fuel", cell: (r) => fmtNum(r.usage.fuel_consumed), class: "num" },
      { label: "Denials", cell: (r) => r.usage.denials.length ? badge(String(r.usage.denials.length), "bad") : "0", class: "num" },
      { label: "Execution", cell: (r) => h("a", { href: `#/executions/${encodeURIComponent(r.id)}`, class: "execution-link", "data-id": r.id, text: r.id }) },
    ], rows, { empty: "No execution matches.", class: "executions", rowAttrs: (r) => ({ "data-seq": r.seq }) }));
    pages.draw(pager, pages.next, load);
  };
  const load = async () => {
    state.textContent = "Loading…";
    try {
      const r = await api(`/v1/executions${query({ ...filter(), cursor: pages.cursor(), limit: 50 })}`);
      rows = r.executions;
      pages.next = r.next_cursor;
      state.textContent = `${rows.length} shown${pages.next ? ", more below" : ""}.`;
      draw();
    } catch (e) {
      state.textContent = "";
      list.replaceChildren(problem(e));
    }
  };
  // Live: the newest page is asked again for records after the newest shown (the audit log's
  // long poll answers as soon as one is appended, or empty after 25 s).
  const tail = async () => {
    if (stopped || !live.checked || pages.page !== 0 || filter().until) {
      timer = setTimeout(tail, 1000);
      return;
    }
    const newest = rows.length ? rows[0].seq : 0;
    try {
      const r = await api(`/v1/audit/events${query({ kind: "execution", after: newest, wait: 25, limit: 200, tool: filter().tool })}`, { signal: abort.signal });
      const fresh = (r.events || []).map((e) => ({ seq: e.seq, ...e.execution, prev_hash: e.prev_hash, hash: e.hash }))
        .filter((x) => matches(x, filter()));
      if (fresh.length && !stopped && live.checked && pages.page === 0) {
        rows = [...fresh.reverse(), ...rows].slice(0, 50);
        draw();
      }
    } catch (e) {
      if (e.name === "AbortError") return;
      await new Promise((r) => setTimeout(r, 3000));
    }
    if (!stopped) timer = setTimeout(tail, 50);
  };
  const abort = new AbortController();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    pages.reset();
    load();
  });
  load().then(() => { timer = setTimeout(tail, 100); });
  return () => {
    stopped = true;
    abort.abort();
    clearTimeout(timer);
  };
}

function matches(x, f) {
  return (!f.tool || x.tool === f.tool) && (!f.outcome || x.outcome === f.outcome) && (!f.caller || x.caller === f.caller)
    && (!f.since || x.finished_at_ms >= f.since);
}

/** The trace an execution's spans went to: a link where the operator's tracing shows it
 * (`--trace-link`), or the id alone. Only a well-formed id goes into the link. */
function traceOf(traceId, pattern) {
  if (!traceId) return null;
  if (!pattern || !/^[0-9a-f]{32}$/.test(traceId)) return ["Trace", h("code", { text: traceId })];
  const href = pattern.split("{trace_id}").join(traceId);
  return ["Trace", h("a", { class: "trace-link", href, target: "_blank", rel: "noopener noreferrer" }, h("code", { text: traceId }))];
}

function detail(main, id, traceLink) {
  const body = h("div", { class: "slot", "aria-busy": "true" }, h("p", { class: "muted", text: "Loading…" }));
  main.append(h("div", { class: "page-head" }, h("p", { class: "crumbs" }, h("a", { href: "#/executions", text: "Executions" }), " / "), h("h1", { text: id })), body);
  api(`/v1/executions/${encodeURIComponent(id)}?record=true`).then((r) => {
    body.removeAttribute("aria-busy");
    const u = r.usage;
    fill(body,
      h("p", { class: "lead" }, outcome(r.outcome), " ", r.tool, " ", r.version, ` · ${fmtTime(r.started_at_ms)} · `, r.caller_name || r.caller, ` via ${r.transport}`),
      r.error ? card("Error", h("pre", { class: "error-text", text: r.error })) : null,
      h("div", { class: "grid2" },
        card("Usage", facts([
          ["Wall time", fmtUs(u.wall_time_us)], ["Fuel", fmtNum(u.fuel_consumed)], ["Peak memory", fmtBytes(u.peak_memory_bytes)],
          ["Input", fmtBytes(u.input_bytes)], ["Output", fmtBytes(u.output_bytes)], ["stdout / stderr", `${fmtBytes(u.stdout_bytes)} / ${fmtBytes(u.stderr_bytes)}`],
          ["HTTP requests", String(u.http_requests)], u.progress_reports ? ["Progress reports", String(u.progress_reports)] : null,
        ])),
        card("Identity", facts([
          ["Execution", h("code", { text: r.id })], ["Caller", h("span", { title: r.caller, text: `${r.caller_name || ""} (${r.caller})` })],
          ["Component", digest(r.digest, 16)], ["Signer", digest(r.signer, 16)], ["Publisher", r.publisher || "—"],
          ["Policy", digest(r.policy_hash, 16)], ["Input sha256", digest(r.input_sha256, 16)], ["Output sha256", digest(r.output_sha256, 16)],
          traceOf(r.trace_id, traceLink),
        ]))),
      card("Denials", table([
        { label: "Kind", cell: (d) => d.kind },
        { label: "Target", cell: (d) => h("code", { text: d.target || d.detail || JSON.stringify(d) }) },
        { label: "Why", cell: (d) => d.reason || "" },
      ], u.denials, { empty: "The policy refused nothing during this call." })),
      u.credentials && u.credentials.length ? card("Credentials attached by the host", table([
        { label: "Destination", cell: (c) => c.destination }, { label: "Header", cell: (c) => c.header }, { label: "Requests", cell: (c) => String(c.requests) },
      ], u.credentials)) : null,
      card("Integrity", checks(r)),
    );
  }).catch((e) => body.replaceChildren(problem(e)));
  return null;
}

/** What this page checks of a record: its chain hash, the newest signed checkpoint, a receipt. */
function checks(r) {
  const out = h("div", { class: "integrity" });
  const link = h("li", {}, "Checking the record's chain hash…");
  const cp = h("li", {}, "Checking the newest checkpoint…");
  out.append(h("ul", { class: "checks" }, link, cp));
  verifyRecordLink(r).then((ok) => {
    if (ok === null) {
      link.className = "wait";
      link.replaceChildren(h("span", { class: "mark", text: "…" }), " A figure of this record is beyond what the browser reads exactly; the receipt below is checked from the record's exact text.");
      return;
    }
    link.className = ok ? "pass" : "fail";
    link.replaceChildren(h("span", { class: "mark", text: ok ? "✓" : "✗" }), ok
      ? ` Record ${r.seq} hashes to its chain hash (recomputed in this page from what is shown).`
      : " The record does not hash to its chain hash: it differs from what was chained.");
  });
  Promise.all([api("/v1/audit/checkpoint"), theLogKey()]).then(async ([c, key]) => {
    const v = await verifySigned(c, "checkpoint", key.key);
    const covers = c.statement.size >= r.seq;
    cp.className = v.ok && covers ? "pass" : v.ok ? "wait" : "fail";
    cp.replaceChildren(h("span", { class: "mark", text: v.ok ? (covers ? "✓" : "…") : "✗" }), v.ok
      ? (covers ? ` The newest checkpoint (${c.statement.size} records, ${fmtTime(c.statement.time_ms)}) reaches past this record; its signature holds with the log key (checked in this page). That the record is in the chain it signs is the receipt's check below.` : ` The newest checkpoint (${c.statement.size}) is older than this record; the next one covers it.`)
      : ` The newest checkpoint does not verify: ${v.why}.`);
  }).catch((e) => { cp.className = "wait"; cp.textContent = `No checkpoint to check against: ${e.message}`; });
  // The receipt the call was answered with when this tab made it; else one the server signs
  // now for the stored record. Either is checked here, in the page, with the log key.
  const kept = receiptOf(r.id);
  const slot = h("div", { class: "receipt-slot" });
  out.append(slot);
  // The server signs one only once a signed checkpoint covers the record (within seconds of
  // the call): until then the page says so and asks again.
  const fetchReceipt = (tries) => api(`/v1/executions/${encodeURIComponent(r.id)}/receipt`)
    .then((receipt) => slot.replaceChildren(receiptBox(receipt, r.id)))
    .catch((e) => {
      if (e.code === "not_checkpointed" && tries > 0 && slot.isConnected) {
        slot.replaceChildren(h("div", { class: "receipt", "data-verified": "pending" }, h("h3", { text: "Receipt" }), h("p", { class: "muted", text: "Waiting for the next signed checkpoint to cover this record…" })));
        setTimeout(() => fetchReceipt(tries - 1), 2000);
        return;
      }
      slot.replaceChildren(h("div", { class: "receipt", "data-verified": "no" }, h("h3", { text: "Receipt" }), problem(e)));
    });
  if (kept) slot.replaceChildren(receiptBox(kept, r.id));
  else fetchReceipt(15);
  return out;
}

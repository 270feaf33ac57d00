// Audit: administrative events (and executions) with who did what, filtered; an export of what
// is shown; and whether the log verifies: the chain walked by the server, the newest checkpoint
// checked in this page with the log key.

import { h, add, fill, card, Pages, table, fmtTime, digest, facts, problem, badge } from "./dom.js";
import { api, query } from "./api.js";
import { theLogKey } from "./receipts.js";
import { verifySigned } from "./verify.js";

const KINDS = ["", "execution", "tool.publish", "tool.delete", "tool.quarantine", "tool.release", "policy.set", "policy.reload", "key.create", "key.revoke", "server.start", "server.stop", "audit.tampered", "decisions.apply", "decisions.remove", "decision.deny", "approval.request", "approval.grant", "approval.deny", "alert.raise", "caller.suspend", "caller.resume"];

export function render(main, ctx) {
  const may = (a) => ctx.me.may.includes(a);
  const f = {
    kind: h("select", { id: "a-kind" }, KINDS.map((k) => h("option", { value: k, text: k || "any" }))),
    actor: h("input", { id: "a-actor", type: "text", placeholder: "key id", autocomplete: "off" }),
    tool: h("input", { id: "a-tool", type: "text", placeholder: "any", autocomplete: "off" }),
  };
  const form = h("form", { class: "filters", id: "audit-filters" },
    ...[["Kind", "kind"], ["Actor", "actor"], ["Tool", "tool"]].map(([l, k]) => h("div", { class: "field" }, h("label", { for: f[k].id, text: l }), f[k])),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary", text: "Apply" })));
  const status = may("verify_audit") ? card("Verification", h("p", { class: "muted", text: "Verifying…" })) : null;
  const list = h("div", { class: "slot" });
  const exportLink = h("a", { class: "button quiet", id: "export", href: "#", download: "cordon-audit.json" }, "Export shown events (JSON)");
  const pager = h("div", { class: "pager" });
  add(main, h("div", { class: "page-head" }, h("h1", { text: "Audit" })), status, form, h("div", { class: "toolbar" }, exportLink), list, pager);
  f.kind.value = "";
  let events = [];
  const pages = new Pages();
  let url = null;
  const load = async () => {
    try {
      const r = await api(`/v1/audit/events${query({ kind: f.kind.value, actor: f.actor.value.trim(), tool: f.tool.value.trim(), cursor: pages.cursor(), limit: 50 })}`);
      events = r.events;
      list.replaceChildren(table([
        { label: "#", cell: (e) => String(e.seq), class: "num" },
        { label: "When", cell: (e) => fmtTime(e.at_ms) },
        { label: "Kind", cell: (e) => badge(e.kind, e.kind === "execution" ? "" : "admin") },
        { label: "Actor", cell: (e) => h("span", { title: e.actor.key_id, text: e.actor.name || e.actor.key_id }) },
        { label: "Tool", cell: (e) => e.tool || "" },
        { label: "What", cell: (e) => what(e) },
        { label: "Hash", cell: (e) => digest(e.hash, 10) },
      ], events, { empty: "No event matches.", class: "events" }));
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob([JSON.stringify(events, null, 2)], { type: "application/json" }));
      exportLink.setAttribute("href", url);
      pages.draw(pager, r.next_cursor, load);
    } catch (e) {
      list.replaceChildren(problem(e));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    pages.reset();
    load();
  });
  load();
  if (status) verification(status);
  return () => { if (url) URL.revokeObjectURL(url); };
}

function what(e) {
  if (e.execution) return h("span", {}, e.execution.outcome, " ", h("a", { href: `#/executions/${encodeURIComponent(e.execution.id)}`, text: e.execution.id }));
  const a = (e.event && e.event.action) || {};
  const rest = Object.entries(a).filter(([k]) => k !== "kind" && k !== "tool").map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return h("span", { class: "what", text: rest.join("; ") });
}

/** The chain walked by the server (the whole log: asked for once, and again on demand), and
 * the newest checkpoint checked here. */
export async function verification(box) {
  const again = () => h("button", { type: "button", class: "quiet", id: "verify-again", onclick: () => {
    box.replaceChildren(h("h2", { text: "Verification" }), h("p", { class: "muted", text: "Verifying…" }));
    verification(box);
  } }, "Verify again");
  try {
    const [v, key, cp] = await Promise.all([api("/v1/audit/verify"), theLogKey(), api("/v1/audit/checkpoint").catch(() => null)]);
    const sig = cp ? await verifySigned(cp, "checkpoint", key.key) : { ok: false, why: "no checkpoint yet" };
    fill(box, h("h2", {}, "Verification ", h("span", { class: `badge ${v.intact && sig.ok ? "ok" : "bad"}`, id: "chain-state", text: v.intact ? (sig.ok ? "intact" : "intact, checkpoint unchecked") : "BROKEN" })),
      facts([
        ["Chain", v.intact ? `${v.records} records, every link holds (walked by the server)` : `${v.problem_count} problems`],
        ["Head", digest(v.head, 16)],
        ["Checkpoints held against it", String(v.checkpoints_checked)],
        ["Newest checkpoint", cp ? h("span", {}, `${cp.statement.size} records at ${fmtTime(cp.statement.time_ms)}; `, sig.ok ? "signature checked in this page" : `signature: ${sig.why}`) : "none yet"],
        ["Log key", h("code", { text: key.key })],
      ]),
      v.problems && v.problems.length ? h("ul", { class: "checks" }, v.problems.map((p) => h("li", { class: "fail", text: typeof p === "string" ? p : JSON.stringify(p) }))) : null,
      h("p", { class: "hint", text: "Someone who does not trust this server checks the log itself against checkpoints kept elsewhere: cordon audit verify --checkpoint <file> --key <log key>. The whole log: cordon audit export." }),
      again());
  } catch (e) {
    box.replaceChildren(h("h2", { text: "Verification" }), problem(e), again());
  }
}

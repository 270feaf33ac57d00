// Approvals: the calls the operator's decisions hold until a person approves them, those this
// caller may decide on, with who made each call, the tool, its arguments (host-held secrets
// redacted) and why it waits. Approve runs it once, now; Deny records it denied. Refreshed every
// five seconds.

import { h, card, table, fmtTime, badge, problem, toast, json, fill } from "./dom.js";
import { api } from "./api.js";

const REFRESH_MS = 5000;

export function render(main) {
  const list = h("div", { class: "slot", "aria-busy": "true", "aria-live": "polite" }, h("p", { class: "muted", text: "Loading held calls…" }));
  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Approvals" })),
    h("p", { class: "hint", text: "Calls the decisions in force hold for a person's approval. A caller can never decide on its own call; each call is decided once, on whichever node." }),
    card("Waiting for a decision", list));
  let stopped = false;
  let timer;
  const load = async () => {
    clearTimeout(timer);
    try {
      const { approvals } = await api("/v1/approvals");
      if (stopped) return;
      list.removeAttribute("aria-busy");
      fill(list, table([
        { label: "Held", cell: (a) => h("span", { title: a.execution_id, text: fmtTime(a.created_at_ms) }) },
        { label: "Caller", cell: (a) => h("span", { title: a.caller, text: a.caller_name }) },
        { label: "Tool", cell: (a) => `${a.tool} ${a.version}` },
        { label: "Arguments", cell: (a) => json(a.arguments) },
        { label: "Why", cell: (a) => a.reasons.length ? a.reasons.join("; ") : h("span", { class: "muted", text: "the decisions ask for approval" }) },
        { label: "Approvers", cell: (a) => a.approvers.length ? a.approvers.join(", ") : "role:admin" },
        { label: "Expires", cell: (a) => badge(fmtTime(a.expires_at_ms), "warn") },
        { label: "", cell: (a) => decide(a, load) },
      ], approvals, { class: "approvals", empty: "No call is waiting for you.", rowAttrs: (a) => ({ "data-approval": a.execution_id }) }));
    } catch (e) {
      if (!stopped) fill(list, problem(e));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  return () => { stopped = true; clearTimeout(timer); };
}

function decide(a, reload) {
  const reason = h("input", { type: "text", maxlength: 1024, placeholder: "reason (kept in the audit log)", "aria-label": `Reason for ${a.execution_id}` });
  const send = async (approve) => {
    try {
      await api(`/v1/approvals/${encodeURIComponent(a.execution_id)}`, { method: "POST", body: { approve, reason: reason.value } });
      toast(approve ? `Approved: ${a.tool} runs now for ${a.caller_name}.` : `Denied: ${a.tool} will not run; recorded.`);
    } catch (e) {
      toast(e.message, "bad");
    }
    await reload();
  };
  return h("div", { class: "row-actions" }, reason,
    h("button", { type: "button", class: "primary", "data-approve": a.execution_id, onclick: () => send(true) }, "Approve"),
    h("button", { type: "button", class: "danger", "data-deny": a.execution_id, onclick: () => send(false) }, "Deny"));
}

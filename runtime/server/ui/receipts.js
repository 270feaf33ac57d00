// Receipts this tab received (from "Try it"), kept in session storage for the execution page,
// at most 50; and how a receipt's checks are shown.

import { h, fill } from "./dom.js";
import { api } from "./api.js";
import { verifyReceipt } from "./verify.js";

const KEY = "cordon.receipts";

export function keepReceipt(id, receipt) {
  let all = {};
  try {
    all = JSON.parse(sessionStorage.getItem(KEY) || "{}");
  } catch {
    all = {};
  }
  all[id] = receipt;
  const ids = Object.keys(all);
  for (const old of ids.slice(0, Math.max(0, ids.length - 50))) delete all[old];
  sessionStorage.setItem(KEY, JSON.stringify(all));
}

export function receiptOf(id) {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "{}")[id] || null;
  } catch {
    return null;
  }
}

let logKey = null;
export async function theLogKey() {
  if (!logKey) logKey = await api("/v1/audit/key");
  return logKey;
}

/** A box that checks `receipt` in the page and lists each check with its result. */
export function receiptBox(receipt, executionId) {
  const box = h("div", { class: "receipt", "data-verified": "pending" }, h("h3", { text: "Receipt" }), h("p", { class: "muted", text: "Checking in this page…" }));
  (async () => {
    const key = await theLogKey();
    const r = await verifyReceipt(receipt, key, executionId);
    box.dataset.verified = r.ok ? "yes" : "no";
    fill(box,
      h("h3", {}, "Receipt ", h("span", { class: `badge ${r.ok ? "ok" : "bad"}`, text: r.ok ? "verified in this page" : "does not verify" })),
      h("ul", { class: "checks" }, r.checks.map((c) => h("li", { class: c.ok ? "pass" : "fail" }, h("span", { class: "mark", "aria-hidden": "true", text: c.ok ? "✓" : "✗" }), " ", c.what, c.ok ? "" : ` — ${c.why}`))),
      h("p", { class: "hint" }, `Record ${receipt.seq} of log ${receipt.log_id}, in the batch of records ${r.batch.first_seq} to ${r.batch.size}, checked with the log key this server names: `, h("code", { class: "log-key", text: key.key }), ". Compare it with the copy you keep: a server you do not trust could name a key of its own. Offline: cordon receipt verify --key <your copy>."),
    );
  })().catch((e) => {
    box.dataset.verified = "no";
    box.replaceChildren(h("h3", { text: "Receipt" }), h("p", { class: "problem", text: `cannot check it: ${e.message}` }));
  });
  return box;
}

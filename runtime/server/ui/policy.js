// A tool's policy history (each `policy.set` of the audit log) and the difference a change
// made, line by line.

import { h, table, digest, fmtTime, problem } from "./dom.js";
import { api } from "./api.js";

async function textOf(name, hash) {
  const r = await api(`/v1/tools/${encodeURIComponent(name)}/policy/${encodeURIComponent(hash)}`);
  return r.policy;
}

/** Lines removed and added from `a` to `b` (longest common subsequence), as [kind, line]. */
export function diffLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  if (n * m > 4e6) return [["-", `(${n} lines)`], ["+", `(${m} lines: too long to compare here)`]];
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) { out.push(["-", x[i]]); i++; } else { out.push(["+", y[j]]); j++; }
  }
  while (i < n) out.push(["-", x[i++]]);
  while (j < m) out.push(["+", y[j++]]);
  return out;
}

function diffView(lines) {
  return h("pre", { class: "diff" }, lines.map(([k, l]) => h("span", { class: k === "+" ? "add" : k === "-" ? "del" : "same" }, `${k} ${l}\n`)));
}

export function policyHistory(name, view) {
  const out = h("div", { class: "diff-box", "aria-live": "polite" });
  const show = async (change) => {
    out.replaceChildren(h("p", { class: "muted", text: "Comparing…" }));
    try {
      const before = change.previous_hashes[0];
      const [a, b] = await Promise.all([before ? textOf(name, before) : "", textOf(name, change.policy_hash)]);
      out.replaceChildren(h("h3", {}, "Change ", String(change.seq), ": ", digest(before || "none", 10), " → ", digest(change.policy_hash, 10)), diffView(diffLines(a, b)));
    } catch (e) {
      out.replaceChildren(problem(e));
    }
  };
  if (!view.history.length) return h("p", { class: "hint", text: "No change since it was published: every version runs under the policy it was published with." });
  return h("div", { class: "history" },
    h("h3", { text: "History" }),
    table([
      { label: "When", cell: (c) => fmtTime(c.at_ms) },
      { label: "By", cell: (c) => c.by_name },
      { label: "Source", cell: (c) => c.source },
      { label: "Policy", cell: (c) => digest(c.policy_hash, 10) },
      { label: "Versions", cell: (c) => String(c.versions) },
      { label: "", cell: (c) => h("button", { type: "button", class: "quiet", "data-seq": c.seq, onclick: () => show(c) }, "Show the change") },
    ], view.history),
    out);
}

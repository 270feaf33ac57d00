// Tools: what is published (versions, signer and publisher, digest, quarantine), and for one
// tool its policy in force with its history, quarantine and release, its schema, and a form to
// try it.

import { h, add, clear, card, table, digest, fmtTime, fmtUs, fmtNum, fmtBytes, badge, outcome, facts, json, problem, toast } from "./dom.js";
import { api } from "./api.js";
import { schemaForm } from "./form.js";
import { keepReceipt, receiptBox } from "./receipts.js";
import { policyHistory } from "./policy.js";

export function render(main, ctx) {
  if (ctx.params[0]) return detail(main, ctx, ctx.params[0]);
  const list = h("div", { class: "slot", "aria-busy": "true" }, h("p", { class: "muted", text: "Loading tools…" }));
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Tools" })), list);
  api("/v1/tools").then(({ tools }) => {
    list.removeAttribute("aria-busy");
    list.replaceChildren(table([
      { label: "Tool", cell: (t) => h("a", { href: `#/tools/${encodeURIComponent(t.name)}`, class: "tool-link", text: t.name }) },
      { label: "Description", cell: (t) => h("span", { class: "desc", text: t.description }) },
      { label: "Version", cell: (t) => `${t.version}${t.versions.length > 1 ? ` (+${t.versions.length - 1})` : ""}` },
      { label: "Publisher", cell: (t) => t.publisher },
      { label: "Signer", cell: (t) => digest(t.signer, 16) },
      { label: "Digest", cell: (t) => digest(t.digest) },
      { label: "State", cell: (t) => t.quarantined ? badge("quarantined", "bad") : badge("live", "ok") },
    ], tools, { empty: "No tool is published yet: cordon publish <signed.wasm>.", class: "tools" }));
  }).catch((e) => list.replaceChildren(problem(e)));
  return null;
}

function detail(main, ctx, name) {
  const may = (a) => ctx.me.may.includes(a);
  const head = h("div", { class: "page-head" }, h("p", { class: "crumbs" }, h("a", { href: "#/tools", text: "Tools" }), " / "), h("h1", { text: name }));
  const body = h("div", { class: "slot", "aria-busy": "true" }, h("p", { class: "muted", text: "Loading…" }));
  main.append(head, body);
  const load = async () => {
    const t = await api(`/v1/tools/${encodeURIComponent(name)}`);
    const newest = t.versions[0];
    body.removeAttribute("aria-busy");
    clear(body);
    const state = newest.quarantined
      ? h("div", { class: "banner bad", role: "status" }, h("strong", { text: "Quarantined: " }), newest.quarantined)
      : null;
    add(body,
      h("p", { class: "lead", text: newest.description }),
      state,
      h("div", { class: "grid2" },
        card("Versions", table([
          { label: "Version", cell: (v) => v.version },
          { label: "Published", cell: (v) => fmtTime(v.published_at_ms) },
          { label: "Publisher", cell: (v) => v.publisher },
          { label: "Signer", cell: (v) => digest(v.signer, 16) },
          { label: "Digest", cell: (v) => digest(v.digest) },
          { label: "Policy", cell: (v) => v.default_policy ? badge("closed default", "warn") : digest(v.policy_hash) },
          { label: "Source", cell: (v) => v.source ? h("code", { text: v.source.oci || JSON.stringify(v.source) }) : "upload" },
        ], t.versions)),
        may("manage_tools") ? quarantineCard(name, newest, load) : null),
      may("read_policy") ? policyCard(name) : null,
      h("div", { class: "grid2" },
        card("Input schema", json(newest.input_schema)),
        newest.output_schema ? card("Output schema", json(newest.output_schema)) : null),
      may("invoke") ? tryCard(name, newest) : null,
    );
  };
  load().catch((e) => body.replaceChildren(problem(e)));
  return null;
}

function quarantineCard(name, newest, reload) {
  const reason = h("input", { id: "q-reason", type: "text", required: true, maxlength: 500, placeholder: "why, for the record and for callers" });
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  if (newest.quarantined) {
    const release = h("button", { type: "button", id: "release", class: "primary" }, "Release");
    release.addEventListener("click", async () => {
      try {
        await api(`/v1/tools/${encodeURIComponent(name)}/release`, { method: "POST" });
        toast(`${name} released`);
        await reload();
      } catch (e) {
        status.replaceChildren(problem(e));
      }
    });
    return card("Quarantine", h("p", { text: "Every version is refused until released. Releasing is recorded in the audit log." }), release, status);
  }
  const form = h("form", { id: "quarantine-form" },
    h("label", { for: "q-reason", text: "Reason" }), reason,
    h("button", { type: "submit", class: "danger", id: "quarantine" }, "Quarantine every version"), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api(`/v1/tools/${encodeURIComponent(name)}/quarantine`, { method: "POST", body: { reason: reason.value } });
      toast(`${name} quarantined`);
      await reload();
    } catch (err) {
      status.replaceChildren(problem(err));
    }
  });
  return card("Quarantine", h("p", { text: "Stops every version from running at once, on every node; callers get the reason." }), form);
}

function policyCard(name) {
  const box = card("Policy in force", h("p", { class: "muted", text: "Loading…" }));
  api(`/v1/tools/${encodeURIComponent(name)}/policy`).then((p) => {
    box.replaceChildren(h("h2", { text: "Policy in force" }),
      facts([["Hash", digest(p.policy_hash, 16)], ["Source", p.default ? "the closed default (no policy file for this tool)" : "set by an operator"]]),
      h("pre", { class: "policy", id: "policy-text" }, p.policy || "# the closed default: no network, no files, default limits"),
      policyHistory(name, p));
  }).catch((e) => box.replaceChildren(h("h2", { text: "Policy in force" }), problem(e)));
  return box;
}

function tryCard(name, newest) {
  const form = schemaForm(newest.input_schema);
  const result = h("div", { class: "result", "aria-live": "polite" });
  const run = h("button", { type: "submit", class: "primary", id: "invoke" }, "Invoke");
  const f = h("form", { id: "try-form" }, form.node, run);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(result);
    let input;
    try {
      input = form.value();
    } catch (err) {
      result.append(problem({ code: "invalid_input", message: err.message }));
      return;
    }
    run.disabled = true;
    result.append(h("p", { class: "muted", text: "Running…" }));
    try {
      const r = await api(`/v1/tools/${encodeURIComponent(name)}/invoke`, { method: "POST", body: input, outcomes: true });
      clear(result);
      if (r.receipt) keepReceipt(r.execution_id, r.receipt);
      result.append(answer(r));
    } catch (err) {
      clear(result);
      result.append(problem(err));
    } finally {
      run.disabled = false;
    }
  });
  return card("Try it", h("p", { class: "hint", text: "Runs the newest version under its policy, as you: the call is recorded like any other." }), f, result);
}

/** An invoke's answer: outcome, output or error, usage, receipt. */
export function answer(r) {
  return h("div", { class: "answer", "data-outcome": r.outcome },
    h("p", {}, outcome(r.outcome), " ", h("a", { href: `#/executions/${encodeURIComponent(r.execution_id)}`, class: "execution-link", text: r.execution_id })),
    r.error ? h("pre", { class: "error-text", text: r.error }) : null,
    r.output !== undefined && r.output !== null ? h("div", {}, h("h3", { text: "Output" }), json(r.output)) : null,
    r.usage ? facts([["Time", fmtUs(r.usage.wall_time_us)], ["Fuel", fmtNum(r.usage.fuel_consumed)], ["Peak memory", fmtBytes(r.usage.peak_memory_bytes)], ["Denials", String(r.usage.denials.length)]]) : null,
    r.receipt ? receiptBox(r.receipt, r.execution_id) : null);
}

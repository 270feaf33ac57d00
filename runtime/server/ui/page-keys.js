// Keys and callers: API keys (create, with the secret shown once; revoke; expiry; last use) and
// each caller's quota use today.

import { h, clear, card, table, fmtTime, fmtAgo, badge, problem, toast, fmtNum } from "./dom.js";
import { api } from "./api.js";

const ROLES = ["invoker", "publisher", "auditor", "admin"];

export function render(main) {
  const list = h("div", { class: "slot", "aria-busy": "true" }, h("p", { class: "muted", text: "Loading keys…" }));
  const quota = h("div", { class: "quota", "aria-live": "polite" });
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Keys & callers" })), createCard(() => load()), card("API keys", list), callerCard(quota), quota);
  const load = async () => {
    try {
      const { keys } = await api("/v1/keys");
      list.removeAttribute("aria-busy");
      list.replaceChildren(table([
        { label: "Name", cell: (k) => h("span", { class: "key-name", text: k.name }) },
        { label: "Id", cell: (k) => h("code", { text: k.id }) },
        { label: "Role", cell: (k) => k.role },
        { label: "State", cell: (k) => badge(k.state, k.state === "active" ? "ok" : "bad") },
        { label: "Created", cell: (k) => fmtTime(k.created_at_ms) },
        { label: "Expires", cell: (k) => k.expires_at_ms ? fmtTime(k.expires_at_ms) : "never" },
        { label: "Last used", cell: (k) => h("span", { title: k.last_used_at_ms ? fmtTime(k.last_used_at_ms) : "" , text: fmtAgo(k.last_used_at_ms) }) },
        { label: "", cell: (k) => h("div", { class: "row-actions" },
          h("button", { type: "button", class: "quiet", onclick: () => showQuota(quota, k) }, "Quota"),
          k.state === "active" ? revokeButton(k, load) : null) },
      ], keys, { class: "keys", rowAttrs: (k) => ({ "data-key": k.name }) }));
    } catch (e) {
      list.replaceChildren(problem(e));
    }
  };
  load();
  return null;
}

function revokeButton(k, reload) {
  const b = h("button", { type: "button", class: "danger", "data-revoke": k.name }, "Revoke");
  let armed = false;
  b.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      b.textContent = "Confirm revoke";
      setTimeout(() => { armed = false; b.textContent = "Revoke"; }, 5000);
      return;
    }
    try {
      await api(`/v1/keys/${encodeURIComponent(k.id)}`, { method: "DELETE" });
      toast(`Key ${k.name} revoked: it is refused from now on, on every node.`);
      await reload();
    } catch (e) {
      toast(e.message, "bad");
    }
  });
  return b;
}

function createCard(reload) {
  const name = h("input", { id: "k-name", type: "text", required: true, maxlength: 64, autocomplete: "off", placeholder: "e.g. ci-deploy" });
  const role = h("select", { id: "k-role" }, ROLES.map((r) => h("option", { value: r, text: r })));
  const desc = h("input", { id: "k-desc", type: "text", maxlength: 200, placeholder: "what it is for" });
  const expires = h("input", { id: "k-expires", type: "date" });
  const out = h("div", { class: "created", "aria-live": "polite" });
  const form = h("form", { id: "key-form", class: "filters" },
    h("div", { class: "field" }, h("label", { for: "k-name", text: "Name" }), name),
    h("div", { class: "field" }, h("label", { for: "k-role", text: "Role" }), role),
    h("div", { class: "field" }, h("label", { for: "k-desc", text: "Description" }), desc),
    h("div", { class: "field" }, h("label", { for: "k-expires", text: "Expires (optional)" }), expires),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary", text: "Create key" })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(out);
    try {
      const body = { name: name.value.trim(), role: role.value, description: desc.value };
      // The API takes a lifetime in seconds: until the end of the chosen day, here.
      if (expires.value) body.expires_in_secs = Math.ceil((new Date(`${expires.value}T23:59:59`).getTime() - Date.now()) / 1000);
      const k = await api("/v1/keys", { method: "POST", body });
      const secret = h("code", { class: "secret", id: "new-secret", text: k.secret });
      const copy = h("button", { type: "button", class: "quiet", id: "copy-secret" }, "Copy");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(k.secret);
          copy.textContent = "Copied";
        } catch {
          const range = document.createRange();
          range.selectNodeContents(secret);
          getSelection().removeAllRanges();
          getSelection().addRange(range);
          copy.textContent = "Selected: press Ctrl+C";
        }
      });
      out.append(h("div", { class: "banner ok", role: "status" },
        h("p", {}, h("strong", { text: `Key ${k.name} created.` }), " Its secret is shown this once: copy it now. The server keeps only its hash."),
        h("div", { class: "secret-row" }, secret, copy),
        h("button", { type: "button", class: "quiet", onclick: () => clear(out) }, "I have copied it")));
      form.reset();
      await reload();
    } catch (err) {
      out.append(problem(err));
    }
  });
  return card("New API key", form, out);
}

/** Any caller's quota by its id: a key id, or `issuer#subject` for a caller from the identity
 * provider (as the record names it). */
function callerCard(box) {
  const who = h("input", { id: "c-id", type: "text", required: true, autocomplete: "off", placeholder: "key id, or issuer#subject as the record names the caller" });
  const form = h("form", { id: "caller-form", class: "filters" },
    h("div", { class: "field" }, h("label", { for: "c-id", text: "Caller" }), who),
    h("div", { class: "field actions" }, h("button", { type: "submit", class: "primary", text: "Show quota" })));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = who.value.trim();
    showQuota(box, { id, name: id });
  });
  return card("Callers", h("p", { class: "hint", text: "Callers from your identity provider have no key here: look one up by the id the record gives it." }), form);
}

async function showQuota(box, k) {
  box.replaceChildren(card(`Quota of ${k.name}`, h("p", { class: "muted", text: "Loading…" })));
  try {
    const q = await api(`/v1/quotas/${encodeURIComponent(k.id)}`);
    const limit = (l, key) => (l && l[key] !== undefined && l[key] !== null ? fmtNum(l[key]) : "unlimited");
    box.replaceChildren(card(`Quota of ${k.name} (${q.day}, resets in ${Math.round(q.resets_in_secs / 3600)} h)`, table([
      { label: "Scope", cell: (s) => s.scope || "all tools" },
      { label: "Calls today", cell: (s) => `${fmtNum(s.executions)} / ${limit(s.limits, "executions_per_day")}`, class: "num" },
      { label: "Fuel today", cell: (s) => `${fmtNum(s.fuel)} / ${limit(s.limits, "fuel_per_day")}`, class: "num" },
      { label: "Running", cell: (s) => `${s.running} / ${limit(s.limits, "concurrent")}`, class: "num" },
    ], q.scopes, { empty: "No use today." })));
  } catch (e) {
    box.replaceChildren(card(`Quota of ${k.name}`, problem(e)));
  }
}

// Alerts: what the detection rules and the server raised, newest first, with each delivery to
// the configured webhooks (delivered, pending with its next attempt, or given up and why), and
// the callers suspended now. Admins send a test alert and lift suspensions here. Refreshed
// every five seconds.

import { h, card, table, fmtTime, fmtAgo, badge, problem, toast, json, fill } from "./dom.js";
import { api } from "./api.js";

const REFRESH_MS = 5000;
const SEVERITY = { critical: "bad", warning: "warn", info: "" };
const DELIVERY = { delivered: "ok", pending: "warn", failed: "bad" };

export function render(main, { me }) {
  const admin = me.may.includes("manage_keys");
  const alerts = h("div", { class: "slot", "aria-busy": "true", "aria-live": "polite" }, h("p", { class: "muted", text: "Loading alerts…" }));
  const suspended = h("div", { class: "slot", "aria-busy": "true" }, h("p", { class: "muted", text: "Loading suspensions…" }));
  const head = h("div", { class: "page-head" }, h("h1", { text: "Alerts" }));
  if (me.may.includes("set_policy")) {
    head.append(h("button", { type: "button", id: "test-alert", onclick: () => sendTest(load) }, "Send a test alert"));
  }
  main.append(
    head,
    h("p", { class: "hint", text: "Raised by the detection rules (docs/detection.md) or the server, each an event in the audit log, delivered signed to every webhook until a receiver takes it." }),
    card("Recent alerts", alerts),
    card("Suspended callers", suspended));
  let stopped = false;
  let timer;
  const load = async () => {
    clearTimeout(timer);
    try {
      const [{ alerts: list }, { suspensions }] = await Promise.all([api("/v1/alerts?limit=100"), api("/v1/suspensions")]);
      if (stopped) return;
      alerts.removeAttribute("aria-busy");
      suspended.removeAttribute("aria-busy");
      fill(alerts, table([
        { label: "Raised", cell: (v) => h("span", { title: v.id, text: fmtTime(v.at_ms) }) },
        { label: "Severity", cell: (v) => badge(v.severity, SEVERITY[v.severity] || "") },
        { label: "Rule", cell: (v) => v.rule },
        { label: "What", cell: (v) => v.summary },
        { label: "Deliveries", cell: (v) => deliveries(v.deliveries) },
        { label: "Evidence", cell: (v) => json(v.details) },
      ], list, { class: "alerts", empty: "No alert has been raised.", rowAttrs: (v) => ({ "data-alert": v.id, "data-rule": v.rule }) }));
      fill(suspended, table([
        { label: "Caller", cell: (s) => h("code", { text: s.caller }) },
        { label: "Since", cell: (s) => fmtTime(s.at_ms) },
        { label: "Until", cell: (s) => badge(fmtTime(s.until_ms), "warn") },
        { label: "By", cell: (s) => s.by },
        { label: "Why", cell: (s) => s.reason },
        { label: "", cell: (s) => admin ? h("button", { type: "button", class: "danger", "data-lift": s.caller, onclick: () => lift(s, load) }, "Lift") : "" },
      ], suspensions, { class: "suspensions", empty: "No caller is suspended.", rowAttrs: (s) => ({ "data-suspended": s.caller }) }));
    } catch (e) {
      if (!stopped) fill(alerts, problem(e));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  return () => { stopped = true; clearTimeout(timer); };
}

function deliveries(list) {
  if (!list.length) return h("span", { class: "muted", text: "no webhook configured" });
  return h("ul", { class: "plain" }, ...list.map((d) => {
    const when = d.state === "delivered" ? `delivered ${fmtAgo(d.delivered_at_ms)}`
      : d.state === "pending" ? `attempt ${d.attempts + 1} at ${fmtTime(d.next_at_ms)}`
      : `given up after ${d.attempts}`;
    return h("li", { "data-webhook": d.webhook, "data-state": d.state },
      h("strong", { text: d.webhook }), " ", badge(d.state, DELIVERY[d.state]), " ",
      h("span", { class: "muted", text: when }),
      d.last_error ? h("div", { class: "muted", text: d.last_error }) : "");
  }));
}

async function sendTest(reload) {
  try {
    const alert = await api("/v1/alerts/test", { method: "POST" });
    toast(`Test alert ${alert.id} raised: it goes to every configured webhook.`);
  } catch (e) {
    toast(e.message, "bad");
  }
  await reload();
}

async function lift(s, reload) {
  try {
    await api(`/v1/suspensions?caller=${encodeURIComponent(s.caller)}`, { method: "DELETE" });
    toast(`Lifted: ${s.caller} may call again.`);
  } catch (e) {
    toast(e.message, "bad");
  }
  await reload();
}

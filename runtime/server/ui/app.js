// The console's shell: sign-in, the navigation (only the sections the signed-in caller's role
// may read), and the router between pages (#/section/detail).

import { h, clear, problem } from "./dom.js";
import { api, session, endSession, whenUnauthorized } from "./api.js";
import { signInPage, finishOidc } from "./signin.js";
import * as overview from "./page-overview.js";
import * as tools from "./page-tools.js";
import * as executions from "./page-executions.js";
import * as audit from "./page-audit.js";
import * as keys from "./page-keys.js";
import * as approvals from "./page-approvals.js";
import * as alerts from "./page-alerts.js";

const SECTIONS = [
  { path: "overview", label: "Overview", page: overview, needs: ["read_executions"] },
  { path: "tools", label: "Tools", page: tools, needs: ["list_tools"] },
  { path: "executions", label: "Executions", page: executions, needs: ["read_executions"] },
  { path: "audit", label: "Audit", page: audit, needs: ["read_executions"] },
  { path: "approvals", label: "Approvals", page: approvals, needs: [] },
  { path: "alerts", label: "Alerts", page: alerts, needs: ["verify_audit"] },
  { path: "keys", label: "Keys & callers", page: keys, needs: ["manage_keys"] },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let config = { providers: [] };
let me = null;
let leave = null;
let routed = false;

function allowed(section) {
  return section.needs.every((a) => me.may.includes(a));
}

function signOut(notice) {
  endSession();
  me = null;
  if (leave) leave();
  leave = null;
  clear(nav);
  clear(who);
  signInPage(main, config, start, notice);
}

whenUnauthorized((err) => signOut(`Signed out: ${err.message}`));

async function start() {
  try {
    me = await api("/v1/whoami");
  } catch (err) {
    // A 401 signs out (api.js); anything else (the server unreachable) keeps the credential
    // and offers to try again.
    if (err.status !== 401) {
      clear(main);
      main.append(problem(err), h("button", { type: "button", class: "primary", onclick: start }, "Try again"));
    }
    return;
  }
  clear(nav);
  const sections = SECTIONS.filter(allowed);
  for (const s of sections) nav.append(h("a", { href: `#/${s.path}`, "data-section": s.path, text: s.label }));
  clear(who);
  who.append(
    h("span", { class: "me", title: me.id }, h("span", { class: "me-name", text: me.name }), " ", h("span", { class: "badge role", text: me.roles.join(", ") })),
    h("button", { type: "button", class: "quiet", id: "sign-out", onclick: () => signOut("Signed out.") }, "Sign out"));
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    location.replace(`#/${(sections[0] || { path: "overview" }).path}`);
  }
  route();
}

function route() {
  if (!me) return;
  if (leave) leave();
  leave = null;
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  } catch {
    parts = ["not-found"];
  }
  const section = SECTIONS.find((s) => s.path === parts[0]);
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.section === parts[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clear(main);
  if (!section) {
    main.append(h("h1", { text: "Not found" }), h("p", {}, "No such page. ", h("a", { href: "#/overview", text: "Back to the overview" })));
    return;
  }
  if (!allowed(section)) {
    main.append(h("h1", { text: section.label }), h("p", { class: "problem", text: `Your role (${me.roles.join(", ")}) may not see this section.` }));
    return;
  }
  document.title = `${section.label} · cordon`;
  try {
    leave = section.page.render(main, { me, config, params: parts.slice(1) }) || null;
  } catch (err) {
    main.append(problem(err));
  }
  // Moving between pages puts the focus on the new content (a screen reader reads it; Tab
  // goes on from there); a fresh load leaves it at the top, where Tab reaches the skip link.
  if (routed) main.focus({ preventScroll: true });
  routed = true;
}

window.addEventListener("hashchange", route);

(async () => {
  try {
    config = await api("/ui/config.json", { noSignOut: true });
  } catch {
    config = { providers: [] };
  }
  try {
    if (await finishOidc(config)) return start();
  } catch (err) {
    return signInPage(main, config, start, err.message);
  }
  if (session()) start();
  else signInPage(main, config, start);
})();

// Signing in: with an API key, or through an identity provider with the authorization code
// flow and PKCE (RFC 7636, S256), the code exchanged by this page for an access token. The
// verifier and state stay in session storage for the round trip and are deleted after it.

import { h, add, clear, problem } from "./dom.js";
import { api, startSession, endSession, ApiError } from "./api.js";

const PKCE = "cordon.pkce";

function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(n) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

function redirectUri() {
  return `${location.origin}/ui/`;
}

async function startOidc(provider, resource) {
  const verifier = random(32);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = random(16);
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, issuer: provider.issuer }));
  const u = new URL(provider.authorization_endpoint);
  u.searchParams.set("response_type", "code");
  u.searchParams.set("client_id", provider.client_id);
  u.searchParams.set("redirect_uri", redirectUri());
  u.searchParams.set("scope", provider.scopes.join(" "));
  u.searchParams.set("state", state);
  u.searchParams.set("code_challenge", challenge);
  u.searchParams.set("code_challenge_method", "S256");
  if (resource) u.searchParams.set("resource", resource);
  location.assign(u.toString());
}

/**
 * Finishes a sign-in the identity provider sent back here (`?code=...&state=...`): true when a
 * session was started. Throws with what went wrong; the address bar is cleaned either way.
 */
export async function finishOidc(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  history.replaceState(null, "", `${location.pathname}#/overview`);
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  } catch {
    pending = null;
  }
  // The state first: an answer this tab did not ask for (a crafted link) is refused as such,
  // whatever it says, and leaves a sign-in in progress alone.
  if (!pending || pending.state !== params.get("state")) {
    throw new Error("this sign-in was not started from this tab (its state does not match); sign in again");
  }
  sessionStorage.removeItem(PKCE);
  if (params.has("error")) {
    throw new Error(`the identity provider refused the sign-in: ${params.get("error")}`);
  }
  // RFC 9207: when the provider names itself in the answer, it must be the one asked.
  if (params.has("iss") && params.get("iss") !== pending.issuer) {
    throw new Error("the answer comes from another identity provider than the one asked; sign in again");
  }
  const provider = config.providers.find((p) => p.issuer === pending.issuer && p.client_id);
  if (!provider) throw new Error("the identity provider of this sign-in is no longer configured");
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri(),
    client_id: provider.client_id,
    code_verifier: pending.verifier,
  });
  if (config.resource) form.set("resource", config.resource);
  let res;
  try {
    res = await fetch(provider.token_endpoint, { method: "POST", body: form, credentials: "omit", cache: "no-store" });
  } catch {
    throw new Error("the identity provider's token endpoint does not answer (or does not allow this origin)");
  }
  const tok = await res.json().catch(() => ({}));
  if (!res.ok || !tok.access_token) {
    throw new Error(`the identity provider did not give a token: ${tok.error || res.status} ${tok.error_description || ""}`.trim());
  }
  const expires = tok.expires_in ? Date.now() + tok.expires_in * 1000 : undefined;
  startSession({ kind: "token", credential: tok.access_token, issuer: provider.issuer, expires_at: expires });
  return true;
}

/** The sign-in page. `done()` is called once a credential works. */
export function signInPage(main, config, done, notice) {
  clear(main);
  const keyInput = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false", required: true, placeholder: "cordon_…", "aria-describedby": "key-help" });
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const form = h("form", { class: "signin-form", id: "signin-key" },
    h("label", { for: "api-key", text: "API key" }),
    keyInput,
    h("p", { id: "key-help", class: "hint", text: "The demo printed its admin key (also in .cordon-demo/admin.key); an operator makes keys with cordon keys create. Kept in this tab only, until you sign out or close it." }),
    h("button", { type: "submit", class: "primary", text: "Sign in" }),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(status);
    startSession({ kind: "key", credential: keyInput.value.trim() });
    try {
      await api("/v1/whoami", { noSignOut: true });
      keyInput.value = "";
      done();
    } catch (err) {
      endSession();
      status.append(problem(err instanceof ApiError && err.status === 401
        ? { code: "unauthorized", message: "this key is not valid here (unknown, revoked or expired)" }
        : err));
    }
  });
  const providers = config.providers.map((p) => p.client_id
    ? h("button", { type: "button", class: "provider", "data-issuer": p.issuer, onclick: () => startOidc(p, config.resource) }, "Sign in with ", h("strong", { text: new URL(p.issuer).host }))
    : h("p", { class: "problem", text: `Sign-in through ${p.issuer} is unavailable: ${p.error}` }));
  add(main, h("div", { class: "signin" },
    h("h1", { text: "Sign in to cordon" }),
    notice ? h("div", { class: "problem", role: "alert", text: notice }) : null,
    form,
    providers.length ? h("div", { class: "providers" }, h("p", { class: "or", text: "or" }), providers) : null));
  keyInput.focus();
}

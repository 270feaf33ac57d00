// The API client. The credential (an API key or a token) lives in this tab's session storage
// and goes only in the Authorization header of requests to this server: never a cookie, never a
// URL, never the page.

const KEY = "cordon.session";

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the server answered ${status}`);
    this.status = status;
    this.code = e.code || `http_${status}`;
    this.request_id = e.request_id;
    this.quota = e.quota;
  }
}

export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (s && s.expires_at && Date.now() > s.expires_at) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function startSession(s) {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

/** Forgets the credential and everything kept with it. */
export function endSession() {
  sessionStorage.clear();
}

let onUnauthorized = () => {};
export function whenUnauthorized(f) {
  onUnauthorized = f;
}

/** Calls the API; JSON in and out. Throws ApiError with the server's code and message. */
export async function api(path, opts = {}) {
  const s = session();
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  if (s) headers.Authorization = `Bearer ${s.credential}`;
  let body = opts.body;
  if (body !== undefined && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store", credentials: "omit", signal: opts.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { error: { code: "unreachable", message: "the server does not answer; check that it is running and reachable" } });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  // An invoke answers a call that ran and failed (a tool error, a limit) with its outcome and
  // record, under a 4xx or 5xx status: that is an answer, not a refusal.
  if (!res.ok && !(opts.outcomes && data && data.execution_id && data.outcome)) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !opts.noSignOut) onUnauthorized(err);
    throw err;
  }
  return data;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const t = q.toString();
  return t ? `?${t}` : "";
}

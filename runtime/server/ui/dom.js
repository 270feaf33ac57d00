// Building the page. Every string from the server (tool names, descriptions, schema titles,
// outputs, errors, reasons, key names) becomes a text node: nothing here parses HTML, and the
// page's Trusted Types policy refuses any code that would.

const SVG = "http://www.w3.org/2000/svg";

function put(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "href") el.setAttribute("href", safeHref(String(v)));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h("td", {class: "x"}, "text", otherNode). */
export function h(tag, attrs, ...children) {
  return put(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return put(document.createElementNS(SVG, tag), attrs, children);
}

/** Links go to this console's routes, blob downloads, this server's paths or http(s)
 * addresses; nothing else (no `javascript:`, no protocol-relative `//host`). */
function safeHref(v) {
  if (v.startsWith("#") || v.startsWith("blob:") || /^https?:\/\//.test(v) || /^\/(?!\/)/.test(v)) return v;
  return "#";
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtTime(ms) {
  if (ms === undefined || ms === null) return "—";
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(ms) {
  if (!ms) return "never";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function fmtUs(us) {
  if (us === undefined || us === null) return "—";
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

export function fmtNum(n) {
  if (n === undefined || n === null) return "—";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return "—";
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A long hex digest or key id, shortened, the whole in its title and copyable. */
export function digest(value, keep = 12) {
  if (!value) return h("span", { class: "muted", text: "—" });
  const short = value.length > keep + 1 ? `${value.slice(0, keep)}…` : value;
  return h("code", { class: "digest", title: value, text: short });
}

/** An outcome as a colored badge with its name. */
export function outcome(name) {
  return h("span", { class: `badge o-${name}`, text: name });
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""}`, text });
}

/** A definition list from [label, value] pairs. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

/** A table: columns [{label, cell(row) -> node|string, class}], rows. */
export function table(columns, rows, opts = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label))));
  const body = h("tbody", {}, rows.map((r) => {
    const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : {}, columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.cell(r))));
    return tr;
  }));
  if (!rows.length && opts.empty) body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty", text: opts.empty })));
  return h("div", { class: "table-wrap" }, h("table", { class: opts.class || "" }, opts.caption ? h("caption", { text: opts.caption }) : null, head, body));
}

/** A section with a heading. */
export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", { text: title }) : null, children);
}

let toastTimer;
/** A short message in the corner, read out by screen readers. */
export function toast(text, kind) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = `toast show ${kind || ""}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = "toast"; }, 5000);
}

/** A pretty-printed JSON value in a <pre>, as text. */
export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** The explanation of a failed API call, for the page. */
export function problem(err) {
  const p = h("div", { class: "problem", role: "alert" });
  p.append(h("strong", { text: err.code ? `${err.code}: ` : "Error: " }), err.message || String(err));
  if (err.request_id) p.append(h("span", { class: "muted", text: ` (request ${err.request_id})` }));
  return p;
}

const present = (kids) => kids.flat(Infinity).filter((k) => k !== undefined && k !== null && k !== false);

/** Appends the children given, leaving out absent ones (null, false). */
export function add(el, ...kids) {
  el.append(...present(kids));
  return el;
}

/** Replaces the children with those given, leaving out absent ones. */
export function fill(el, ...kids) {
  el.replaceChildren(...present(kids));
  return el;
}

/** Cursor paging over a newest-first list (`next_cursor` of each page): where the reader is,
 * and the Newer / Older buttons. */
export class Pages {
  constructor() {
    this.reset();
  }

  /** Back to the first page (new filters). */
  reset() {
    this.cursors = [null];
    this.page = 0;
    this.next = null;
  }

  /** The cursor to ask the current page with. */
  cursor() {
    return this.cursors[this.page];
  }

  /** Draws the buttons into `el` for a page whose answer said `next`; `load` shows the page
   * moved to. */
  draw(el, next, load) {
    this.next = next;
    el.replaceChildren(
      h("button", { type: "button", class: "quiet", disabled: this.page === 0, onclick: () => { this.page -= 1; load(); } }, "← Newer"),
      h("span", { class: "muted", text: ` page ${this.page + 1} ` }),
      h("button", { type: "button", class: "quiet", disabled: !next, onclick: () => { this.cursors[this.page + 1] = this.next; this.page += 1; load(); } }, "Older →"));
  }
}

// A form for a tool's input, built from its JSON Schema: a field per property (text, number,
// checkbox, choice; JSON for nested values), required ones marked, each described by the
// schema's text shown as text. The raw JSON can always be edited instead.

import { h } from "./dom.js";

let seq = 0;

/** Returns {node, value()} where value() gives the input object or throws with what is wrong. */
export function schemaForm(schema) {
  const props = (schema && schema.type === "object" && schema.properties) || null;
  const required = new Set((schema && schema.required) || []);
  const raw = h("textarea", { class: "raw", rows: 6, spellcheck: "false", "aria-label": "Input as JSON" }, "{}");
  if (!props || !Object.keys(props).length) {
    return { node: h("div", { class: "schema-form" }, h("label", { text: "Input (JSON)" }), raw), value: () => parseJson(raw.value, "the input") };
  }
  const fields = [];
  const box = h("div", { class: "fields" });
  for (const [name, p] of Object.entries(props)) {
    const id = `f${++seq}`;
    // A nullable field (`["string", "null"]`) is edited as its other type; left empty, it is
    // left out.
    const type = Array.isArray(p.type) ? p.type.find((t) => t !== "null") : p.type;
    const kind = Array.isArray(p.enum) ? "enum" : type;
    let input;
    if (kind === "enum") {
      input = h("select", { id }, required.has(name) ? null : h("option", { value: "", text: "—" }), p.enum.map((v) => h("option", { value: JSON.stringify(v), text: String(v) })));
    } else if (kind === "boolean") {
      input = h("input", { id, type: "checkbox", checked: p.default === true });
    } else if (kind === "integer" || kind === "number") {
      input = h("input", { id, type: "number", step: kind === "integer" ? "1" : "any", min: p.minimum, max: p.maximum, placeholder: p.default !== undefined ? String(p.default) : "" });
    } else if (kind === "string") {
      const long = /text|body|content|script|query/i.test(name);
      input = long ? h("textarea", { id, rows: 3 }) : h("input", { id, type: "text", placeholder: p.default !== undefined ? String(p.default) : "" });
    } else {
      input = h("textarea", { id, rows: 3, class: "mono", placeholder: "JSON" });
    }
    input.dataset.field = name;
    const hint = p.description ? h("span", { class: "hint", id: `${id}-hint`, text: p.description }) : null;
    if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
    if (required.has(name)) input.setAttribute("aria-required", "true");
    box.append(h("div", { class: "field" }, h("label", { for: id }, p.title || name, required.has(name) ? h("span", { class: "req", "aria-hidden": "true", text: " *" }) : null), input, hint));
    fields.push({ name, kind, input, required: required.has(name) });
  }
  const mode = h("input", { type: "checkbox", id: `f${++seq}` });
  const rawBox = h("div", { class: "raw-box", hidden: true }, raw);
  mode.addEventListener("change", () => {
    if (mode.checked) {
      try {
        raw.value = JSON.stringify(collect(fields), null, 2);
      } catch {
        // Leave the JSON as it was.
      }
    }
    rawBox.hidden = !mode.checked;
    box.hidden = mode.checked;
  });
  const title = schema.title ? h("p", { class: "schema-title", text: schema.title }) : null;
  const node = h("div", { class: "schema-form" }, title, box, h("label", { class: "inline" }, mode, " Edit as JSON"), rawBox);
  return { node, value: () => (mode.checked ? parseJson(raw.value, "the input") : collect(fields)) };
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${e.message}`);
  }
}

function collect(fields) {
  const out = {};
  for (const f of fields) {
    const el = f.input;
    if (f.kind === "boolean") {
      out[f.name] = el.checked;
      continue;
    }
    const v = el.value;
    if (v === "") {
      if (f.required) throw new Error(`${f.name} is required`);
      continue;
    }
    if (f.kind === "enum") out[f.name] = JSON.parse(v);
    else if (f.kind === "integer") {
      if (!/^-?\d+$/.test(v)) throw new Error(`${f.name} must be a whole number`);
      out[f.name] = Number(v);
    } else if (f.kind === "number") out[f.name] = Number(v);
    else if (f.kind === "string") out[f.name] = v;
    else out[f.name] = parseJson(v, f.name);
  }
  return out;
}

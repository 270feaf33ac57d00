// Checks, in this page and with nothing but the log key, what the server signed (the same
// checks as `cordon receipt verify` and `cordon audit verify-checkpoint`):
// - a record's chain hash: sha256(prev_hash "\n" seq "\n" record);
// - a signed statement: ed25519 over "cordon <kind> v1\n" + the statement's canonical JSON;
// - a receipt: its record's hash, its batch's signature, and the RFC 6962 audit path from the
//   record's leaf to the batch's signed root.

const enc = new TextEncoder();

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text) {
  if (typeof text !== "string" || !/^[0-9a-f]{64}$/.test(text)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function unb64(text, url) {
  let t = url ? text.replace(/-/g, "+").replace(/_/g, "/") : text;
  while (t.length % 4) t += "=";
  const bin = atob(t);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** The chain hash of a record: what `link_hash` computes on the server. */
export async function linkHash(prev, seq, body) {
  return hex(await sha256(enc.encode(`${prev}\n${seq}\n${body}`)));
}

/** Compact JSON with object keys sorted at every level (the signed statements' form). */
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Whether `signed` is a `kind` signed by `keyId` (`ed25519:` + base64url). */
export async function verifySigned(signed, kind, keyId) {
  if (!signed || signed.kind !== kind) return { ok: false, why: `not a signed ${kind}` };
  if (signed.key !== keyId) return { ok: false, why: `signed by ${signed.key}, not the log key ${keyId}` };
  if (!keyId.startsWith("ed25519:")) return { ok: false, why: "the log key is not an ed25519 key" };
  let key;
  try {
    key = await crypto.subtle.importKey("raw", unb64(keyId.slice(8), true), { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    return { ok: false, why: `this browser cannot check ed25519 signatures (${e.message})` };
  }
  const message = enc.encode(`cordon ${kind} v1\n${canonical(signed.statement)}`);
  let good = false;
  try {
    good = await crypto.subtle.verify({ name: "Ed25519" }, key, unb64(signed.signature, false), message);
  } catch {
    good = false;
  }
  return good ? { ok: true } : { ok: false, why: "the signature does not match the statement" };
}

async function node(left, right) {
  const b = new Uint8Array(65);
  b[0] = 1;
  b.set(left, 1);
  b.set(right, 33);
  return sha256(b);
}

/** RFC 9162 section 2.1.3.2: does `path` lead from leaf `index` of a `size`-leaf tree to `root`? */
export async function inclusion(leafHash, index, size, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  const leaf = new Uint8Array(33);
  leaf.set(leafHash, 1);
  let r = await sha256(leaf);
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && hex(r) === hex(root);
}

/**
 * Every check of a receipt, in order, each `{what, ok, why}`; the receipt holds when all do.
 * `logKey` is `/v1/audit/key`'s answer.
 */
export async function verifyReceipt(receipt, logKey, executionId) {
  const checks = [];
  const add = (what, ok, why) => checks.push({ what, ok, why });
  const again = await linkHash(receipt.prev_hash, receipt.seq, receipt.record);
  add("The record hashes to its chain hash", again === receipt.hash, again === receipt.hash ? "" : "the record was changed after it was signed");
  let rec = null;
  try {
    rec = JSON.parse(receipt.record);
  } catch {
    rec = null;
  }
  if (executionId) add("The record is this execution's", !!rec && rec.id === executionId, rec ? `it is ${rec.id}` : "the record is not JSON");
  const sig = await verifySigned(receipt.batch, "batch", logKey.key);
  add("The batch is signed by the log key", sig.ok, sig.why);
  const b = (receipt.batch && receipt.batch.statement) || {};
  add("The batch is of this log", b.log_id === receipt.log_id && receipt.log_id === logKey.log_id, `the batch names log ${b.log_id}`);
  const size = b.size - b.first_seq + 1;
  const index = receipt.seq - b.first_seq;
  const leaf = unhex(receipt.hash);
  const root = unhex(b.root);
  const path = (receipt.path || []).map(unhex);
  const inTree = !!leaf && !!root && path.every(Boolean) && size > 0 && index >= 0 && await inclusion(leaf, index, size, path, root);
  add("The audit path leads to the batch's signed root", inTree, inTree ? "" : `record ${receipt.seq} is not in records ${b.first_seq} to ${b.size}`);
  return { ok: checks.every((c) => c.ok), checks, batch: b };
}

/**
 * A listed record's own check: its chain hash recomputed from its content as the server
 * serialized it (the record minus `seq`, `prev_hash` and `hash`, fields in the order given).
 */
export async function verifyRecordLink(record) {
  // A whole number beyond 2^53 does not survive JSON.parse: the record as shown is not the
  // record as hashed, so this check cannot be made here (the receipt's is, from the exact text).
  const unsafe = (v) => (typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v))
    || (v && typeof v === "object" && Object.values(v).some(unsafe));
  if (unsafe(record)) return null;
  const body = {};
  for (const [k, v] of Object.entries(record)) {
    if (k !== "seq" && k !== "prev_hash" && k !== "hash") body[k] = v;
  }
  const again = await linkHash(record.prev_hash, record.seq, JSON.stringify(body));
  return again === record.hash;
}

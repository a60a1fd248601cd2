// @kbrel/client: the consumer protocol of `kbrel sync` (docs/protocol.md) for Node >= 20 and
// evergreen browsers. No runtime dependency: fetch, WebCrypto (sha256, Ed25519) and streams are
// built in. Stores: memory (here), IndexedDB (here, browsers), a folder (./folder.js, Node, the
// layout of a `kbrel sync` cache).

export const CACHE_FORMAT = "kbrel-cache/1";
const SCHEMA_VERSION = 1;
const INDEX = "index.json";
const SIG = "index.json.sig";
const ROTATION_CONTEXT = "kbrel next-key endorsement v1:";
const INDEX_LIMIT = 64 << 20;
const SIG_LIMIT = 1 << 20;
const MANIFEST_LIMIT = 256 << 20;
const DIFF_LIMIT = 256 << 20;
const DELTA_BLOB_LIMIT = 64 << 20;
/** The default `maxAssetSize`: 4 GiB, as `kbrel sync --max-asset-size` (assets stream to disk). */
export const DEFAULT_MAX_ASSET_SIZE = 4 * 2 ** 30;
/** The default `maxDocumentSize`: 64 MiB, as `kbrel sync --max-document-size`. */
export const DEFAULT_MAX_DOCUMENT_SIZE = 64 * 2 ** 20;

// --- errors -------------------------------------------------------------------------------

/**
 * Every failure: `check` names what failed, `url` the resource (when there is one), `refusal`
 * the refusal as data (`{ reason, ...fields }`, the names and fields of `kbrel sync --json`'s
 * `error.refusal`; null when there is no such refusal).
 */
export class KbrelError extends Error {
  constructor(check, message, { url = null, cause, refusal = null } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = "KbrelError";
    this.check = check;
    this.url = url;
    this.refusal = refusal;
  }
}
/** The transport failed (network, HTTP status, truncated or oversized body), after retries. */
export class FetchError extends KbrelError {
  constructor(message, opts) {
    super("fetch", message, opts);
    this.name = "FetchError";
    this.status = opts?.status ?? null;
  }
}
/** Bytes whose sha256 is not the one the index or manifest promised. */
export class IntegrityError extends KbrelError {
  constructor(message, opts) {
    super("sha256", message, opts);
    this.name = "IntegrityError";
    this.expected = opts?.expected ?? null;
    this.actual = opts?.actual ?? null;
  }
}
/** index.json.sig missing, by an untrusted key, or not matching index.json. */
export class SignatureError extends KbrelError {
  constructor(message, opts) {
    super("signature", message, opts);
    this.name = "SignatureError";
  }
}
/** A signed index past its `expires`. */
export class ExpiredError extends KbrelError {
  constructor(message, opts) {
    super("expires", message, opts);
    this.name = "ExpiredError";
  }
}
/** An index older than one already accepted, or a version lower than the one held. */
export class RollbackError extends KbrelError {
  constructor(message, opts) {
    super("rollback", message, opts);
    this.name = "RollbackError";
  }
}
/** A document that is not what the protocol allows (JSON, schema, unsafe paths…). */
export class FormatError extends KbrelError {
  constructor(message, opts) {
    super("format", message, opts);
    this.name = "FormatError";
  }
}
/** No version matches the requested exact version, dist-tag or range. */
export class VersionError extends KbrelError {
  constructor(message, opts) {
    super("version", message, opts);
    this.name = "VersionError";
  }
}
/** The caller's AbortSignal fired. */
export class AbortError extends KbrelError {
  constructor(message, opts) {
    super("abort", message, opts);
    this.name = "AbortError";
  }
}

// --- bytes, hashes, base64 ------------------------------------------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: false });

function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new KbrelError("crypto", "WebCrypto (crypto.subtle) is not available: use a secure context (https or localhost) or Node >= 20");
  return s;
}

// In Node (>= 20.16, which has process.getBuiltinModule) sha256 is node:crypto's: the same
// OpenSSL as WebCrypto's digest, without a thread-pool round trip per document. Browsers (no
// `process`) and older Node use WebCrypto.
const nodeCrypto = globalThis.process?.getBuiltinModule?.("node:crypto") ?? null;

/** Lowercase hex sha256 of bytes. */
export async function sha256Hex(bytes) {
  if (nodeCrypto) return nodeCrypto.createHash("sha256").update(bytes).digest("hex");
  const d = new Uint8Array(await subtle().digest("SHA-256", bytes));
  let s = "";
  for (const b of d) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * An incremental SHA-256 (`update(bytes)` any number of times, then `hex()`), for streams
 * where WebCrypto, which digests one whole buffer, would need the bytes held: node:crypto's
 * in Node, else this plain JavaScript one (FIPS 180-4; checked against node:crypto in the
 * unit tests).
 */
export function sha256Stream() {
  if (nodeCrypto) {
    const h = nodeCrypto.createHash("sha256");
    return { update(b) { h.update(b); return this; }, hex: () => h.digest("hex") };
  }
  return new Sha256();
}

const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 in plain JavaScript, incremental (see sha256Stream). */
export class Sha256 {
  constructor() {
    this.h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Int32Array(64);
    this.block = new Uint8Array(64);
    this.fill = 0; // bytes waiting in `block`
    this.length = 0; // bytes taken in total
  }
  update(bytes) {
    this.length += bytes.length;
    let at = 0;
    if (this.fill > 0) {
      const n = Math.min(64 - this.fill, bytes.length);
      this.block.set(bytes.subarray(0, n), this.fill);
      this.fill += n;
      at = n;
      if (this.fill < 64) return this;
      this.compress(this.block, 0);
      this.fill = 0;
    }
    for (; at + 64 <= bytes.length; at += 64) this.compress(bytes, at);
    if (at < bytes.length) {
      this.block.set(bytes.subarray(at), 0);
      this.fill = bytes.length - at;
    }
    return this;
  }
  compress(b, at) {
    const w = this.w, h = this.h;
    for (let i = 0; i < 16; i++, at += 4) w[i] = (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = h[0], b1 = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b1) ^ (a & c) ^ (b1 & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b1; b1 = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b1) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
  }
  hex() {
    const bits = this.length * 8;
    const pad = new Uint8Array(((this.fill < 56 ? 56 : 120) - this.fill) + 8);
    pad[0] = 0x80;
    const v = new DataView(pad.buffer);
    v.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    v.setUint32(pad.length - 4, bits >>> 0);
    const length = this.length;
    this.update(pad);
    this.length = length;
    let s = "";
    for (const x of this.h) s += (x >>> 0).toString(16).padStart(8, "0");
    return s;
  }
}

function b64decode(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64encode(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** `ed25519:<base64 of 32 bytes>` (prefix optional) → 32 bytes, or null. */
export function parsePublicKey(s) {
  if (typeof s !== "string") return null;
  const t = s.trim();
  const raw = b64decode(t.startsWith("ed25519:") ? t.slice(8) : t);
  return raw && raw.length === 32 ? raw : null;
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Ed25519 through WebCrypto (Node >= 20, Chromium >= 137, Firefox >= 129, Safari >= 17). */
async function webCryptoVerify(publicKey, signature, message) {
  let key;
  try {
    key = await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    if (e?.name === "NotSupportedError" || /Unrecognized|not supported/i.test(String(e?.message))) {
      throw new KbrelError("crypto", "this runtime's WebCrypto lacks Ed25519: pass `verifyEd25519` (e.g. `verifyAsync` of @noble/ed25519) to openDocs", { cause: e });
    }
    return false; // not a valid point
  }
  return subtle().verify({ name: "Ed25519" }, key, signature, message);
}

// --- semver (the rules of `kbrel sync`: Cargo's, see docs/protocol.md) ----------------------

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parse `1.2.3-pre+build` → {major, minor, patch, pre: [...]}, or null. */
export function parseVersion(v) {
  const m = SEMVER.exec(v);
  if (!m) return null;
  return { major: +m[1], minor: +m[2], patch: +m[3], pre: m[4] ? m[4].split(".") : [] };
}

/** Semver precedence (build metadata ignored). */
export function compareVersions(a, b) {
  for (const k of ["major", "minor", "patch"]) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  if (!a.pre.length || !b.pre.length) return b.pre.length - a.pre.length;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i], y = b.pre[i];
    if (x === y) continue;
    const nx = /^\d+$/.test(x), ny = /^\d+$/.test(y);
    if (nx && ny) return +x < +y ? -1 : 1;
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.pre.length - b.pre.length;
}

const COMPARATOR = /^(=|>=|<=|>|<|~|\^)?\s*(\*|x|X|0|[1-9]\d*)(?:\.(\*|x|X|0|[1-9]\d*))?(?:\.(\*|x|X|0|[1-9]\d*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

/**
 * A version requirement as Rust's `semver::VersionReq` (and so `kbrel sync`) reads it:
 * comma-separated comparators (`>=1.2, <2`), each `=`, `>`, `>=`, `<`, `<=`, `~`, `^` or none
 * (= `^`), with `*`/`x` wildcards. Not npm's syntax: no `||`, no hyphen ranges.
 * Returns a predicate over parsed versions, or null.
 */
export function parseRange(spec) {
  const parts = spec.split(",").map((p) => p.trim());
  if (!parts.length || parts.some((p) => !p)) return null;
  const preds = [];
  const exactPre = []; // comparators with a pre-release: [major, minor, patch]
  for (const p of parts) {
    if (p === "*") { preds.push(() => true); continue; }
    const m = COMPARATOR.exec(p);
    if (!m) return null;
    const op = m[1] ?? "^";
    const wild = (x) => x === undefined || x === "*" || x === "x" || x === "X";
    if (wild(m[2])) { if (m[1] && m[1] !== "=") return null; preds.push(() => true); continue; }
    const major = +m[2];
    const minor = wild(m[3]) ? null : +m[3];
    const patch = minor === null || wild(m[4]) ? null : +m[4];
    const pre = m[5] ? m[5].split(".") : [];
    if (pre.length && patch === null) return null;
    if (pre.length) exactPre.push([major, minor, patch]);
    const v = { major, minor: minor ?? 0, patch: patch ?? 0, pre };
    const cmp = (x) => compareVersions(x, v);
    const lt = (x) => cmp(x) < 0;
    const upTo = (maj, min, pat) => (x) => compareVersions(x, { major: maj, minor: min, patch: pat, pre: ["0"] }) < 0;
    let f;
    switch (op) {
      case "=":
        f = minor === null ? (x) => x.major === major
          : patch === null ? (x) => x.major === major && x.minor === minor
          : (x) => cmp(x) === 0;
        break;
      case ">":
        f = minor === null ? (x) => x.major > major
          : patch === null ? (x) => x.major > major || (x.major === major && x.minor > minor)
          : (x) => cmp(x) > 0;
        break;
      case ">=":
        f = (x) => cmp(x) >= 0;
        break;
      case "<":
        f = lt;
        break;
      case "<=":
        f = minor === null ? (x) => x.major <= major
          : patch === null ? (x) => x.major < major || (x.major === major && x.minor <= minor)
          : (x) => cmp(x) <= 0;
        break;
      case "~":
        f = minor === null
          ? (x) => cmp(x) >= 0 && upTo(major + 1, 0, 0)(x)
          : (x) => cmp(x) >= 0 && upTo(major, minor + 1, 0)(x);
        break;
      case "^": {
        let hi;
        if (major > 0 || minor === null) hi = [major + 1, 0, 0];
        else if (minor > 0 || patch === null) hi = [0, minor + 1, 0];
        else hi = [0, 0, patch + 1];
        f = (x) => cmp(x) >= 0 && upTo(...hi)(x);
        break;
      }
    }
    preds.push(f);
  }
  return (x) => {
    // A pre-release matches only when a comparator names a pre-release of the same x.y.z.
    if (x.pre.length && !exactPre.some(([a, b, c]) => a === x.major && b === x.minor && c === x.patch)) return false;
    return preds.every((f) => f(x));
  };
}

/** The version `spec` names in `index` (dist-tag, exact version with optional `v`, range). */
export function selectVersion(index, spec = "latest", url = null) {
  const known = () => {
    const names = index.versions.map((v) => v.version).concat(Object.keys(index.dist_tags));
    return index.versions.length ? names.join(", ") : "none published yet";
  };
  const byTag = index.dist_tags[spec];
  if (byTag !== undefined) {
    const v = index.versions.find((x) => x.version === byTag);
    if (v) return v;
  }
  const exact = spec.startsWith("v") ? spec.slice(1) : spec;
  const e = index.versions.find((x) => x.version === exact);
  if (e) return e;
  const pred = parseRange(spec);
  let best = null;
  if (pred) {
    for (const v of index.versions) {
      const p = parseVersion(v.version);
      if (p && pred(p) && (!best || compareVersions(p, best[1]) > 0)) best = [v, p];
    }
  }
  if (!best) throw new VersionError(`unknown version \`${spec}\`; known: ${known()}`, { url });
  return best[0];
}

// --- the registry's formats ---------------------------------------------------------------

const isSha = (s) => typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
/** A name a URL's `%XX` escapes decode to `.`, `..` or a name with `/`, `\` or NUL (`%2e%2e`,
 * `..%2f`), which a tool decoding paths would climb out with (kbrel's manifest reader's rule). */
const decodesUnsafely = (s) => {
  if (!s.includes("%")) return false;
  const d = s.replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  return d === "." || d === ".." || /[/\\\0]/.test(d);
};
const isSegment = (s) => typeof s === "string" && s !== "" && s !== "." && s !== ".." && !/[/\\\0]/.test(s) && !decodesUnsafely(s);
/** A relative `/`-separated path with no `.`/`..` segments, backslash, NUL or colon, as
 * written or with `%XX` escapes decoded (`%2e%2e/x`, `..%2fx`). */
export const isSafePath = (p) => typeof p === "string" && p !== "" && !p.startsWith("/") && !p.includes(":") && p.split("/").every(isSegment);
const SURROGATE = /[\uD800-\uDFFF]/;
/** Rust's `str` order (UTF-8 bytes), which the manifest's document order follows. */
function compareUtf8(a, b) {
  // UTF-16 code units order strings as UTF-8 bytes do, except a surrogate pair against U+E000
  // to U+FFFF: the common case compares without encoding (a sort of 20,000 paths encoded
  // 600,000 strings).
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = enc.encode(a), y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
const isLanguage = (l) => typeof l === "string" && /^[A-Za-z0-9_-]+$/.test(l);

function parseJson(bytes, url, what) {
  let v;
  try {
    v = JSON.parse(dec.decode(bytes));
  } catch (e) {
    throw new FormatError(`${url}: ${what} is not valid JSON: ${e.message}`, { url });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new FormatError(`${url}: ${what} is not a JSON object`, { url });
  if (v.schema_version === undefined) throw new FormatError(`${url}: ${what} has no schema_version`, { url });
  if (typeof v.schema_version === "number" && v.schema_version > SCHEMA_VERSION) {
    throw new FormatError(`${url}: ${what} has schema_version ${v.schema_version}, newer than this client understands (${SCHEMA_VERSION}); upgrade @kbrel/client`, { url });
  }
  if (v.schema_version !== SCHEMA_VERSION) throw new FormatError(`${url}: ${what} has unsupported schema_version ${JSON.stringify(v.schema_version)}`, { url });
  return v;
}

function fileRefOk(f) {
  return f && isSafePath(f.path) && isSha(f.sha256) && Number.isSafeInteger(f.size) && f.size >= 0;
}

/** Parse and validate `index.json` bytes (docs/protocol.md, step 2). */
export function parseIndex(bytes, url = INDEX) {
  const i = parseJson(bytes, url, "index");
  const bad = (why) => new FormatError(`${url}: ${why}`, { url });
  if (typeof i.name !== "string" || !i.name) throw bad("index has no name");
  if (!Number.isSafeInteger(i.sequence) || i.sequence < 0) throw bad("index has no valid sequence");
  if (!i.dist_tags || typeof i.dist_tags !== "object" || Array.isArray(i.dist_tags)) throw bad("index has no dist_tags");
  if (!Array.isArray(i.versions)) throw bad("index has no versions");
  let prev = null;
  for (const v of i.versions) {
    const p = v && typeof v.version === "string" ? parseVersion(v.version) : null;
    if (!p) throw bad(`index lists invalid version \`${v?.version}\``);
    if (prev && compareVersions(prev, p) >= 0) throw bad(`index versions are not in ascending order at \`${v.version}\``);
    if (!fileRefOk(v.manifest)) throw bad(`index lists an invalid or unsafe manifest for ${v.version}`);
    prev = p;
  }
  for (const [tag, v] of Object.entries(i.dist_tags)) {
    if (!i.versions.some((x) => x.version === v)) throw bad(`dist-tag \`${tag}\` points at unlisted version \`${v}\``);
  }
  if (i.expires !== undefined && i.expires !== null && typeof i.expires !== "string") throw bad("invalid expires");
  return i;
}

/** Parse and validate a `manifest.json` (docs/protocol.md, step 5). */
export function parseManifest(bytes, url) {
  const m = parseJson(bytes, url, "manifest");
  const bad = (why) => new FormatError(`refusing ${url}: ${why}; nothing was changed`, { url });
  if (typeof m.name !== "string" || typeof m.version !== "string") throw bad("manifest has no name or version");
  if (!Array.isArray(m.languages) || !Array.isArray(m.documents)) throw bad("manifest has no languages or documents");
  const badLang = m.languages.find((l) => !isLanguage(l));
  if (badLang !== undefined) throw bad(`it lists an invalid language \`${badLang}\``);
  for (const d of m.documents) {
    if (!d || !isSegment(d.lang) || !isSafePath(d.path)) throw bad(`manifest lists an unsafe document path \`${d?.lang}/${d?.path}\``);
    if (!isSha(d.sha256)) throw bad(`manifest lists an invalid sha256 \`${d.sha256}\` for \`${d.path}\``);
    if (!Number.isSafeInteger(d.size) || d.size < 0) throw bad(`manifest lists an invalid size for \`${d.path}\``);
  }
  if (m.assets !== undefined && !Array.isArray(m.assets)) throw bad("manifest has invalid assets");
  for (const a of m.assets ?? []) {
    if (!a || !isSafePath(a.path)) throw bad(`manifest lists an unsafe asset path \`${a?.path}\``);
    if (!isSha(a.sha256)) throw bad(`manifest lists an invalid sha256 \`${a.sha256}\` for asset \`${a.path}\``);
    if (!Number.isSafeInteger(a.size) || a.size < 0) throw bad(`manifest lists an invalid size for asset \`${a.path}\``);
  }
  return m;
}

/** Whether a tree of the `kept` languages holds the asset at `path` (as kbrel sync decides):
 * every asset but those below the folder of a release language that is not kept. */
export function keepsAsset(path, release, kept) {
  const first = path.split("/")[0];
  return !(path.includes("/") && release.includes(first) && !kept.includes(first));
}

/** The held tree's assets with a diff's asset changes applied (those below a language folder
 * the tree does not hold left out), by path; null when a change does not apply to them. */
function applyAssetChanges(current, release, changes) {
  if (!Array.isArray(changes)) return null;
  const held = new Map((current.assets ?? []).map((a) => [a.path, { ...a }]));
  const mine = changes.filter((c) => typeof c?.path === "string" && keepsAsset(c.path, release, current.languages));
  for (const c of mine) {
    if (!["added", "modified", "removed"].includes(c.status)) return null;
    if (c.status === "added") continue;
    if (held.get(c.path)?.sha256 !== c.old_sha256) return null;
    held.delete(c.path);
  }
  for (const c of mine) {
    if (c.status === "removed") continue;
    if (held.has(c.path) || !isSha(c.new_sha256) || !Number.isSafeInteger(c.new_size)) return null;
    held.set(c.path, { path: c.path, sha256: c.new_sha256, size: c.new_size });
  }
  return [...held.values()].sort((a, b) => compareUtf8(a.path, b.path));
}

/** The problem with a tree's asset paths as {path, why} (the `why` of kbrel sync's
 * bad-asset-path refusal), or null: an asset must be a new file of the tree (not `tree.json`,
 * not below `.kbrel`, not a document, not a folder of another file). */
function assetPathProblem(docs, assets) {
  const files = new Set(docs.map((d) => `${d.lang}/${d.path}`));
  for (const a of assets) {
    const why = !isSafePath(a.path) ? "unsafe"
      : !isSha(a.sha256) || !Number.isSafeInteger(a.size) ? "invalid sha256"
      : a.path === "tree.json" || a.path.split("/")[0] === ".kbrel" ? "reserved"
      : files.has(a.path) ? "listed twice or a document's path"
      : null;
    if (why) return { path: a.path, why };
    files.add(a.path);
  }
  // A path that is also the folder of another: the first such path in UTF-8 order.
  let found = null;
  for (const f of files) {
    const parts = f.split("/");
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      if (files.has(folder) && (found === null || compareUtf8(folder, found) < 0)) found = folder;
    }
  }
  return found === null ? null : { path: found, why: "a file and a folder" };
}

/** `blobs/sha256/<aa>/<rest>`. */
export const blobPath = (sha) => `blobs/sha256/${sha.slice(0, 2)}/${sha.slice(2)}`;

/**
 * The canonical bytes of a JSON value as kbrel writes them (serde_json's pretty printer: two
 * spaces, `"k": v`, a trailing newline) — `tree.json` and `state.json` must match byte for byte.
 */
export function canonicalJson(value) {
  return enc.encode(JSON.stringify(value, null, 2) + "\n");
}

// --- front matter -------------------------------------------------------------------------

function scalar(raw) {
  const v = raw.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try { return JSON.parse(v); } catch { return v.slice(1, -1); }
  }
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replaceAll("''", "'");
  if (v === "true" || v === "false") return v === "true";
  if (v === "null" || v === "~" || v === "") return null;
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(v)) return Number(v);
  if (v.startsWith("[") && v.endsWith("]")) {
    const inner = v.slice(1, -1).trim();
    return inner ? inner.split(",").map(scalar) : [];
  }
  return v;
}

/**
 * Split a document into front matter and body. `meta` holds the top-level `key: value` fields:
 * quoted and plain strings, numbers, booleans, null, flow lists `[a, b]` and block lists
 * (`- item` lines); anything deeper (nested mappings, block scalars) is kept as its raw text.
 * `frontMatter` is the raw YAML for a full YAML parser.
 */
export function splitFrontMatter(text) {
  if (!text.startsWith("---\n")) return { frontMatter: null, meta: {}, body: text };
  let offset = 4;
  const lines = text.slice(4).split(/(?<=\n)/);
  let end = -1;
  for (const l of lines) {
    const t = l.replace(/\n$/, "").trimEnd();
    if (t === "---" || t === "...") { end = offset; offset += l.length; break; }
    offset += l.length;
  }
  if (end < 0) return { frontMatter: null, meta: {}, body: text };
  const yaml = text.slice(4, end);
  const meta = {};
  let key = null;
  let rest = [];
  const flush = () => {
    if (key === null) return;
    const items = rest.filter((l) => l.trim() !== "");
    if (meta[key] === null && items.length && items.every((l) => /^\s*- /.test(l))) meta[key] = items.map((l) => scalar(l.replace(/^\s*- /, "")));
    else if (items.length) meta[key] = [meta[key] ?? "", ...items].join("\n").trim();
  };
  for (const line of yaml.split("\n")) {
    const m = /^([A-Za-z_][\w-]*|"[^"]*"|'[^']*')\s*:(?:\s+(.*))?$/.exec(line);
    if (m && !line.startsWith(" ")) {
      flush();
      key = m[1].replace(/^["']|["']$/g, "");
      const raw = (m[2] ?? "").replace(/\s+#.*$/, "");
      meta[key] = raw === "|" || raw === ">" || raw === "|-" || raw === ">-" ? null : scalar(raw);
      rest = [];
    } else if (key !== null && !line.startsWith("#")) {
      rest.push(line);
    }
  }
  flush();
  return { frontMatter: yaml, meta, body: text.slice(offset) };
}

/** `fn` over `items`, at most `n` at a time; results in order. */
export async function mapLimit(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// --- HTTP with limits, retries and byte counts ------------------------------------------------

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

// In Node, unless a `fetch` is passed, requests go through node:http(s) and gzip is decoded by
// node:zlib in one call: fetch (undici) cost about four times the CPU per small request (500 ms
// against 125 ms for the 362 documents of the clients benchmark), and a response's raw bytes are
// then counted exactly. Browsers (no `process`) use fetch.
const nodeModules = (() => {
  const get = globalThis.process?.getBuiltinModule;
  if (typeof get !== "function") return null;
  const m = { http: get("node:http"), https: get("node:https"), zlib: get("node:zlib") };
  return m.http && m.https && m.zlib ? m : null;
})();
let nodeAgents = null;
const REDIRECTS = 5;

/** One GET through node:http(s): {status, etag, location, bytes, wire} or throws like `once`. */
function nodeGet(url, headers, signal, limit) {
  const { http, https, zlib } = nodeModules;
  nodeAgents ??= {
    // Idle keep-alive sockets do not hold the process open (Node unrefs them).
    "http:": new http.Agent({ keepAlive: true, maxSockets: 32 }),
    "https:": new https.Agent({ keepAlive: true, maxSockets: 32 }),
  };
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === "https:" ? https : http;
    const req = lib.get(u, { agent: nodeAgents[u.protocol], headers: { ...headers, "Accept-Encoding": "gzip" }, signal }, (res) => {
      const status = res.statusCode;
      if (status !== 200) {
        res.resume();
        resolve({ status, location: res.headers.location ?? null });
        return;
      }
      const encoding = (res.headers["content-encoding"] ?? "identity").toLowerCase();
      const declared = res.headers["content-length"];
      const chunks = [];
      let n = 0;
      let failed = false;
      const fail = (e) => {
        if (failed) return;
        failed = true;
        res.destroy();
        reject(e);
      };
      res.on("data", (c) => {
        n += c.length;
        if (n > limit) fail({ retryable: false, message: `the response is larger than the ${limit} bytes expected` });
        else chunks.push(c);
      });
      let ended = false;
      res.on("error", (e) => fail({ retryable: true, message: `incomplete response: ${e?.message ?? e}` }));
      res.on("close", () => ended || fail({ retryable: true, message: `incomplete response: the connection closed after ${n} bytes` }));
      res.on("end", () => {
        ended = true;
        if (failed) return;
        if (!res.complete || (declared !== undefined && Number(declared) !== n)) {
          fail({ retryable: true, message: `incomplete response: ${n} of ${declared ?? "?"} bytes` });
          return;
        }
        let bytes = Buffer.concat(chunks, n);
        try {
          if (encoding === "gzip" || encoding === "x-gzip") bytes = zlib.gunzipSync(bytes, { maxOutputLength: limit });
          else if (encoding !== "identity") throw { retryable: false, message: `unsupported Content-Encoding \`${encoding}\`` };
        } catch (e) {
          if (typeof e?.retryable === "boolean") fail(e);
          else if (e?.code === "ERR_BUFFER_TOO_LARGE") fail({ retryable: false, message: `the response is larger than the ${limit} bytes expected` });
          else fail({ retryable: true, message: `incomplete response: ${e?.message ?? e}` });
          return;
        }
        resolve({ status, etag: res.headers.etag ?? null, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), wire: n });
      });
    });
    req.on("error", reject);
  });
}

/**
 * One GET through node:http(s) whose body goes to `sink(chunk)` (decoded, synchronously, in
 * order) instead of memory: {status, location, etag, wire, n} or throws like `once`. At most
 * `limit` decoded bytes are taken: a larger Content-Length (identity) is refused before the
 * body is read, and a body that grows past it while streaming is cut off.
 */
function nodeStream(url, headers, signal, limit, sink, idleMs) {
  const { http, https, zlib } = nodeModules;
  nodeAgents ??= {
    "http:": new http.Agent({ keepAlive: true, maxSockets: 32 }),
    "https:": new https.Agent({ keepAlive: true, maxSockets: 32 }),
  };
  const tooLarge = { retryable: false, message: `the response is larger than the ${limit} bytes the manifest records` };
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === "https:" ? https : http;
    const req = lib.get(u, { agent: nodeAgents[u.protocol], headers: { ...headers, "Accept-Encoding": "gzip" }, signal }, (res) => {
      const status = res.statusCode;
      if (status !== 200) {
        res.resume();
        resolve({ status, location: res.headers.location ?? null });
        return;
      }
      const encoding = (res.headers["content-encoding"] ?? "identity").toLowerCase();
      const declared = res.headers["content-length"];
      const gzip = encoding === "gzip" || encoding === "x-gzip";
      const gunzip = gzip ? zlib.createGunzip() : null;
      let failed = false, ended = false, wire = 0, n = 0;
      const fail = (e) => {
        if (failed) return;
        failed = true;
        res.destroy();
        gunzip?.destroy();
        reject(e);
      };
      const take = (c) => {
        if (failed) return;
        n += c.length;
        if (n > limit) return fail(tooLarge);
        try { sink(c); } catch (e) { fail({ retryable: false, message: `${e?.message ?? e}` }); }
      };
      if (!gzip && encoding !== "identity") return fail({ retryable: false, message: `unsupported Content-Encoding \`${encoding}\`` });
      if (!gzip && declared !== undefined && Number(declared) > limit) return fail(tooLarge);
      const done = () => failed || resolve({ status, etag: res.headers.etag ?? null, wire, n });
      if (gunzip) {
        gunzip.on("data", take);
        gunzip.on("error", (e) => fail({ retryable: true, message: `incomplete response: ${e?.message ?? e}` }));
        gunzip.on("end", done);
        // The socket waits while the decoder is behind: memory stays a few chunks.
        gunzip.on("drain", () => res.resume());
      }
      res.on("data", (c) => {
        wire += c.length;
        if (wire > limit + (limit >> 3) + (64 << 10)) fail(tooLarge);
        else if (gunzip) { if (!gunzip.write(c)) res.pause(); }
        else take(c);
      });
      res.on("error", (e) => fail({ retryable: true, message: `incomplete response: ${e?.message ?? e}` }));
      res.on("close", () => ended || fail({ retryable: true, message: `incomplete response: the connection closed after ${wire} bytes` }));
      res.on("end", () => {
        ended = true;
        if (failed) return;
        if (!res.complete || (declared !== undefined && Number(declared) !== wire)) {
          fail({ retryable: true, message: `incomplete response: ${wire} of ${declared ?? "?"} bytes` });
          return;
        }
        if (gunzip) gunzip.end();
        else done();
      });
    });
    // However large the body, what times out is silence, not the whole transfer.
    req.setTimeout(idleMs, () => req.destroy(Object.assign(new Error(`no bytes for ${idleMs} ms`), { code: "ETIMEDOUT" })));
    req.on("error", reject);
  });
}

/**
 * The body of a fetch Response (status 200) as {bytes, n, wire}, or throws {retryable,
 * message}: at most `limit` bytes. With a Content-Length (and no encoding) it is read into one
 * buffer of that size, not into chunks copied together afterwards: an asset is held once, not
 * twice. Without one (chunked, or decoded by fetch), into one buffer of `expect` bytes (the
 * size the manifest records), in chunks only past it (a longer body, which its hash refuses).
 */
export async function readBody(res, { limit, expect = null }) {
  const declared = Number(res.headers.get("content-length"));
  const encoded = res.headers.get("content-encoding");
  const sized = !encoded && res.headers.has("content-length") && Number.isSafeInteger(declared) && declared >= 0;
  if (sized && declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw { retryable: false, message: `the response is larger than the ${limit} bytes expected` };
  }
  const guessed = !sized && Number.isSafeInteger(expect) && expect >= 0 && expect <= limit;
  let into = sized ? new Uint8Array(declared) : guessed ? new Uint8Array(expect) : null;
  const chunks = [];
  let n = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > limit || (sized && n + value.length > declared)) {
        await reader.cancel().catch(() => {});
        if (sized && n + value.length <= limit) throw { retryable: true, message: `incomplete response: more than the ${declared} bytes of its Content-Length` };
        throw { retryable: false, message: `the response is larger than the ${limit} bytes expected` };
      }
      if (into && !sized && n + value.length > into.length) {
        // Longer than recorded (its hash will say so): read on in chunks, up to the limit.
        chunks.push(into.subarray(0, n));
        into = null;
      }
      if (into) into.set(value, n);
      else chunks.push(value);
      n += value.length;
    }
  } catch (e) {
    if (e && typeof e.retryable === "boolean") throw e;
    throw { retryable: true, message: `incomplete response: ${e?.cause?.message ?? e?.message ?? e}` };
  }
  // fetch decodes Content-Encoding itself: the wire size is Content-Length when compressed.
  const wire = encoded && encoded !== "identity" && Number.isFinite(declared) && declared > 0 ? declared : n;
  if (!encoded && Number.isFinite(declared) && res.headers.has("content-length") && declared !== n) {
    throw { retryable: true, message: `incomplete response: ${n} of ${declared} bytes` };
  }
  let bytes = into && n < into.length ? into.subarray(0, n) : into;
  if (!bytes) {
    bytes = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) { bytes.set(c, at); at += c.length; }
  }
  return { bytes, n, wire };
}

class Http {
  constructor(base, { fetch: f, retries, timeoutMs, signal, stats }) {
    this.base = base.endsWith("/") ? base : base + "/";
    this.node = !f && nodeModules !== null;
    this.fetch = f ?? globalThis.fetch?.bind(globalThis);
    this.retries = retries;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.stats = stats;
  }

  url(rel) {
    return this.base + rel;
  }

  checkAbort() {
    if (this.signal?.aborted) throw new AbortError(`aborted: ${this.signal.reason?.message ?? this.signal.reason ?? "AbortSignal"}`);
  }

  /**
   * One attempt: {status, bytes?, etag?} or throws {retryable, message}. `expect`: the size the
   * manifest records for the body (an asset's, a document's), which it is read into when there
   * is no Content-Length to size the buffer.
   */
  async once(rel, { etag, limit, expect = null }) {
    const url = this.url(rel);
    const signals = [AbortSignal.timeout(this.timeoutMs)];
    if (this.signal) signals.push(this.signal);
    const signal = AbortSignal.any(signals);
    const headers = {};
    if (etag) headers["If-None-Match"] = etag;
    if (this.node) return this.onceNode(url, headers, signal, limit);
    let res;
    this.stats.requests++;
    try {
      res = await this.fetch(url, { headers, signal, cache: "no-store", credentials: "omit" });
    } catch (e) {
      this.checkAbort();
      throw { retryable: true, message: `${e?.cause?.code ?? e?.name ?? "error"}: ${e?.cause?.message ?? e?.message ?? e}` };
    }
    const status = res.status;
    if (status === 304) {
      await res.body?.cancel().catch(() => {});
      return { status };
    }
    if (status === 404) {
      await res.body?.cancel().catch(() => {});
      return { status };
    }
    if (status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw { retryable: status >= 500 || status === 429, status, message: `HTTP ${status}` };
    }
    let read;
    try {
      read = await readBody(res, { limit, expect });
    } catch (e) {
      if (e && typeof e.retryable === "boolean") throw e;
      this.checkAbort();
      throw { retryable: true, message: `incomplete response: ${e?.cause?.message ?? e?.message ?? e}` };
    }
    const { bytes, n, wire } = read;
    this.stats.bytesOnWire += wire;
    this.stats.bytesDecoded += n;
    return { status, bytes, etag: res.headers.get("etag") };
  }

  async onceNode(url, headers, signal, limit) {
    let r;
    for (let hops = 0; ; hops++) {
      this.stats.requests++;
      try {
        r = await nodeGet(url, headers, signal, limit);
      } catch (e) {
        this.checkAbort();
        if (e && typeof e.retryable === "boolean") throw e;
        throw { retryable: true, message: `${e?.code ?? e?.name ?? "error"}: ${e?.message ?? e}` };
      }
      if (![301, 302, 303, 307, 308].includes(r.status) || !r.location || hops >= REDIRECTS) break;
      url = new URL(r.location, url).href;
    }
    const { status } = r;
    if (status === 304 || status === 404) return { status };
    if (status !== 200) throw { retryable: status >= 500 || status === 429, status, message: `HTTP ${status}` };
    this.stats.bytesOnWire += r.wire;
    this.stats.bytesDecoded += r.bytes.length;
    return { status, bytes: r.bytes, etag: r.etag };
  }

  /**
   * Node only: GET `rel` with its body streamed to `sink` (see nodeStream), once per attempt;
   * `restart()` runs before each attempt (a retry starts the file over). Resolves to
   * {status, n}; retries and throws like `get`.
   */
  async stream(rel, { limit, sink, restart }) {
    return this.retrying(rel, async () => {
      restart();
      let url = this.url(rel);
      const signal = this.signal;
      let r;
      for (let hops = 0; ; hops++) {
        this.stats.requests++;
        try {
          r = await nodeStream(url, {}, signal, limit, sink, this.timeoutMs);
        } catch (e) {
          this.checkAbort();
          if (e && typeof e.retryable === "boolean") throw e;
          throw { retryable: true, message: `${e?.code ?? e?.name ?? "error"}: ${e?.message ?? e}` };
        }
        if (![301, 302, 303, 307, 308].includes(r.status) || !r.location || hops >= REDIRECTS) break;
        url = new URL(r.location, url).href;
      }
      if (r.status === 404) return { status: 404 };
      if (r.status !== 200) throw { retryable: r.status >= 500 || r.status === 429, status: r.status, message: `HTTP ${r.status}` };
      this.stats.bytesOnWire += r.wire;
      this.stats.bytesDecoded += r.n;
      return { status: 200, n: r.n };
    });
  }

  /** With retries (backoff 100 ms × 4^k) on network errors, 5xx, 429 and incomplete bodies. */
  async get(rel, { etag = null, limit, expect = null } = {}) {
    return this.retrying(rel, () => this.once(rel, { etag, limit, expect }));
  }

  async retrying(rel, attemptOnce) {
    for (let attempt = 0; ; attempt++) {
      this.checkAbort();
      try {
        return await attemptOnce();
      } catch (e) {
        if (e instanceof KbrelError) throw e;
        if (e?.retryable && attempt < this.retries) {
          await sleep(100 * 4 ** attempt, this.signal).catch(() => this.checkAbort());
          continue;
        }
        const message = `${e?.message ?? e}`;
        throw new FetchError(`cannot fetch ${this.url(rel)}: ${message}`, { url: this.url(rel), status: e?.status, refusal: { reason: "fetch", url: this.url(rel), message, status: e?.status ?? null } });
      }
    }
  }
}

// --- stores -------------------------------------------------------------------------------

/**
 * A store keeps: the state (source, index ETag, highest sequence, trusted keys), the last
 * accepted index bytes, verified objects by sha256, manifests by sha256, and the current tree.
 * `commit` makes a new tree current atomically (the switch) and may drop unreferenced objects.
 */
export class MemoryStore {
  constructor() {
    this.state = null;
    this.index = null;
    this.objects = new Map();
    this.manifests = new Map();
    this.tree = null;
  }
  async open() {}
  async loadState() { return this.state && structuredClone(this.state); }
  async loadIndex() { return this.index; }
  async currentTree() { return this.tree && structuredClone(this.tree); }
  async hasObject(sha) { return this.objects.has(sha); }
  async getObject(sha) { return this.objects.get(sha) ?? null; }
  async putObject(sha, bytes) { this.objects.set(sha, bytes); }
  async getManifest(sha) { return this.manifests.get(sha) ?? null; }
  async putManifest(sha, bytes) { this.manifests.set(sha, bytes); }
  async commitIndex(state, indexBytes) {
    this.state = structuredClone(state);
    if (indexBytes) this.index = indexBytes;
  }
  async commit({ tree, state, indexBytes }) {
    this.tree = structuredClone(tree);
    await this.commitIndex(state, indexBytes);
    const keep = new Set([...tree.documents, ...(tree.assets ?? [])].map((d) => d.sha256));
    for (const k of this.objects.keys()) if (!keep.has(k)) this.objects.delete(k);
    for (const k of this.manifests.keys()) if (k !== tree.manifest_sha256 && k !== `derived-${tree.manifest_sha256}`) this.manifests.delete(k);
  }
  async close() {}
}

const idbReq = (r) => new Promise((resolve, reject) => {
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const idbDone = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error);
  tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
});

/**
 * IndexedDB (browsers): database `name` with stores `objects` (sha256 → bytes, also manifests)
 * and `meta` (state, index, tree). The switch is one readwrite transaction over `meta` that
 * writes the new tree, state and index together: it commits completely or not at all.
 */
export class IndexedDbStore {
  constructor(name = "kbrel", { indexedDB: idb } = {}) {
    this.name = name;
    this.idb = idb ?? globalThis.indexedDB;
    this.db = null;
  }
  async open() {
    if (!this.idb) throw new KbrelError("store", "IndexedDB is not available in this runtime");
    const r = this.idb.open(this.name, 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore("objects");
      r.result.createObjectStore("meta");
    };
    this.db = await idbReq(r);
  }
  async metaGet(k) {
    return idbReq(this.db.transaction("meta").objectStore("meta").get(k));
  }
  async loadState() { return (await this.metaGet("state")) ?? null; }
  async loadIndex() { return (await this.metaGet("index")) ?? null; }
  async currentTree() { return (await this.metaGet("tree")) ?? null; }
  async hasObject(sha) {
    return (await idbReq(this.db.transaction("objects").objectStore("objects").count(sha))) > 0;
  }
  async getObject(sha) {
    const v = (await idbReq(this.db.transaction("objects").objectStore("objects").get(sha))) ?? null;
    return typeof Blob === "function" && v instanceof Blob ? new Uint8Array(await v.arrayBuffer()) : v;
  }
  /** An object's bytes as a stream: an asset's Blob read as the browser streams it (never
   * whole in memory), other bytes in one chunk; null when absent. */
  async objectStream(sha) {
    const v = (await idbReq(this.db.transaction("objects").objectStore("objects").get(sha))) ?? null;
    if (v === null) return null;
    if (typeof Blob === "function" && v instanceof Blob) return v.stream();
    return oneChunk(v);
  }
  /** An asset is stored as a Blob (which the browser may keep on disk rather than in the
   * database's memory); documents and manifests as bytes. */
  async putObject(sha, bytes, { asset = false } = {}) {
    const value = asset && typeof Blob === "function" ? new Blob([bytes]) : bytes;
    const tx = this.db.transaction("objects", "readwrite");
    tx.objectStore("objects").put(value, sha);
    await idbDone(tx);
  }
  async getManifest(sha) { return this.getObject("manifest:" + sha); }
  async putManifest(sha, bytes) { return this.putObject("manifest:" + sha, bytes); }
  async commitIndex(state, indexBytes) {
    const tx = this.db.transaction("meta", "readwrite");
    tx.objectStore("meta").put(state, "state");
    if (indexBytes) tx.objectStore("meta").put(indexBytes, "index");
    await idbDone(tx);
  }
  async commit({ tree, state, indexBytes }) {
    const tx = this.db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    meta.put(tree, "tree");
    meta.put(state, "state");
    if (indexBytes) meta.put(indexBytes, "index");
    await idbDone(tx);
    // After the switch: drop what the new tree does not reference (a crash here only leaves
    // garbage, which the next commit removes).
    const keep = new Set([...tree.documents, ...(tree.assets ?? [])].map((d) => d.sha256));
    keep.add("manifest:" + tree.manifest_sha256);
    keep.add("manifest:derived-" + tree.manifest_sha256);
    const keys = await idbReq(this.db.transaction("objects").objectStore("objects").getAllKeys());
    const doomed = keys.filter((k) => !keep.has(k));
    if (doomed.length) {
      const gc = this.db.transaction("objects", "readwrite");
      for (const k of doomed) gc.objectStore("objects").delete(k);
      await idbDone(gc);
    }
  }
  async close() { this.db?.close(); }
}

/** A stream of one chunk (bytes already in memory). */
const oneChunk = (bytes) => new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } });

/**
 * `source` (an object's bytes as a store streams them) checked as it is read against the
 * asset `a` ({path, sha256, size}): hashed chunk by chunk, and one chunk held back, so the last
 * bytes are handed out only once the whole matched its size and sha256. A mismatch, or more
 * bytes than recorded, errors the stream instead (an IntegrityError): a reader never gets a
 * complete wrong asset. Pulled only as it is read (highWaterMark 0): memory stays a chunk or two.
 */
function verifiedStream(source, a) {
  const reader = source.getReader();
  const hash = sha256Stream();
  let n = 0;
  let held = null;
  const wrong = (actual, how) => new IntegrityError(`asset ${a.path} in the store does not match sha256 ${a.sha256} (${how})`, { expected: a.sha256, actual });
  return new ReadableStream({
    async pull(controller) {
      for (;;) {
        let r;
        try {
          r = await reader.read();
        } catch (e) {
          controller.error(e instanceof KbrelError ? e : new KbrelError("store", `cannot read asset ${a.path} from the store: ${e?.message ?? e}`, { cause: e }));
          return;
        }
        if (r.done) {
          const actual = hash.hex();
          if (n !== a.size || actual !== a.sha256) controller.error(wrong(actual, `got ${actual}, ${n} bytes of ${a.size}`));
          else {
            if (held) controller.enqueue(held);
            controller.close();
          }
          return;
        }
        const chunk = r.value;
        n += chunk.length;
        if (n > a.size) {
          reader.cancel().catch(() => {});
          controller.error(wrong(null, `it holds more than its ${a.size} bytes`));
          return;
        }
        hash.update(chunk);
        const out = held;
        held = chunk;
        if (out) {
          controller.enqueue(out);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

// --- the client -----------------------------------------------------------------------------

/**
 * Open a local copy of the knowledge base at `registry` (the URL `kbrel serve` or a static host
 * serves). Reads what `store` holds; `update()` brings it to the requested version.
 */
export async function openDocs(options) {
  const kb = new Docs(options);
  await kb.open();
  return kb;
}

function utf8(bytes) {
  return dec.decode(bytes);
}

export class Docs {
  constructor({
    registry,
    languages = null,
    store = new MemoryStore(),
    trustKey = [],
    version = "latest",
    allowDowngrade = false,
    parallel = 8,
    retries = 3,
    timeoutMs = 30_000,
    now = () => Date.now(),
    fetch = undefined,
    verifyEd25519 = webCryptoVerify,
    delta = true,
    maxAssetSize = DEFAULT_MAX_ASSET_SIZE,
    maxDocumentSize = DEFAULT_MAX_DOCUMENT_SIZE,
  }) {
    if (typeof registry !== "string" || !/^https?:\/\//.test(registry)) {
      throw new KbrelError("usage", `registry must be an http(s) URL, got ${JSON.stringify(registry)}`);
    }
    this.registry = registry;
    this.languages = languages;
    this.store = store;
    this.trustKeys = Array.isArray(trustKey) ? trustKey : [trustKey];
    for (const k of this.trustKeys) {
      if (!parsePublicKey(k)) throw new KbrelError("usage", `invalid public key \`${k}\` (expected ed25519:<base64 of 32 bytes>)`);
    }
    this.version = version;
    this.allowDowngrade = allowDowngrade;
    this.parallel = Math.min(32, Math.max(1, parallel));
    this.retries = retries;
    this.timeoutMs = timeoutMs;
    this.now = now;
    this.fetchImpl = fetch;
    this.verifyEd25519 = verifyEd25519;
    this.delta = delta;
    if (!Number.isSafeInteger(maxAssetSize) || maxAssetSize < 0) throw new KbrelError("usage", `maxAssetSize must be a byte count, got ${JSON.stringify(maxAssetSize)}`);
    this.maxAssetSize = maxAssetSize;
    if (!Number.isSafeInteger(maxDocumentSize) || maxDocumentSize < 0) throw new KbrelError("usage", `maxDocumentSize must be a byte count, got ${JSON.stringify(maxDocumentSize)}`);
    this.maxDocumentSize = maxDocumentSize;
    this.tree = null;
    this.byKey = null;
  }

  async open() {
    await this.store.open();
    this.tree = await this.store.currentTree();
    this.byKey = null;
  }

  /** The version held (null before the first update). */
  get currentVersion() {
    return this.tree?.version ?? null;
  }

  /**
   * Bring the store to `version` (default: the `version` of openDocs, `latest`). Resolves to a
   * report; rejects with a KbrelError, after which the store shows what it showed before.
   */
  async update({ version = this.version, signal, onProgress, allowDowngrade = this.allowDowngrade } = {}) {
    const started = Date.now();
    const stats = { requests: 0, bytesOnWire: 0, bytesDecoded: 0 };
    const http = new Http(this.registry, { fetch: this.fetchImpl, retries: this.retries, timeoutMs: this.timeoutMs, signal, stats });
    const store = this.store;
    const state = (await store.loadState()) ?? { format: CACHE_FORMAT, source: "", index_etag: null, highest_sequence: 0, trusted_keys: [] };
    const current = await store.currentTree();
    if (current?.manifest_sha256 !== this.tree?.manifest_sha256) {
      this.tree = current;
      this.byKey = null;
    }
    const from = this.registry;
    const sameSource = state.source === from;

    // 1. index.json, conditionally.
    const indexUrl = http.url(INDEX);
    const etag = sameSource && current ? state.index_etag : null;
    let r = await http.get(INDEX, { etag, limit: INDEX_LIMIT });
    let indexBytes, newEtag, notModified = false;
    if (r.status === 304) {
      indexBytes = await store.loadIndex();
      if (!indexBytes) r = await http.get(INDEX, { limit: INDEX_LIMIT });
      else { newEtag = state.index_etag; notModified = true; }
    }
    if (r.status === 404) throw new FetchError(`no index.json at ${indexUrl} (is it a kbrel registry?)`, { url: indexUrl, status: 404, refusal: { reason: "no-index", url: indexUrl } });
    if (!notModified) { indexBytes = r.bytes; newEtag = r.etag ?? null; }
    const index = parseIndex(indexBytes, indexUrl);

    // 2. Signature, expiry, rollback.
    const trusted = [...this.trustKeys, ...(state.trusted_keys ?? [])];
    if (this.trustKeys.length) {
      const s = await http.get(SIG, { limit: SIG_LIMIT });
      if (s.status !== 200) throw new SignatureError(`${indexUrl} is not signed (${http.url(SIG)} is missing) but a trusted key requires a signature`, { url: indexUrl, refusal: { reason: "unsigned", url: indexUrl, signature_url: http.url(SIG) } });
      const next = await this.verifySignature(indexBytes, s.bytes, trusted, indexUrl);
      if (next && !state.trusted_keys.includes(next)) state.trusted_keys.push(next);
      if (index.expires) {
        const t = Date.parse(index.expires);
        if (Number.isNaN(t)) throw new FormatError(`${indexUrl}: invalid expires \`${index.expires}\``, { url: indexUrl });
        if (t < this.now()) throw new ExpiredError(`refusing ${indexUrl}: it expired at ${index.expires} (a frozen or replayed index)`, { url: indexUrl, refusal: { reason: "expired", url: indexUrl, expires: index.expires } });
      }
    }
    if (sameSource && index.sequence < state.highest_sequence && !allowDowngrade) {
      throw new RollbackError(`refusing ${indexUrl}: its sequence ${index.sequence} is older than the ${state.highest_sequence} this cache already accepted (a rollback?); allowDowngrade to accept`, { url: indexUrl, refusal: { reason: "index-rollback", url: indexUrl, sequence: index.sequence, highest: state.highest_sequence } });
    }

    // 3. The version.
    const chosen = selectVersion(index, version, indexUrl);
    if (current && current.name === index.name && !allowDowngrade) {
      const cv = parseVersion(current.version);
      if (cv && compareVersions(parseVersion(chosen.version), cv) < 0) {
        throw new RollbackError(`the cache holds ${current.version}, newer than the selected ${chosen.version}; allowDowngrade to move it back`, { url: indexUrl, refusal: { reason: "downgrade", held: current.version, selected: chosen.version } });
      }
    }
    const report = {
      name: index.name,
      previous: current?.version ?? null,
      version: chosen.version,
      notModified,
      upToDate: false,
      delta: false,
      changes: {},
      documentsFetched: 0,
      assetsFetched: 0,
      requests: 0,
      bytesOnWire: 0,
      bytesDecoded: 0,
      ms: 0,
    };
    const finish = () => {
      report.requests = stats.requests;
      report.bytesOnWire = stats.bytesOnWire;
      report.bytesDecoded = stats.bytesDecoded;
      report.ms = Date.now() - started;
      return report;
    };
    const wantLangs = this.languages;
    const sameLangs = (c) => !wantLangs || (c.languages.length === wantLangs.length && c.languages.every((l, i) => l === wantLangs[i]));
    if (current && current.manifest_sha256 === chosen.manifest.sha256 && current.name === index.name && sameLangs(current)) {
      report.upToDate = true;
      state.source = from;
      state.highest_sequence = Math.max(state.highest_sequence, index.sequence);
      state.index_etag = newEtag ?? null;
      await store.commitIndex(state, notModified ? null : indexBytes);
      // A cache another tool (kbrel sync) filled has no copy of the manifest, which get() needs
      // for keys and titles: fetch it once, verified against the index.
      if (!(await store.getManifest(chosen.manifest.sha256)) && !(await store.getManifest(`derived-${chosen.manifest.sha256}`))) {
        const mUrl = http.url(chosen.manifest.path);
        const mr = await http.get(chosen.manifest.path, { limit: MANIFEST_LIMIT });
        if (mr.status === 200 && (await sha256Hex(mr.bytes)) === chosen.manifest.sha256) {
          parseManifest(mr.bytes, mUrl);
          await store.putManifest(chosen.manifest.sha256, mr.bytes);
        }
      }
      this.tree = current;
      this.byKey = null;
      return finish();
    }

    // 4. The delta (diff.json against the version held) when it applies, else the manifest,
    //    verified against the index.
    let docs = null;
    let assets = [];
    let info = null; // the new version's documents with keys and titles, for get()
    let languages;
    let mBytes = null;
    const heldLangs = current?.languages ?? [];
    const newLangs = Object.keys(chosen.summary ?? {});
    const deltaLangs = wantLangs ?? newLangs;
    if (this.delta && current && current.name === index.name && chosen.previous === current.version && chosen.diff
      && deltaLangs.length === heldLangs.length && deltaLangs.every((l) => heldLangs.includes(l) && newLangs.includes(l))) {
      const d = await this.fetchDelta(http, chosen, current, index);
      if (d) {
        ({ docs, info, assets } = d);
        languages = [...heldLangs];
        report.delta = true;
      }
    }
    if (!docs) {
      const mUrl = http.url(chosen.manifest.path);
      const mr = await http.get(chosen.manifest.path, { limit: MANIFEST_LIMIT });
      if (mr.status !== 200) throw new FetchError(`${mUrl} is missing`, { url: mUrl, status: mr.status, refusal: { reason: "missing-manifest", url: mUrl } });
      const mSha = await sha256Hex(mr.bytes);
      if (mSha !== chosen.manifest.sha256) {
        throw new IntegrityError(`refusing ${mUrl}: sha256 mismatch: expected ${chosen.manifest.sha256} (from index.json), got ${mSha}; the cache was not changed`, { url: mUrl, expected: chosen.manifest.sha256, actual: mSha, refusal: { reason: "hash-mismatch", url: mUrl, expected: chosen.manifest.sha256, actual: mSha } });
      }
      const m = parseManifest(mr.bytes, mUrl);
      mBytes = mr.bytes;
      languages = wantLangs ?? m.languages;
      for (const l of languages) {
        if (!m.languages.includes(l)) throw new KbrelError("usage", `language ${l}: ${m.name} has languages ${m.languages.join(", ")}`, { url: mUrl, refusal: { reason: "unknown-language", lang: l, name: m.name, languages: m.languages } });
      }
      docs = m.documents.filter((d) => languages.includes(d.lang));
      const listed = new Set();
      for (const d of docs) {
        const k = `${d.lang}/${d.path}`;
        if (listed.has(k)) throw new FormatError(`refusing ${mUrl}: it lists \`${k}\` twice; the cache was not changed`, { url: mUrl, refusal: { reason: "listed-twice", url: mUrl, lang: d.lang, path: d.path } });
        listed.add(k);
      }
      assets = (m.assets ?? [])
        .filter((a) => keepsAsset(a.path, m.languages, languages))
        .map((a) => ({ path: a.path, sha256: a.sha256, size: a.size }))
        .sort((a, b) => compareUtf8(a.path, b.path));
      info = m;
    }
    this.checkAssets(http.url(chosen.manifest.path), docs, assets);
    this.checkDocumentSizes(http.url(chosen.manifest.path), docs);

    // 5. Changes against the current tree.
    const old = new Map((current?.documents ?? []).map((d) => [`${d.lang}\0${d.path}`, d.sha256]));
    for (const l of languages) report.changes[l] = { added: 0, updated: 0, removed: 0 };
    const fresh = new Set();
    for (const d of docs) {
      const k = `${d.lang}\0${d.path}`;
      fresh.add(k);
      const c = (report.changes[d.lang] ??= { added: 0, updated: 0, removed: 0 });
      if (!old.has(k)) c.added++;
      else if (old.get(k) !== d.sha256) c.updated++;
    }
    for (const k of old.keys()) {
      if (!fresh.has(k)) {
        const l = k.split("\0")[0];
        (report.changes[l] ??= { added: 0, updated: 0, removed: 0 }).removed++;
      }
    }

    // 6. Fetch what the store lacks: bounded parallelism, every byte verified.
    const unique = [];
    const seen = new Set();
    for (const d of [...docs, ...assets.map((a) => ({ ...a, asset: true }))]) {
      if (seen.has(d.sha256)) continue;
      seen.add(d.sha256);
      unique.push(d);
    }
    // The store's checks (a folder re-hashes every object) run 32 at a time.
    const held = await mapLimit(unique, 32, (d) => store.hasObject(d.sha256));
    const missing = unique.filter((_, i) => !held[i]);
    const total = missing.length;
    const sizes = new Map();
    let next = 0, done = 0, failed = null;
    // In Node, a store that stages files (the folder store) takes assets as streams: an asset
    // is never held in memory, whatever its size.
    const streams = http.node && nodeCrypto !== null && typeof store.stageObject === "function";
    const worker = async () => {
      while (!failed && next < missing.length) {
        const d = missing[next++];
        try {
          if (d.asset && streams) {
            sizes.set(d.sha256, await this.streamBlob(http, d, store));
          } else {
            const bytes = await this.fetchBlob(http, d);
            sizes.set(d.sha256, bytes.length);
            await store.putObject(d.sha256, bytes, { asset: !!d.asset });
          }
          if (d.asset) report.assetsFetched++;
          done++;
          onProgress?.({ done, total, lang: d.lang, path: d.path });
        } catch (e) {
          failed ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.parallel, Math.max(1, missing.length)) }, worker));
    if (failed) throw failed;
    http.checkAbort();
    report.documentsFetched = done - report.assetsFetched;

    // 7. The switch: the new tree, state and index in one step.
    // Sizes a delta does not carry come from the verified bytes.
    for (const d of docs) {
      if (d.size === null) d.size = sizes.get(d.sha256) ?? (await store.getObject(d.sha256))?.length ?? 0;
    }
    const tree = {
      format: CACHE_FORMAT,
      name: index.name,
      version: chosen.version,
      sequence: index.sequence,
      manifest_sha256: chosen.manifest.sha256,
      languages: [...languages],
      documents: docs.map((d) => ({ lang: d.lang, path: d.path, sha256: d.sha256, size: d.size })),
    };
    // Absent without assets, as kbrel sync writes tree.json.
    if (assets.length) tree.assets = assets;
    if (mBytes) await store.putManifest(chosen.manifest.sha256, mBytes);
    else await store.putManifest(`derived-${chosen.manifest.sha256}`, canonicalJson(info));
    state.source = from;
    state.highest_sequence = Math.max(state.highest_sequence, index.sequence);
    state.index_etag = newEtag ?? null;
    await store.commit({ tree, state, indexBytes: notModified ? null : indexBytes });
    this.tree = tree;
    this.byKey = null;
    this.manifest = info;
    this.manifestSha = tree.manifest_sha256;
    return finish();
  }

  /**
   * diff.json of `chosen` (against `current.version`), verified against the index and applied
   * to the current tree: the new tree's documents (size null where the diff does not know it)
   * and their keys and titles. Null when the registry has no diff (404): the caller falls back
   * to the full manifest. A diff that does not apply to the tree is refused.
   */
  async fetchDelta(http, chosen, current, index) {
    const url = http.url(chosen.diff.path);
    const r = await http.get(chosen.diff.path, { limit: DIFF_LIMIT });
    if (r.status === 404) return null;
    const sha = await sha256Hex(r.bytes);
    if (sha !== chosen.diff.sha256) {
      throw new IntegrityError(`refusing ${url}: sha256 mismatch: expected ${chosen.diff.sha256} (from index.json), got ${sha}; the cache was not changed`, { url, expected: chosen.diff.sha256, actual: sha, refusal: { reason: "hash-mismatch", url, expected: chosen.diff.sha256, actual: sha } });
    }
    const diff = parseJson(r.bytes, url, "diff");
    // `problem` and its fields: what `kbrel sync --json` says of a delta that does not apply.
    const bad = (why, problem) => new FormatError(`refusing ${url}: ${why}; the cache was not changed`, { url, refusal: { reason: "delta", url, ...problem } });
    if (diff.name !== index.name || diff.from !== current.version || diff.to !== chosen.version || !Array.isArray(diff.changes)) {
      throw bad(`it is not the diff from ${current.version} to ${chosen.version}`, { problem: "not-the-diff", held: current.version, chosen: chosen.version });
    }
    const langs = current.languages;
    const key = (l, p) => `${l}\0${p}`;
    const docs = new Map(current.documents.map((d) => [key(d.lang, d.path), { ...d }]));
    const oldInfo = new Map(((await this.loadManifest())?.documents ?? []).map((d) => [key(d.lang, d.path), d]));
    const meta = new Map();
    const changes = diff.changes.filter((c) => langs.includes(c?.lang));
    // Old sides first (a path may be freed by a removal or rename and reused in the same diff).
    for (const c of changes) {
      if (!["added", "modified", "renamed", "removed"].includes(c.status)) throw bad(`unknown change status \`${c.status}\``, { problem: "unknown-status", status: c.status });
      if (c.status === "added") continue;
      const from = c.old_path ?? c.path;
      const k = key(c.lang, from);
      if (!isSafePath(from) || docs.get(k)?.sha256 !== c.old_sha256) throw bad(`${c.lang}/${from} (sha256 ${c.old_sha256}) is not in ${current.version} as held`, { problem: "not-held", lang: c.lang, path: from, held: current.version });
      docs.delete(k);
    }
    for (const c of changes) {
      if (c.status === "removed") continue;
      const k = key(c.lang, c.path);
      if (!isSafePath(c.path) || !isSha(c.sha256) || docs.has(k)) throw bad(`${c.lang}/${c.path} cannot be ${c.status}`, { problem: "cannot-apply", lang: c.lang, path: c.path, status: c.status });
      docs.set(k, { lang: c.lang, path: c.path, sha256: c.sha256, size: null });
      const was = oldInfo.get(key(c.lang, c.old_path ?? c.path));
      meta.set(k, { key: c.key, title: c.title ?? null, url: c.status === "modified" ? was?.url ?? null : null, id: c.id });
    }
    const rank = (l) => langs.indexOf(l);
    const list = [...docs.values()].sort((a, b) => rank(a.lang) - rank(b.lang) || compareUtf8(a.path, b.path));
    for (const l of langs) {
      const n = list.filter((d) => d.lang === l).length;
      const want = chosen.summary?.[l]?.documents;
      if (n !== want) throw bad(`applied to ${current.version} it gives ${n} ${l} documents, the index says ${want}`, { problem: "count", held: current.version, lang: l, got: n, index: want ?? null });
    }
    const info = {
      schema_version: SCHEMA_VERSION,
      name: index.name,
      version: chosen.version,
      languages: langs,
      documents: list.map((d) => {
        const m = meta.get(key(d.lang, d.path)) ?? oldInfo.get(key(d.lang, d.path));
        return { lang: d.lang, path: d.path, key: m?.key ?? d.path.replace(/\.md$/, ""), title: m?.title ?? null, url: m?.url ?? null, sha256: d.sha256 };
      }),
    };
    // A tree synced without assets (an older client) may not hold what the diff changes:
    // the manifest is read instead.
    const assets = applyAssetChanges(current, Object.keys(chosen.summary ?? {}), diff.assets ?? []);
    if (!assets || assetPathProblem(list, assets)) return null;
    return { docs: list, info, assets };
  }

  /**
   * The assets are refused, before anything is fetched, when one claims more than
   * `maxAssetSize` bytes or its path cannot be a file of the cache (as kbrel sync refuses them).
   */
  checkAssets(url, docs, assets) {
    const big = assets.find((a) => a.size > this.maxAssetSize);
    if (big) {
      throw new FormatError(`refusing ${url}: it claims the asset ${big.path} holds ${big.size} bytes, more than the ${this.maxAssetSize} allowed (--max-asset-size); nothing was fetched`, { url, refusal: { reason: "asset-too-large", url, path: big.path, size: big.size, limit: this.maxAssetSize } });
    }
    const problem = assetPathProblem(docs, assets);
    if (problem) {
      throw new FormatError(`refusing ${url}: the asset path \`${problem.path}\` cannot be a file of the cache (${problem.why}); nothing was fetched`, { url, refusal: { reason: "bad-asset-path", url, ...problem } });
    }
  }

  /** A document claimed larger than `maxDocumentSize` is refused before anything is fetched. */
  checkDocumentSizes(url, docs) {
    const d = docs.find((x) => x.size !== null && x.size > this.maxDocumentSize);
    if (d) {
      throw new FormatError(`refusing ${url}: it claims ${d.lang}/${d.path} holds ${d.size} bytes, more than the ${this.maxDocumentSize} allowed (--max-document-size); nothing was fetched`, { url, refusal: { reason: "too-large", url, lang: d.lang, path: d.path, size: d.size, limit: this.maxDocumentSize } });
    }
  }

  /**
   * An asset streamed into the store's staged file (Node): hashed as it arrives, never held
   * whole, at most its recorded size read (a larger Content-Length is refused before the
   * body); it becomes an object (renamed into place) only when its size and sha256 match.
   * Resolves to its size.
   */
  async streamBlob(http, d, store) {
    const rel = blobPath(d.sha256);
    const url = http.url(rel);
    const staged = store.stageObject(d.sha256);
    try {
      for (let attempt = 0; ; attempt++) {
        let hash = null;
        const r = await http.stream(rel, {
          limit: d.size,
          restart: () => {
            staged.restart();
            hash = nodeCrypto.createHash("sha256");
          },
          sink: (chunk) => {
            hash.update(chunk);
            staged.write(chunk);
          },
        });
        if (r.status !== 200) throw new FetchError(`${url} is missing (asset ${d.path})`, { url, status: r.status, refusal: { reason: "missing-asset", url, path: d.path } });
        const actual = hash.digest("hex");
        if (actual === d.sha256 && r.n === d.size) {
          await staged.commit();
          return r.n;
        }
        if (attempt >= 1) {
          throw new IntegrityError(`refusing ${url}: wrong content for asset ${d.path}: expected sha256 ${d.sha256}, got ${actual}; the cache was not switched`, { url, expected: d.sha256, actual, refusal: { reason: "wrong-asset-content", url, path: d.path, expected: d.sha256, actual } });
        }
      }
    } finally {
      staged.discard();
    }
  }

  async fetchBlob(http, d) {
    const rel = blobPath(d.sha256);
    const url = http.url(rel);
    const what = d.asset ? `asset ${d.path}` : `${d.lang}/${d.path}`;
    // A document from a delta has no size yet: the limit is then DELTA_BLOB_LIMIT.
    const limit = d.size === null ? DELTA_BLOB_LIMIT : Math.max(1024, d.size + 1024);
    for (let attempt = 0; ; attempt++) {
      const r = await http.get(rel, { limit, expect: d.size });
      if (r.status !== 200) {
        const refusal = d.asset ? { reason: "missing-asset", url, path: d.path } : { reason: "missing-document", url, lang: d.lang, path: d.path };
        throw new FetchError(`${url} is missing (${d.asset ? "" : "document "}${what})`, { url, status: r.status, refusal });
      }
      const actual = await sha256Hex(r.bytes);
      if (actual === d.sha256) return r.bytes;
      if (attempt >= 1) {
        const refusal = d.asset
          ? { reason: "wrong-asset-content", url, path: d.path, expected: d.sha256, actual }
          : { reason: "wrong-content", url, lang: d.lang, path: d.path, expected: d.sha256, actual };
        throw new IntegrityError(`refusing ${url}: wrong content for ${what}: expected sha256 ${d.sha256}, got ${actual}; the cache was not switched`, { url, expected: d.sha256, actual, refusal });
      }
    }
  }

  async verifySignature(indexBytes, sigBytes, trusted, url) {
    // `problem` and its fields: what `kbrel sync --json` says of a signature that does not vouch.
    const refusal = (problem) => ({ url, refusal: { reason: "signature", url, ...problem } });
    let sig;
    try {
      sig = JSON.parse(dec.decode(sigBytes));
    } catch (e) {
      throw new SignatureError(`refusing ${url}: index.json.sig is not a kbrel signature file: ${e.message}`, refusal({ problem: "unreadable", message: e.message }));
    }
    if (sig?.schema_version !== SCHEMA_VERSION) {
      throw new SignatureError(`refusing ${url}: index.json.sig has schema_version ${sig?.schema_version}, this client understands ${SCHEMA_VERSION}`, refusal({ problem: "schema", found: sig?.schema_version ?? null }));
    }
    const signer = parsePublicKey(sig.key);
    if (!signer) throw new SignatureError(`refusing ${url}: index.json.sig names an invalid key \`${sig.key}\``, refusal({ problem: "invalid-key", key: sig.key }));
    const signerS = "ed25519:" + b64encode(signer);
    if (!trusted.some((t) => { const k = parsePublicKey(t); return k && sameBytes(k, signer); })) {
      throw new SignatureError(`refusing ${url}: index.json is signed by ${signerS}, which is not a trusted key`, refusal({ problem: "untrusted-key", key: signerS }));
    }
    const raw = b64decode(sig.signature);
    if (!raw) throw new SignatureError(`refusing ${url}: the signature is not 64 bytes of base64`, refusal({ problem: "not-base64" }));
    if (raw.length !== 64) throw new SignatureError(`refusing ${url}: the signature is not 64 bytes of base64`, refusal({ problem: "wrong-length" }));
    if (!(await this.verifyEd25519(signer, raw, indexBytes))) {
      const indexSha = await sha256Hex(indexBytes);
      throw new SignatureError(`refusing ${url}: the signature by ${signerS} does not match index.json (sha256 ${indexSha})`, refusal({ problem: "mismatch", key: signerS, index_sha256: indexSha }));
    }
    if (sig.next_key) {
      const e = sig.next_key;
      const er = b64decode(e.signature);
      const nk = parsePublicKey(e.key);
      if (!er || er.length !== 64 || !nk || !(await this.verifyEd25519(signer, er, enc.encode(ROTATION_CONTEXT + e.key)))) {
        throw new SignatureError(`refusing ${url}: the next-key endorsement is not signed by the index key`, refusal({ problem: "endorsement-mismatch" }));
      }
      return e.key;
    }
    return null;
  }

  async loadManifest() {
    if (this.manifest && this.tree && this.manifestSha === this.tree.manifest_sha256) return this.manifest;
    if (!this.tree) return null;
    let bytes = await this.store.getManifest(this.tree.manifest_sha256);
    if (bytes && (await sha256Hex(bytes)) !== this.tree.manifest_sha256) bytes = null;
    if (bytes) this.manifest = parseManifest(bytes, "manifest");
    else {
      // After a delta: the documents' keys and titles as derived from the previous manifest
      // and the diff (written by update(), not fetched).
      const derived = await this.store.getManifest(`derived-${this.tree.manifest_sha256}`);
      this.manifest = derived ? JSON.parse(dec.decode(derived)) : null;
    }
    this.manifestSha = this.tree.manifest_sha256;
    return this.manifest;
  }

  /** Every document of the current version: [{lang, key, path, title, sha256, size}]. */
  async list(lang = null) {
    if (!this.tree) return [];
    const m = await this.loadManifest();
    const info = new Map((m?.documents ?? []).map((d) => [`${d.lang}\0${d.path}`, d]));
    return this.tree.documents
      .filter((d) => !lang || d.lang === lang)
      .map((d) => {
        const i = info.get(`${d.lang}\0${d.path}`);
        return { lang: d.lang, path: d.path, key: i?.key ?? d.path.replace(/\.md$/, ""), title: i?.title ?? null, url: i?.url ?? null, sha256: d.sha256, size: d.size };
      });
  }

  /**
   * One document by its key (as in the bundles) or its path (`guide/setup.md`):
   * {key, path, title, meta, markdown, frontMatter, text} or null. `markdown` is the body
   * without front matter, `text` the whole document. Its sha256 is checked again on read.
   */
  async get(lang, keyOrPath) {
    if (!this.tree) return null;
    if (!this.byKey) {
      this.byKey = new Map();
      for (const d of await this.list()) {
        this.byKey.set(`${d.lang}\0${d.path}`, d);
        if (!this.byKey.has(`${d.lang}\0${d.key}`)) this.byKey.set(`${d.lang}\0${d.key}`, d);
      }
    }
    const d = this.byKey.get(`${lang}\0${keyOrPath}`);
    if (!d) return null;
    const bytes = await this.store.getObject(d.sha256);
    if (!bytes) throw new KbrelError("store", `document ${lang}/${d.path} (sha256 ${d.sha256}) is missing from the store`);
    const actual = await sha256Hex(bytes);
    if (actual !== d.sha256) throw new IntegrityError(`document ${lang}/${d.path} in the store does not match sha256 ${d.sha256} (got ${actual})`, { expected: d.sha256, actual });
    const text = utf8(bytes);
    const { meta, body, frontMatter } = splitFrontMatter(text);
    return { lang, key: d.key, path: d.path, title: d.title ?? meta.title ?? null, meta, markdown: body, frontMatter, text };
  }

  /**
   * One asset of the current version by its content-root path (`images/arch.png`, as listed in
   * the manifest): its bytes, checked against its sha256 again on read, or null.
   */
  async asset(path) {
    const a = this.tree?.assets?.find((x) => x.path === path);
    if (!a) return null;
    const bytes = await this.store.getObject(a.sha256);
    if (!bytes) throw new KbrelError("store", `asset ${path} (sha256 ${a.sha256}) is missing from the store`);
    const actual = await sha256Hex(bytes);
    if (actual !== a.sha256) throw new IntegrityError(`asset ${path} in the store does not match sha256 ${a.sha256} (got ${actual})`, { expected: a.sha256, actual });
    return bytes;
  }

  /**
   * One asset of the current version as a web ReadableStream of its bytes, for assets too
   * large to hold (a video): read from the store as it is consumed (the folder store's file in
   * Node, the IndexedDB Blob in a browser; a store without `objectStream`, such as the memory
   * store, gives the bytes it holds), hashed as it goes, its last chunk handed out only once
   * the whole matched the manifest's size and sha256 (else the stream errors with an
   * IntegrityError). Null when the version has no such asset. In Node,
   * `stream.Readable.fromWeb(s)` makes it a Node stream.
   */
  async assetStream(path) {
    const a = this.tree?.assets?.find((x) => x.path === path);
    if (!a) return null;
    let source = null;
    if (typeof this.store.objectStream === "function") source = await this.store.objectStream(a.sha256);
    else {
      const bytes = await this.store.getObject(a.sha256);
      if (bytes) source = oneChunk(bytes);
    }
    if (!source) throw new KbrelError("store", `asset ${path} (sha256 ${a.sha256}) is missing from the store`);
    return verifiedStream(source, a);
  }

  async close() {
    await this.store.close();
  }
}

// node consume.mjs <registry URL> <cache dir>: fetch the latest release, only what changed.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

const [base, cache] = process.argv.slice(2);
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
async function get(path, sha, headers = {}) {
  const res = await fetch(new URL(path, base), { headers });
  if (res.status === 304) return null;
  if (!res.ok) throw new Error(`GET ${res.url}: HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (sha && sha256(bytes) !== sha) throw new Error(`${res.url}: expected sha256 ${sha}, got ${sha256(bytes)}`);
  return Object.assign(bytes, { etag: res.headers.get("etag") });
}

await mkdir(cache, { recursive: true });
const etagFile = join(cache, ".index-etag");
const etag = await readFile(etagFile, "utf8").catch(() => "");
const raw = await get("index.json", null, etag ? { "If-None-Match": etag } : {});
if (!raw) { console.log("index.json not modified: up to date"); process.exit(0); }
const index = JSON.parse(raw);
const v = index.versions.find((v) => v.version === index.dist_tags.latest);
const manifest = JSON.parse(await get(v.manifest.path, v.manifest.sha256)); // sha256 from the index
let fetched = 0;
for (const d of manifest.documents) {
  if (![d.lang, ...d.path.split("/")].every((s) => s && s !== "." && s !== "..")) throw new Error(`unsafe path ${d.path}`);
  const file = join(cache, d.lang, d.path);
  const have = await readFile(file).catch(() => null);
  if (have && sha256(have) === d.sha256) continue; // unchanged: nothing to fetch
  const bytes = await get(`blobs/sha256/${d.sha256.slice(0, 2)}/${d.sha256.slice(2)}`, d.sha256);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, bytes);
  console.log(`fetched ${d.lang}/${d.path}`);
  fetched++;
}
await writeFile(etagFile, raw.etag ?? ""); // last: a later 304 means all of this is in place
console.log(`${manifest.name}@${v.version}: ${fetched} fetched, ${manifest.documents.length} documents`);

// @kbrel/client in headless Chromium (Debian's chromium driven by playwright-core), run by
// tests/it/jsclient.rs. A console page served from its own origin (this script's static server)
// reads a registry on another origin (`kbrel serve --cors <page origin>`) and:
//   1. opens the docs into IndexedDB at 1.0.0;
//   2. updates 1.0.0 → 1.1.0 fetching only index.json, the delta (diff.json) and the changed documents
//      (every request the page makes to the registry is counted);
//   3. in another database at 1.0.0, refuses a tampered blob (IntegrityError naming its URL)
//      and keeps showing 1.0.0;
//   4. reloads with the registry unreachable and still shows 1.1.0 from IndexedDB;
// and it checks that the IndexedDB store keeps an asset as a Blob, read back as its bytes and
// through assetStream (hashed in plain JavaScript).
// Environment: REGISTRY (URL of kbrel serve, with /), PAGE_PORT, CHROMIUM, PLAYWRIGHT_DIR,
// USER_DATA_DIR, ARTIFACTS.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const registry = env("REGISTRY");
const pagePort = Number(env("PAGE_PORT"));
const require = createRequire(path.join(env("PLAYWRIGHT_DIR"), "package.json"));
const { chromium } = require("playwright-core");
const clientDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

let checks = 0;
const check = (cond, message) => {
  assert.ok(cond, message);
  checks++;
};
const log = (m) => console.log(`browser: ${m}`);

// The console's origin: the page and the client's modules.
const PAGE = `<!doctype html><meta charset="utf-8"><title>Acme console</title>
<p id="status">loading</p><pre id="doc"></pre>
<script type="module">
import * as kbrel from "/src/index.js";
const registry = new URLSearchParams(location.search).get("registry");
window.open_ = (db) => kbrel.openDocs({ registry, store: new kbrel.IndexedDbStore(db) });
window.update = async (db, version) => {
  const kb = await window.open_(db);
  try {
    const r = await kb.update({ version });
    return { ok: true, report: r };
  } catch (e) {
    return { ok: false, name: e.name, check: e.check, url: e.url, message: e.message };
  } finally {
    await kb.close();
  }
};
window.show = async (db, lang, path) => {
  const kb = await window.open_(db);
  const d = await kb.get(lang, path);
  document.querySelector("#status").textContent = kb.currentVersion ?? "empty";
  document.querySelector("#doc").textContent = d ? d.markdown : "";
  await kb.close();
  return { version: kb.currentVersion, markdown: d?.markdown ?? null, title: d?.title ?? null };
};
// An asset goes into IndexedDB as a Blob (one copy, which the browser may keep on disk), a
// document as bytes; both read back as the same bytes.
window.blobs = async () => {
  const store = new kbrel.IndexedDbStore("blobs");
  await store.open();
  const bytes = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
  await store.putObject("asset", bytes, { asset: true });
  await store.putObject("doc", bytes.slice(0, 10));
  const raw = (key) => new Promise((resolve, reject) => {
    const r = store.db.transaction("objects").objectStore("objects").get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const [a, d] = [await raw("asset"), await raw("doc")];
  const back = await store.getObject("asset");
  const same = back instanceof Uint8Array && back.length === bytes.length && back.every((x, i) => x === bytes[i]);
  // assetStream: the Blob streamed and hashed in plain JavaScript (no node:crypto here), and
  // other bytes of the same size never streamed complete.
  const sha = await kbrel.sha256Hex(bytes);
  await store.putObject(sha, bytes, { asset: true });
  const tree = { format: kbrel.CACHE_FORMAT, name: "x", version: "1.0.0", languages: [], manifest_sha256: "0".repeat(64), documents: [], assets: [{ path: "media/a.bin", sha256: sha, size: bytes.length }] };
  await store.commit({ tree, state: { format: kbrel.CACHE_FORMAT, source: "", index_etag: null, highest_sequence: 0, trusted_keys: [] }, indexBytes: null });
  const kb = new kbrel.Docs({ registry: "http://127.0.0.1:9/", store });
  await kb.open();
  const drain = async () => {
    const parts = [];
    try {
      for (const r = (await kb.assetStream("media/a.bin")).getReader(); ;) {
        const { done, value } = await r.read();
        if (done) break;
        parts.push(value);
      }
    } catch (e) {
      return { error: e.name, got: parts.reduce((n, p) => n + p.length, 0) };
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
    return { chunks: parts.length, same: all.length === bytes.length && all.every((x, i) => x === bytes[i]) };
  };
  const streamed = await drain();
  await store.putObject(sha, new Uint8Array(bytes.length), { asset: true });
  const tampered = await drain();
  await kb.close();
  return { assetIsBlob: a instanceof Blob, docIsBlob: d instanceof Blob, same, streamed, tampered };
};
window.ready = true;
</script>`;
const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return res.end(PAGE);
  }
  if (/^\/src\/[a-z]+\.js$/.test(url.pathname)) {
    const body = await readFile(path.join(clientDir, url.pathname)).catch(() => null);
    if (body) {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      return res.end(body);
    }
  }
  res.writeHead(404).end();
});
await new Promise((r) => server.listen(pagePort, "127.0.0.1", r));
const origin = `http://127.0.0.1:${pagePort}`;

// What the registry says changed between 1.0.0 and 1.1.0 (read here, outside the browser).
const manifest = async (v) => (await (await fetch(`${registry}v/${v}/manifest.json`)).json()).documents;
const [m1, m2] = [await manifest("1.0.0"), await manifest("1.1.0")];
const had = new Set(m1.map((d) => d.sha256));
const changed = [...new Set(m2.filter((d) => !had.has(d.sha256)).map((d) => d.sha256))];
check(changed.length >= 4, `1.1.0 changes documents (${changed.length})`);
const blobUrl = (sha) => `${registry}blobs/sha256/${sha.slice(0, 2)}/${sha.slice(2)}`;
const target = m2.find((d) => d.lang === "en" && d.path === "d004.md");
const old = m1.find((d) => d.lang === "en" && d.path === "d004.md");

const ctx = await chromium.launchPersistentContext(env("USER_DATA_DIR"), {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await ctx.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  const requests = [];
  page.on("request", (r) => {
    if (r.url().startsWith(registry)) requests.push(`${r.method()} ${r.url().slice(registry.length)}`);
  });
  await page.goto(`${origin}/?registry=${encodeURIComponent(registry)}`);
  await page.waitForFunction(() => window.ready === true);
  check(new URL(page.url()).origin !== new URL(registry).origin, "the page and the registry are different origins");

  // 1. First open: every document of 1.0.0.
  let r = await page.evaluate(() => window.update("main", "1.0.0"));
  check(r.ok, `first update: ${JSON.stringify(r)}`);
  check(r.report.version === "1.0.0" && r.report.documentsFetched === m1.length, `1.0.0 with ${m1.length} documents: ${JSON.stringify(r.report)}`);
  let shown = await page.evaluate(() => window.show("main", "en", "d004.md"));
  check(shown.version === "1.0.0", `shows 1.0.0: ${JSON.stringify(shown)}`);
  check((await page.textContent("#status")) === "1.0.0", "the page says 1.0.0");
  requests.length = 0;

  // 2. 1.0.0 → 1.1.0: index.json, the manifest and only the changed documents.
  r = await page.evaluate(() => window.update("main", "latest"));
  check(r.ok && r.report.version === "1.1.0", `update to 1.1.0: ${JSON.stringify(r)}`);
  const gets = requests.filter((x) => x.startsWith("GET ")).map((x) => x.slice(4)).sort();
  // 1.0.0 is held and 1.1.0 was diffed against it: the delta replaces the whole manifest.
  const want = ["index.json", "v/1.1.0/diff.json", ...changed.map((s) => blobUrl(s).slice(registry.length))].sort();
  assert.deepEqual(gets, want, "the update fetched exactly the index, the delta and the changed documents");
  checks++;
  check(r.report.delta === true, "the update used the delta");
  check(r.report.documentsFetched === changed.length, `documentsFetched ${r.report.documentsFetched}`);
  log(`1.0.0 → 1.1.0: ${gets.length} GETs (${changed.length} changed documents of ${m2.length}), ${r.report.bytesOnWire} bytes on the wire, ${r.report.bytesDecoded} decoded`);
  shown = await page.evaluate(() => window.show("main", "en", "d004.md"));
  check(shown.version === "1.1.0" && shown.markdown.endsWith("Revised for 1.1 (en d004.md).\n"), `shows the 1.1.0 text: ${JSON.stringify(shown)}`);
  check((await page.textContent("#doc")).includes("Revised for 1.1 (en d004.md)."), "the page shows the new text");
  requests.length = 0;
  r = await page.evaluate(() => window.update("main", "latest"));
  check(r.ok && r.report.notModified && r.report.requests === 1, `nothing new: one request, 304: ${JSON.stringify(r.report)}`);

  // 3. A tampered blob is refused; the other database keeps 1.0.0.
  r = await page.evaluate(() => window.update("tamper", "1.0.0"));
  check(r.ok, "second database at 1.0.0");
  await page.route(blobUrl(target.sha256), (route) =>
    route.fulfill({ status: 200, body: "# not the document\n", headers: { "access-control-allow-origin": "*", "content-type": "text/markdown" } }));
  r = await page.evaluate(() => window.update("tamper", "latest"));
  check(!r.ok && r.check === "sha256" && r.name === "IntegrityError", `tampered blob refused: ${JSON.stringify(r)}`);
  check(r.url === blobUrl(target.sha256) && r.message.includes(`expected sha256 ${target.sha256}`), `the error names the URL and the hash: ${r.message}`);
  shown = await page.evaluate(() => window.show("tamper", "en", "d004.md"));
  check(shown.version === "1.0.0" && !shown.markdown.includes("Revised for 1.1"), `still 1.0.0 after the refusal: ${JSON.stringify(shown)}`);
  await page.unroute(blobUrl(target.sha256));
  check(old.sha256 !== target.sha256, "d004.md changed in 1.1.0");

  // An asset is stored as a Blob and read back as its bytes.
  const blobs = await page.evaluate(() => window.blobs());
  check(blobs.assetIsBlob && !blobs.docIsBlob && blobs.same, `assets as Blobs in IndexedDB: ${JSON.stringify(blobs)}`);
  check(blobs.streamed.same, `assetStream streams the Blob, verified: ${JSON.stringify(blobs.streamed)}`);
  check(blobs.tampered.error === "IntegrityError" && blobs.tampered.got < 1 << 20, `assetStream never completes other bytes: ${JSON.stringify(blobs.tampered)}`);

  // 4. Reload with the registry unreachable: IndexedDB still shows 1.1.0.
  await page.route(`${registry}**`, (route) => route.abort("internetdisconnected"));
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  r = await page.evaluate(() => window.update("main", "latest"));
  check(!r.ok && r.check === "fetch" && r.url === `${registry}index.json`, `offline update fails naming index.json: ${JSON.stringify(r)}`);
  shown = await page.evaluate(() => window.show("main", "en", "d004.md"));
  check(shown.version === "1.1.0" && shown.markdown.endsWith("Revised for 1.1 (en d004.md).\n"), `offline: still 1.1.0: ${JSON.stringify(shown)}`);
  check((await page.textContent("#status")) === "1.1.0", "the page says 1.1.0 offline");
  await page.screenshot({ path: path.join(env("ARTIFACTS"), "jsclient-offline.png") });
  check(problems.length === 0, `no page errors: ${problems.join("; ")}`);
} finally {
  await ctx.close();
  server.close();
}
log(`all ${checks} checks passed`);

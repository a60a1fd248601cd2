// The client against `kbrel serve`: first update, an update fetching only what changed, a
// no-change update answered 304, version choice (agreeing with kbrel sync), downgrades,
// AbortSignal, progress, signatures, gzip byte counts, CORS, and the folder store sharing its
// cache with `kbrel sync` both ways.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readlinkSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  openDocs, MemoryStore, KbrelError, RollbackError, SignatureError, AbortError,
} from "../src/index.js";
import { FolderStore } from "../src/folder.js";
import { needs, makeKb, serve, countingFetch, kbrel, kbrelBin, tmp, text } from "./helpers.mjs";

const opt = needs("KBREL_BIN", kbrelBin);
let kb, server;

before(async () => {
  if (opt.skip) return;
  kb = makeKb({ docs: 12 });
  kb.publish("1.0.0");
  server = await serve(kb.registry, ["--cors", "*"]);
});
after(() => {
  server?.stop();
  kb?.cleanup();
});

const blobRequests = (log) => log.filter((l) => l.url.includes("/blobs/")).length;

test("first update, get by key and path, then only the changed documents, then one 304", opt, async () => {
  const net = countingFetch();
  const docs = await openDocs({ registry: server.url, store: new MemoryStore(), fetch: net.fetch });
  assert.equal(docs.currentVersion, null);
  assert.equal(await docs.get("en", "Install"), null);
  const progress = [];
  const r1 = await docs.update({ onProgress: (p) => progress.push(p) });
  assert.equal(r1.version, "1.0.0");
  assert.equal(r1.documentsFetched, 28);
  assert.deepEqual(r1.changes.en, { added: 14, updated: 0, removed: 0 });
  assert.equal(progress.length, 28);
  assert.deepEqual(progress.at(-1).done, 28);
  assert.equal(progress.at(-1).total, 28);
  assert.equal(blobRequests(net.take()), 28);

  const install = await docs.get("en", "Install");
  assert.equal(install.key, "Install");
  assert.equal(install.path, "01 Getting started/Install guide.md");
  assert.equal(install.title, "Install guide");
  assert.deepEqual(install.meta.tags, ["guide", "x y"]);
  assert.equal(install.markdown, "\n# Install guide\n\nRun the installer.\n");
  assert.equal(install.text, kb.files["en/01 Getting started/Install guide.md"]);
  const zh = await docs.get("zh", "01 Getting started/Install guide.md");
  assert.equal(zh.title, "安装指南");
  const notes = await docs.get("zh", "notes");
  assert.deepEqual(notes.meta, {});
  assert.equal(notes.markdown, kb.files["zh/notes.md"]);
  assert.equal((await docs.list("en")).length, 14);

  kb.append("en", "02 参考/d3.md", "\nOne more line.\n");
  kb.append("zh", "02 参考/d5.md", "\n又一行。\n");
  kb.publish("1.1.0");
  const r2 = await docs.update();
  const log = net.take();
  assert.equal(r2.version, "1.1.0");
  assert.equal(r2.previous, "1.0.0");
  assert.deepEqual(r2.changes, { en: { added: 0, updated: 1, removed: 0 }, zh: { added: 0, updated: 1, removed: 0 } });
  assert.equal(r2.documentsFetched, 2);
  // 1.0.0 is held and 1.1.0's previous: the delta (diff.json) replaces the whole manifest.
  assert.deepEqual(log.map((l) => l.url.slice(server.url.length).replace(/blobs\/.*/, "blob")).sort(), ["blob", "blob", "index.json", "v/1.1.0/diff.json"]);
  assert.equal(r2.requests, 4);
  assert.equal(r2.delta, true);
  const d3 = await docs.get("en", "02 参考/d3.md");
  assert.ok(d3.markdown.endsWith("One more line.\n"));
  assert.deepEqual([d3.title, d3.key], ["Doc 3", (await docs.list("en")).find((d) => d.path === "02 参考/d3.md").key]);
  assert.equal((await docs.get("zh", "Install")).title, "安装指南", "unchanged documents keep their keys and titles");

  // Without the delta (or when the registry has none) the manifest: the same documents.
  const full = await openDocs({ registry: server.url, delta: false, version: "1.0.0" });
  await full.update();
  const rf = await full.update({ version: "1.1.0" });
  assert.deepEqual([rf.delta, rf.documentsFetched], [false, 2]);
  assert.deepEqual(await full.list(), await docs.list());

  const r3 = await docs.update();
  assert.deepEqual(net.take().map((l) => [l.url.slice(server.url.length), l.status, !!l.ifNoneMatch]), [["index.json", 304, true]]);
  assert.equal(r3.notModified, true);
  assert.equal(r3.upToDate, true);
  assert.equal(r3.requests, 1);
  assert.equal(r3.bytesOnWire, 0);
});

test("bytes on the wire and bytes decoded are counted separately (gzip from kbrel serve)", opt, async () => {
  const docs = await openDocs({ registry: server.url, version: "1.0.0" });
  const r = await docs.update();
  assert.ok(r.bytesDecoded > 0);
  assert.ok(r.bytesOnWire < r.bytesDecoded, `gzip-encoded JSON: ${r.bytesOnWire} on the wire < ${r.bytesDecoded} decoded`);
});

// In Node the client speaks node:http (fetch when one is passed): a redirecting host is
// followed, and a gzip body that decodes past the limit is refused without being held whole.
test("node transport: redirects are followed; a gzip bomb is refused, not retried", opt, async () => {
  const { createServer } = await import("node:http");
  const { gzipSync } = await import("node:zlib");
  let bombs = 0;
  const front = createServer((req, res) => {
    if (req.url === "/bomb/index.json") {
      bombs++;
      const body = gzipSync(Buffer.alloc(65 << 20, 32)); // 64 MiB is the index limit
      res.writeHead(200, { "Content-Encoding": "gzip", "Content-Length": body.length });
      res.end(body);
      return;
    }
    res.writeHead(302, { Location: new URL(req.url.replace(/^\/moved/, ""), server.url).href });
    res.end();
  });
  await new Promise((r) => front.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${front.address().port}`;
  try {
    const docs = await openDocs({ registry: `${base}/moved/`, version: "1.0.0" });
    const r = await docs.update();
    assert.equal(r.version, "1.0.0");
    assert.equal(r.documentsFetched, 28);
    assert.equal((await docs.get("en", "Install")).title, "Install guide");
    const e = await openDocs({ registry: `${base}/bomb/` }).then((d) => d.update()).catch((x) => x);
    assert.equal(e.check, "fetch", String(e));
    assert.match(e.message, /bomb\/index\.json: the response is larger than the 67108864 bytes expected/);
    assert.equal(bombs, 1, "a body over the limit is not asked for again");
  } finally {
    front.close();
  }
});

test("version choice agrees with kbrel sync; downgrades need allowDowngrade", opt, async (t) => {
  const index = JSON.parse(readFileSync(join(kb.registry, "index.json"), "utf8"));
  assert.ok(index.versions.length >= 2);
  for (const spec of ["latest", "1.0.0", "v1.0.0", "^1.0", "~1.0", "<1.1", ">=1.0, <1.1", "*", "=1"]) {
    const js = await openDocs({ registry: server.url, version: spec });
    const mine = (await js.update()).version;
    const cache = join(tmp(), "c");
    const r = kbrel(["sync", "--from", server.url, "--into", cache, "--version", spec, "--dry-run", "--json"]);
    assert.equal(mine, JSON.parse(r.stdout).version, `spec ${spec}`);
  }
  const err = await openDocs({ registry: server.url, version: "^3" }).then((d) => d.update()).catch((e) => e);
  assert.equal(err.check, "version");
  assert.match(err.message, /1\.0\.0, 1\.1\.0/);

  const docs = await openDocs({ registry: server.url });
  await docs.update();
  const down = await docs.update({ version: "1.0.0" }).catch((e) => e);
  assert.ok(down instanceof RollbackError, String(down));
  assert.match(down.message, /holds 1\.1\.0, newer than the selected 1\.0\.0/);
  assert.equal(docs.currentVersion, "1.1.0");
  assert.equal((await docs.update({ version: "1.0.0", allowDowngrade: true })).version, "1.0.0");
});

test("an AbortSignal stops an update and the store keeps its version", opt, async () => {
  const store = new MemoryStore();
  const docs = await openDocs({ registry: server.url, store, version: "1.0.0" });
  await docs.update();
  // Move to a version with every document new: a fresh knowledge base behind another server.
  const other = makeKb({ docs: 30, name: "acme-docs" });
  other.publish("2.0.0");
  const s2 = await serve(other.registry);
  try {
    const ac = new AbortController();
    const d2 = await openDocs({ registry: s2.url, store, parallel: 1 });
    const e = await d2.update({ signal: ac.signal, onProgress: (p) => p.done === 3 && ac.abort(new Error("user left")) }).catch((x) => x);
    assert.ok(e instanceof AbortError, String(e?.stack ?? e));
    assert.match(e.message, /user left/);
    assert.equal((await store.currentTree()).version, "1.0.0");
    const fresh = await openDocs({ registry: server.url, store, version: "1.0.0" });
    assert.equal((await fresh.get("en", "Install")).title, "Install guide");
  } finally {
    s2.stop();
    other.cleanup();
  }
});

test("the folder store is a kbrel sync cache: either tool updates the other's cache", opt, async () => {
  const kb2 = makeKb({ docs: 6, name: "acme-shared" });
  kb2.publish("1.0.0");
  const s = await serve(kb2.registry);
  try {
    // JS first, then kbrel sync checks and updates it.
    const cache = join(tmp(), "cache");
    const js = await openDocs({ registry: s.url, store: new FolderStore(cache) });
    await js.update();
    assert.equal(readFileSync(join(cache, "en/01 Getting started/Install guide.md"), "utf8"), kb2.files["en/01 Getting started/Install guide.md"]);
    assert.match(kbrel(["sync", "--offline", "--into", cache]).stdout, /acme-shared@1\.0\.0: 16 documents, 0 problem/);
    const noop = JSON.parse(kbrel(["sync", "--from", s.url, "--into", cache, "--json"]).stdout);
    assert.deepEqual([noop.not_modified, noop.up_to_date, noop.requests], [true, true, 1]);
    kb2.append("zh", "notes.md", "\n更新。\n");
    kb2.publish("1.1.0");
    const up = JSON.parse(kbrel(["sync", "--from", s.url, "--into", cache, "--json"]).stdout);
    assert.deepEqual([up.version, up.documents_fetched], ["1.1.0", 1]);
    // Back to JS: it reads what kbrel wrote, fetches the manifest once for keys and titles.
    const again = await openDocs({ registry: s.url, store: new FolderStore(cache) });
    assert.equal(again.currentVersion, "1.1.0");
    const r = await again.update();
    assert.deepEqual([r.upToDate, r.notModified, r.documentsFetched], [true, true, 0]);
    assert.ok((await again.get("zh", "notes")).markdown.endsWith("更新。\n"));
    assert.equal((await again.get("zh", "Install")).title, "安装指南");

    // kbrel sync first, then JS updates it; the tree ids agree byte for byte.
    const cache2 = join(tmp(), "cache");
    kbrel(["sync", "--from", s.url, "--into", cache2, "--version", "1.0.0"]);
    const js2 = await openDocs({ registry: s.url, store: new FolderStore(cache2) });
    assert.equal(js2.currentVersion, "1.0.0");
    const r2 = await js2.update();
    assert.deepEqual([r2.version, r2.documentsFetched], ["1.1.0", 1]);
    assert.equal(readlinkSync(join(cache2, ".kbrel/current")), readlinkSync(join(cache, ".kbrel/current")));
    assert.equal(readFileSync(join(cache2, ".kbrel/current/tree.json"), "utf8"), readFileSync(join(cache, ".kbrel/current/tree.json"), "utf8"));
    assert.match(kbrel(["sync", "--offline", "--into", cache2]).stdout, /acme-shared@1\.1\.0: 16 documents, 0 problem/);
    // Only one tree and only the objects it uses are left.
    assert.equal(readdirSync(join(cache2, ".kbrel/trees")).length, 1);
    assert.equal(readdirSync(join(cache2, ".kbrel/manifests")).length, 1);
    // A folder that is not a cache is left alone.
    const foreign = tmp();
    writeFileSync(join(foreign, "notes.txt"), "mine");
    const e = await openDocs({ registry: s.url, store: new FolderStore(foreign) }).catch((x) => x);
    assert.ok(e instanceof KbrelError && /holds `notes.txt`.*not a kbrel cache/.test(e.message), String(e));
    assert.deepEqual(readdirSync(foreign), ["notes.txt"]);
  } finally {
    s.stop();
    kb2.cleanup();
  }
});

test("a pinned key: signed index accepted, a foreign key refused naming URL and check", opt, async () => {
  const signed = makeKb({ docs: 3, name: "acme-signed", sign: true });
  signed.publish("1.0.0");
  const s = await serve(signed.registry);
  try {
    const ok = await openDocs({ registry: s.url, trustKey: signed.key });
    assert.equal((await ok.update()).version, "1.0.0");
    const other = "ed25519:" + Buffer.alloc(32, 1).toString("base64");
    const bad = await openDocs({ registry: s.url, trustKey: other });
    const e = await bad.update().catch((x) => x);
    assert.ok(e instanceof SignatureError, String(e));
    assert.equal(e.check, "signature");
    assert.equal(e.url, s.url + "index.json");
    assert.match(e.message, /which is not a trusted key/);
    assert.equal(bad.currentVersion, null);
    await assert.rejects(openDocs({ registry: s.url, trustKey: "ed25519:nope" }), /invalid public key `ed25519:nope`/);
  } finally {
    s.stop();
    signed.cleanup();
  }
});

test("kbrel serve --cors answers preflights and exposes ETag; without --cors it does not", opt, async () => {
  const pre = await fetch(server.url + "index.json", { method: "OPTIONS", headers: { Origin: "https://console.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match" } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  assert.match(pre.headers.get("access-control-allow-headers"), /If-None-Match/);
  const get = await fetch(server.url + "index.json", { headers: { Origin: "https://console.example.com" } });
  assert.equal(get.headers.get("access-control-allow-origin"), "*");
  assert.match(get.headers.get("access-control-expose-headers"), /ETag/);

  const only = await serve(kb.registry, ["--cors", "https://console.example.com"]);
  const plain = await serve(kb.registry);
  try {
    const mine = await fetch(only.url + "index.json", { headers: { Origin: "https://console.example.com" } });
    assert.equal(mine.headers.get("access-control-allow-origin"), "https://console.example.com");
    assert.match(mine.headers.get("vary"), /Origin/);
    const theirs = await fetch(only.url + "index.json", { headers: { Origin: "https://evil.example.com" } });
    assert.equal(theirs.headers.get("access-control-allow-origin"), null);
    const none = await fetch(plain.url + "index.json", { method: "OPTIONS", headers: { Origin: "https://console.example.com" } });
    assert.equal(none.status, 405);
    assert.equal(none.headers.get("access-control-allow-origin"), null);
  } finally {
    only.stop();
    plain.stop();
  }
  const bad = kbrel(["serve", kb.registry, "--cors", "https://x.example/path"], { allowFail: true });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--cors/);
});

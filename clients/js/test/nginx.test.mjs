// The client against nginx serving a registry as static files with the configuration of the
// static-hosting guide page (content/en/commands/serve.md) as it is: CORS preflight and
// headers, conditional index.json (304), an update fetching only the changed documents.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openDocs, MemoryStore } from "../src/index.js";
import { existsSync, readFileSync, statSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { needs, makeKb, nginx, countingFetch, kbrel, kbrelBin, nginxBin, tmp } from "./helpers.mjs";

const opt = kbrelBin ? needs("KBREL_NGINX", nginxBin) : needs("KBREL_BIN", kbrelBin);
let kb, server;

before(async () => {
  if (opt.skip) return;
  kb = makeKb({ docs: 10, name: "acme-static", precompress: true });
  kb.publish("1.0.0");
  server = await nginx(kb.registry);
});
after(() => {
  server?.stop();
  kb?.cleanup();
});

test("the guide's nginx configuration answers CORS preflights and exposes ETag", opt, async () => {
  const origin = { Origin: "https://console.example.com" };
  const pre = await fetch(server.url + "index.json", { method: "OPTIONS", headers: { ...origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match" } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  assert.match(pre.headers.get("access-control-allow-headers"), /If-None-Match/);
  assert.match(pre.headers.get("access-control-allow-methods"), /GET/);
  const index = await fetch(server.url + "index.json", { headers: origin });
  assert.equal(index.status, 200);
  assert.equal(index.headers.get("access-control-allow-origin"), "*");
  assert.match(index.headers.get("access-control-expose-headers"), /ETag/);
  assert.equal(index.headers.get("cache-control"), "no-cache");
  const etag = index.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(server.url + "index.json", { headers: { ...origin, "If-None-Match": etag } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("access-control-allow-origin"), "*");
  const m = await fetch(server.url + "v/1.0.0/manifest.json", { headers: origin });
  assert.equal(m.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(m.headers.get("access-control-allow-origin"), "*");
});

test("updates through nginx: everything, then only the changed documents, then one 304", opt, async () => {
  const net = countingFetch();
  const docs = await openDocs({ registry: server.url, store: new MemoryStore(), fetch: net.fetch });
  const first = await docs.update();
  assert.equal(first.documentsFetched, 24);
  // nginx compresses on the fly without Content-Length: fetch cannot see the encoded size, so
  // the report counts decoded bytes for those responses (an upper bound).
  assert.ok(first.bytesOnWire <= first.bytesDecoded);
  const gz = await fetch(server.url + "index.json");
  assert.equal(gz.headers.get("content-encoding"), "gzip", "the guide's configuration gzips JSON");
  net.take();
  kb.append("en", "02 参考/d2.md", "\nChanged.\n");
  kb.publish("1.1.0");
  const r = await docs.update();
  assert.equal(r.version, "1.1.0");
  assert.deepEqual(net.take().map((l) => l.url.slice(server.url.length).replace(/blobs\/.*/, "blob")).sort(), ["blob", "index.json", "v/1.1.0/diff.json"]);
  assert.ok((await docs.get("en", "02 参考/d2.md")).markdown.endsWith("Changed.\n"));
  const r2 = await docs.update();
  assert.deepEqual([r2.notModified, r2.requests], [true, 1]);
  assert.deepEqual(net.take().map((l) => l.status), [304]);
});

/** A raw GET (no decoding): {status, headers, body}. */
const raw = (url, headers) => new Promise((resolve, reject) => {
  get(url, { headers }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
  }).on("error", reject);
});

test("gzip_static sends the registry's precompressed copies as they are; both clients update through them", opt, async () => {
  const gz = readFileSync(join(kb.registry, "index.json.gz"));
  const r = await raw(server.url + "index.json", { "Accept-Encoding": "gzip" });
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-encoding"], "gzip");
  assert.ok(r.headers.etag, "an ETag for the precompressed copy");
  assert.equal(Number(r.headers["content-length"]), gz.length, "sent whole, with its length");
  assert.deepEqual(r.body, gz, "the .gz file's bytes, not a compression per request");
  const again = await raw(server.url + "index.json", { "Accept-Encoding": "gzip", "If-None-Match": r.headers.etag });
  assert.equal(again.status, 304);
  const plain = await raw(server.url + "index.json", {});
  assert.equal(plain.headers["content-encoding"], undefined);
  assert.deepEqual(plain.body, readFileSync(join(kb.registry, "index.json")));
  const m = await raw(server.url + "v/1.0.0/manifest.json", { "Accept-Encoding": "gzip" });
  assert.deepEqual(m.body, readFileSync(join(kb.registry, "v/1.0.0/manifest.json.gz")));

  // Document blobs have theirs too (when gzip makes them smaller): sent as they are.
  const latest = JSON.parse(readFileSync(join(kb.registry, "index.json"), "utf8")).dist_tags.latest;
  const manifest = JSON.parse(readFileSync(join(kb.registry, `v/${latest}/manifest.json`), "utf8"));
  const blobs = [...new Set(manifest.documents.map((d) => `blobs/sha256/${d.sha256.slice(0, 2)}/${d.sha256.slice(2)}`))];
  const withGz = blobs.filter((b) => existsSync(join(kb.registry, b + ".gz")));
  assert.ok(withGz.length > 0, "some document blobs have a .gz sibling");
  const b = await raw(server.url + withGz[0], { "Accept-Encoding": "gzip" });
  assert.equal(b.headers["content-encoding"], "gzip");
  assert.equal(Number(b.headers["content-length"]), b.body.length);
  assert.deepEqual(b.body, readFileSync(join(kb.registry, withGz[0] + ".gz")));
  assert.ok(b.body.length < statSync(join(kb.registry, withGz[0])).size, "fewer bytes than the markdown");
  // What the variants of everything a first update fetches save (index, manifest, blobs).
  const saved = ["index.json", `v/${latest}/manifest.json`, ...blobs]
    .filter((f) => existsSync(join(kb.registry, f + ".gz")))
    .reduce((n, f) => n + statSync(join(kb.registry, f)).size - statSync(join(kb.registry, f + ".gz")).size, 0);

  // kbrel sync and this client (node:http, Accept-Encoding: gzip) update through them.
  const cache = join(tmp(), "cache");
  const k = kbrel(["sync", "--from", server.url, "--into", cache, "--json"]);
  const kr = JSON.parse(k.stdout);
  assert.equal(kr.version, (JSON.parse(readFileSync(join(kb.registry, "index.json"), "utf8")).dist_tags.latest));
  const docs = await openDocs({ registry: server.url });
  const j = await docs.update();
  assert.equal(j.version, kr.version);
  assert.equal(j.documentsFetched, kr.documents_fetched);
  assert.ok(j.bytesOnWire < j.bytesDecoded, `${j.bytesOnWire} on the wire < ${j.bytesDecoded} decoded`);
  // Both report wire and decoded bytes: gzip saved at least what the variants save.
  assert.ok(kr.bytes_decoded - kr.bytes_on_wire >= saved, `kbrel sync: ${kr.bytes_on_wire} on the wire, ${kr.bytes_decoded} decoded, variants save ${saved}`);
  assert.ok(j.bytesDecoded - j.bytesOnWire >= saved, `js: ${j.bytesOnWire} on the wire, ${j.bytesDecoded} decoded, variants save ${saved}`);
  assert.equal((await docs.get("en", "Install")).title, "Install guide");
});

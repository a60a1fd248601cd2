// The client against nginx serving a registry as static files with the configuration of the
// static-hosting guide page (content/en/commands/serve.md) as it is: CORS preflight and
// headers, conditional index.json (304), an update fetching only the changed documents.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openDocs, MemoryStore } from "../src/index.js";
import { needs, makeKb, nginx, countingFetch, kbrelBin, nginxBin } from "./helpers.mjs";

const opt = kbrelBin ? needs("KBREL_NGINX", nginxBin) : needs("KBREL_BIN", kbrelBin);
let kb, server;

before(async () => {
  if (opt.skip) return;
  kb = makeKb({ docs: 10, name: "acme-static" });
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

// A large asset through the folder store, against a real `kbrel serve`: streamed to a staged
// file while it is hashed, never held in memory; refused early when the manifest, the
// Content-Length or the body claims more than allowed. Run by tests/it/assets.rs
// (`a_large_asset_streams_through_verify_the_viewer_and_the_javascript_client`), which
// publishes the release (once, for its Rust checks too) and sets:
//   KBREL_LARGE_URL   the registry as `kbrel serve` serves it
//   KBREL_LARGE_PATH  the asset's content-root path
//   KBREL_LARGE_SHA   its sha256
//   KBREL_LARGE_SIZE  its size in bytes
// Without them the tests are skipped, except with CI=true, where they fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { createServer, request } from "node:http";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { openDocs, KbrelError } from "../src/index.js";
import { FolderStore } from "../src/folder.js";

const url = process.env.KBREL_LARGE_URL;
const path = process.env.KBREL_LARGE_PATH;
const sha = process.env.KBREL_LARGE_SHA;
const size = Number(process.env.KBREL_LARGE_SIZE);
const opt = url ? { timeout: 300_000 } : process.env.CI === "true" ? (() => { throw new Error("KBREL_LARGE_URL is required when CI=true"); })() : { skip: "KBREL_LARGE_URL not set" };

const tmp = () => mkdtempSync(join(tmpdir(), "kbrel-js-large-"));

/** Every file below `dir` (relative paths). */
function files(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  walk(dir, "");
  return out;
}

function sha256File(p) {
  const h = createHash("sha256");
  const fd = fs.openSync(p, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** A proxy to `kbrel serve` that answers the asset's blob as `lie` says; {url, blobRequests, stop}. */
async function lyingProxy(lie) {
  const blob = `/blobs/sha256/${sha.slice(0, 2)}/${sha.slice(2)}`;
  const upstream = new URL(url);
  const state = { blobRequests: 0 };
  const server = createServer((req, res) => {
    if (req.url === blob) {
      state.blobRequests++;
      if (lie === "content-length") {
        // A Content-Length over the recorded size, then bytes forever.
        res.writeHead(200, { "Content-Length": String(size * 2) });
      } else {
        res.writeHead(200); // chunked, never ending
      }
      const chunk = Buffer.alloc(1 << 16, 7);
      const pump = () => { while (!res.destroyed && res.write(chunk)); };
      res.on("drain", pump);
      res.on("error", () => {});
      pump();
      return;
    }
    const up = request({ host: upstream.hostname, port: upstream.port, path: req.url, headers: { "accept-encoding": req.headers["accept-encoding"] ?? "" } }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    state,
    stop: () => { server.closeAllConnections(); server.close(); },
  };
}

test("a large asset streams into the folder store: verified, in place, memory well below its size", opt, async () => {
  const dir = tmp();
  try {
    // The refusal first (it also loads everything but the asset): nothing is fetched or written.
    const small = await openDocs({ registry: url, store: new FolderStore(join(dir, "cache")), maxAssetSize: size - 1 });
    const e = await small.update().then(() => null, (e) => e);
    assert.ok(e instanceof KbrelError, String(e));
    assert.equal(e.check, "format");
    assert.deepEqual(e.refusal, { reason: "asset-too-large", url: `${url}v/1.0.0/manifest.json`, path, size, limit: size - 1 });
    assert.match(e.message, new RegExp(`it claims the asset ${path} holds ${size} bytes, more than the ${size - 1} allowed`));
    assert.equal(small.currentVersion, null);
    assert.ok(!fs.existsSync(join(dir, "cache", ".kbrel", "objects")) || files(join(dir, "cache", ".kbrel", "objects")).length === 0);

    const before = process.resourceUsage().maxRSS * 1024;
    const kb = await openDocs({ registry: url, store: new FolderStore(join(dir, "cache")) });
    const report = await kb.update();
    const grew = process.resourceUsage().maxRSS * 1024 - before;
    assert.ok(report.assetsFetched >= 1, JSON.stringify(report)); // the large one among the release's assets
    assert.equal(kb.currentVersion, "1.0.0");
    // The bytes reached the wire once and were never held: the peak memory grew by well under
    // the asset's size (buffering it would add the whole asset, twice while it is joined).
    assert.ok(report.bytesDecoded >= size, JSON.stringify(report));
    assert.ok(grew < size / 2, `peak RSS grew by ${grew} bytes for a ${size}-byte asset`);
    console.log(`peak RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB for a ${(size / 2 ** 20).toFixed(0)} MiB asset`);
    const placed = join(dir, "cache", path);
    assert.equal(fs.statSync(placed).size, size);
    assert.equal(sha256File(placed), sha);
    // Read back through assetStream: from the file as it is consumed, hashed as it goes, so the
    // memory in use stays far below the asset's size (asset() would hold all of it).
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const h = createHash("sha256");
    let read = 0;
    for await (const chunk of await kb.assetStream(path)) {
      h.update(chunk);
      read += chunk.length;
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    }
    assert.equal(read, size);
    assert.equal(h.digest("hex"), sha);
    assert.ok(rssPeak - rssBefore < size / 2, `RSS grew by ${rssPeak - rssBefore} bytes while streaming a ${size}-byte asset`);
    console.log(`assetStream: RSS grew by ${((rssPeak - rssBefore) / 2 ** 20).toFixed(1)} MiB for a ${(size / 2 ** 20).toFixed(0)} MiB asset`);
    // Nothing staged is left behind.
    assert.deepEqual(files(join(dir, "cache", ".kbrel", "objects")).filter((f) => f.includes(".tmp-")), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const lie of ["content-length", "endless"]) {
  test(`a blob claiming more than the recorded size is refused early (${lie}), the store unchanged`, opt, async () => {
    const dir = tmp();
    const proxy = await lyingProxy(lie);
    try {
      const kb = await openDocs({ registry: proxy.url, store: new FolderStore(join(dir, "cache")) });
      const started = Date.now();
      const e = await kb.update().then(() => null, (e) => e);
      assert.ok(e instanceof KbrelError, String(e));
      assert.equal(e.check, "fetch");
      assert.equal(e.refusal?.reason, "fetch");
      assert.match(e.message, new RegExp(`larger than the ${size} bytes the manifest records`));
      // Not retried: a body larger than recorded is not a transient failure.
      assert.equal(proxy.state.blobRequests, 1);
      assert.ok(Date.now() - started < 60_000);
      assert.equal(kb.currentVersion, null);
      const objects = join(dir, "cache", ".kbrel", "objects");
      assert.deepEqual(fs.existsSync(objects) ? files(objects).filter((f) => f.includes(".tmp-")) : [], []);
      assert.ok(!fs.existsSync(join(dir, "cache", ".kbrel", "current")));
    } finally {
      proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

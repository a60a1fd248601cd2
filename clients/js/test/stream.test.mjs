// Assets read without holding them: the plain JavaScript SHA-256 (browsers' incremental hash),
// `Docs.assetStream` over the folder store, a store of Blobs and the memory store, and the
// fetch transport reading a body without Content-Length into one buffer of the recorded size.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Docs, IntegrityError, KbrelError, MemoryStore, Sha256, readBody, sha256Stream } from "../src/index.js";
import { FolderStore } from "../src/folder.js";

const hex = (b) => createHash("sha256").update(b).digest("hex");

test("the plain JavaScript SHA-256 is node:crypto's, whatever the chunks and lengths", () => {
  for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 65_537]) {
    const b = randomBytes(n);
    const h = new Sha256();
    for (let at = 0, k = 1; at < n; at += k, k = (k * 7 + 3) % 97 + 1) h.update(b.subarray(at, Math.min(n, at + k)));
    assert.equal(h.hex(), hex(b), `${n} bytes`);
    assert.equal(sha256Stream().update(b).hex(), hex(b));
  }
});

/** Everything a stream yields: {bytes, chunks} or {error, got} (the bytes it gave first). */
async function drain(stream) {
  const parts = [];
  try {
    for await (const c of stream) parts.push(Buffer.from(c));
    return { bytes: Buffer.concat(parts), chunks: parts.length, largest: Math.max(0, ...parts.map((p) => p.length)) };
  } catch (error) {
    return { error, got: parts.reduce((n, p) => n + p.length, 0) };
  }
}

/** A folder store holding one version whose only asset is `bytes` at images/big.bin. */
function folderWith(bytes) {
  const dir = fs.mkdtempSync(join(tmpdir(), "kbrel-js-stream-"));
  const sha = hex(bytes);
  const meta = join(dir, ".kbrel");
  fs.mkdirSync(join(meta, "objects", sha.slice(0, 2)), { recursive: true });
  fs.writeFileSync(join(meta, "objects", sha.slice(0, 2), sha.slice(2)), bytes);
  fs.mkdirSync(join(meta, "trees", "t1", "images"), { recursive: true });
  fs.writeFileSync(join(meta, "trees", "t1", "images", "big.bin"), bytes);
  const tree = { format: "kbrel-cache/1", name: "x", version: "1.0.0", languages: [], manifest_sha256: "0".repeat(64), documents: [], assets: [{ path: "images/big.bin", sha256: sha, size: bytes.length }] };
  fs.writeFileSync(join(meta, "trees", "t1", "tree.json"), JSON.stringify(tree));
  fs.symlinkSync("trees/t1", join(meta, "current"));
  return { dir, sha, object: join(meta, "objects", sha.slice(0, 2), sha.slice(2)), placed: join(meta, "trees", "t1", "images", "big.bin") };
}

test("assetStream reads the folder store's file in chunks, verified; wrong bytes never complete", async () => {
  const bytes = randomBytes((1 << 20) + 5);
  const f = folderWith(bytes);
  try {
    const kb = new Docs({ registry: "http://127.0.0.1:9/", store: new FolderStore(f.dir) });
    await kb.open();
    assert.equal(await kb.assetStream("images/none.png"), null);
    const r = await drain(await kb.assetStream("images/big.bin"));
    assert.ok(r.bytes?.equals(bytes), String(r.error));
    // Read in pieces, never whole.
    assert.ok(r.chunks >= 4 && r.largest <= 256 << 10, JSON.stringify({ chunks: r.chunks, largest: r.largest }));

    // One byte changed at the end of the object: the stream errors before its last chunk.
    const bad = Buffer.from(bytes);
    bad[bad.length - 1] ^= 1;
    fs.writeFileSync(f.object, bad);
    const w = await drain(await kb.assetStream("images/big.bin"));
    assert.ok(w.error instanceof IntegrityError, String(w.error));
    assert.match(w.error.message, /asset images\/big\.bin in the store does not match sha256/);
    assert.ok(w.got < bytes.length, `${w.got} of ${bytes.length} bytes handed out`);
    // Longer than recorded: refused as soon as it is.
    fs.writeFileSync(f.object, Buffer.concat([bytes, Buffer.from("x")]));
    const l = await drain(await kb.assetStream("images/big.bin"));
    assert.ok(l.error instanceof IntegrityError && /more than its 1048581 bytes/.test(l.error.message), String(l.error));
    assert.ok(l.got < bytes.length);

    // Collected from the objects (as kbrel sync does): the current tree's file is streamed.
    fs.unlinkSync(f.object);
    assert.ok((await drain(await kb.assetStream("images/big.bin"))).bytes?.equals(bytes));
    fs.unlinkSync(f.placed);
    await assert.rejects(kb.assetStream("images/big.bin"), (e) => e instanceof KbrelError && e.check === "store" && /is missing from the store/.test(e.message));
  } finally {
    fs.rmSync(f.dir, { recursive: true, force: true });
  }
});

test("assetStream over a store of Blobs (IndexedDB's way) and over the memory store", async () => {
  const bytes = randomBytes(300_000);
  const sha = hex(bytes);
  const tree = { format: "kbrel-cache/1", name: "x", version: "1.0.0", languages: [], manifest_sha256: "0".repeat(64), documents: [], assets: [{ path: "a.bin", sha256: sha, size: bytes.length }] };
  const memory = new MemoryStore();
  memory.tree = tree;
  memory.objects.set(sha, new Uint8Array(bytes));
  const blobs = Object.assign(new MemoryStore(), { tree, objectStream: async (s) => (s === sha ? new Blob([bytes]).stream() : null) });
  for (const store of [memory, blobs]) {
    const kb = new Docs({ registry: "http://127.0.0.1:9/", store });
    await kb.open();
    assert.ok((await drain(await kb.assetStream("a.bin"))).bytes?.equals(bytes));
  }
  memory.objects.set(sha, new Uint8Array(bytes.length)); // other bytes of the same size
  const kb = new Docs({ registry: "http://127.0.0.1:9/", store: memory });
  await kb.open();
  const w = await drain(await kb.assetStream("a.bin"));
  assert.ok(w.error instanceof IntegrityError && w.got === 0, String(w.error));
});

/** A 200 Response with no Content-Length whose body comes in 1,000-byte chunks. */
function chunked(bytes) {
  let at = 0;
  const body = new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + 1000));
      at += 1000;
    },
  });
  const res = new Response(body, { status: 200 });
  assert.equal(res.headers.get("content-length"), null);
  return res;
}

test("fetch transport: a body without Content-Length is read into one buffer of the recorded size", async () => {
  const bytes = randomBytes(123_456);
  const r = await readBody(chunked(bytes), { limit: 200_000, expect: bytes.length });
  assert.ok(Buffer.from(r.bytes).equals(bytes));
  // The buffer the bytes were read into, not chunks joined into a second one.
  assert.equal(r.bytes.buffer.byteLength, bytes.length);
  // Shorter and longer bodies come back as they are (their hash refuses them), within the limit.
  const short = await readBody(chunked(bytes.subarray(0, 5000)), { limit: 200_000, expect: bytes.length });
  assert.equal(short.n, 5000);
  assert.equal(short.bytes.buffer.byteLength, bytes.length); // read into the recorded size's buffer
  assert.ok(Buffer.from(short.bytes).equals(bytes.subarray(0, 5000)));
  const long = Buffer.concat([bytes, Buffer.from("tail")]);
  const l = await readBody(chunked(long), { limit: 200_000, expect: bytes.length });
  assert.ok(Buffer.from(l.bytes).equals(long));
  await assert.rejects(readBody(chunked(long), { limit: bytes.length, expect: bytes.length }), (e) => e.retryable === false && /larger than the 123456 bytes/.test(e.message));
});

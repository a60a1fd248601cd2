// A folder store for Node: exactly the layout of a `kbrel sync` cache (format kbrel-cache/1), so
// `kbrel sync` and this client can update each other's caches.
//
//   <dir>/<lang>/…                       symlinks to .kbrel/current/<lang>
//   <dir>/images/…                       the same for the first component of each other asset path
//   <dir>/.kbrel/state.json              format, source, index_etag, highest_sequence, trusted_keys
//   <dir>/.kbrel/index.json              the last accepted index
//   <dir>/.kbrel/objects/<aa>/<rest>     verified document bytes, content-addressed
//   <dir>/.kbrel/trees/<id>/             one complete version: <lang>/<path>, assets at their
//                                        content-root paths, tree.json
//   <dir>/.kbrel/current                 symlink to trees/<id>, replaced by rename (the switch)
//   <dir>/.kbrel/manifests/<sha256>.json this client's copy of the manifest (keys, titles);
//                                        kbrel sync leaves it alone
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as fsSync from "node:fs";
import { join, dirname } from "node:path";

import { CACHE_FORMAT, KbrelError, canonicalJson } from "./index.js";

const utf8 = new TextEncoder();
const compareUtf8 = (a, b) => Buffer.compare(Buffer.from(utf8.encode(a)), Buffer.from(utf8.encode(b)));

const META = ".kbrel";
const GC_PREFIX = ".gc-";
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const exists = (p) => fs.lstat(p).then(() => true, () => false);
const tag = () => `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

async function fsyncPath(p) {
  const h = await fs.open(p, "r");
  try { await h.sync(); } finally { await h.close(); }
}

/** Write a file durably and atomically: temp file, fsync, rename, fsync of the folder (unless
 * `syncDir` is false: see putObject). */
async function writeAtomic(path, bytes, syncDir = true) {
  await fs.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${tag()}`;
  const h = await fs.open(tmp, "w");
  try {
    await h.writeFile(bytes);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, path);
  if (syncDir) await fsyncPath(dirname(path));
}

async function syncTree(dir) {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await syncTree(join(dir, e.name));
  }
  await fsyncPath(dir);
}

export class FolderStore {
  constructor(dir) {
    this.root = dir;
    this.meta = join(dir, META);
  }

  objectPath(sha) {
    return join(this.meta, "objects", sha.slice(0, 2), sha.slice(2));
  }

  async open() {
    // A folder that holds anything but kbrel's entries is somebody else's.
    const state = await this.loadState();
    if (state) return;
    let entries = [];
    try {
      entries = await fs.readdir(this.root, { withFileTypes: true });
    } catch (e) {
      if (e.code !== "ENOENT") throw new KbrelError("store", `cannot read ${this.root}: ${e.message}`, { cause: e });
    }
    for (const e of entries) {
      if (e.name === META && e.isDirectory()) continue;
      const p = join(this.root, e.name);
      const target = await fs.readlink(p).catch(() => null);
      if (target === join(META, "current", e.name)) continue;
      throw new KbrelError("store", `\`${this.root}\` is not empty (it holds \`${e.name}\`) and is not a kbrel cache; refusing to write into it (use an empty or new folder)`);
    }
  }

  async loadState() {
    const p = join(this.meta, "state.json");
    let bytes;
    try {
      bytes = await fs.readFile(p);
    } catch (e) {
      if (e.code === "ENOENT") return null;
      throw new KbrelError("store", `cannot read ${p}: ${e.message}`, { cause: e });
    }
    let s;
    try {
      s = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw new KbrelError("store", `${p}: unreadable cache state: ${e.message}`);
    }
    if (s?.format !== CACHE_FORMAT) {
      throw new KbrelError("store", `${p}: this cache was written in format ${JSON.stringify(s?.format ?? "")}, this client reads ${CACHE_FORMAT}; nothing was changed`);
    }
    return { format: s.format, source: s.source ?? "", index_etag: s.index_etag ?? null, highest_sequence: s.highest_sequence ?? 0, trusted_keys: s.trusted_keys ?? [] };
  }

  async loadIndex() {
    return fs.readFile(join(this.meta, "index.json")).then((b) => new Uint8Array(b), () => null);
  }

  async currentTree() {
    const p = join(this.meta, "current", "tree.json");
    try {
      return JSON.parse(await fs.readFile(p, "utf8"));
    } catch (e) {
      if (e.code === "ENOENT") return null;
      throw new KbrelError("store", `${p}: ${e.message}`, { cause: e });
    }
  }

  /** Present and matching its name (as kbrel sync checks). */
  async hasObject(sha) {
    // Synchronous on purpose: thousands of small reads through the promise API cost four
    // thread-pool round trips each (open, fstat, read, close); nothing else runs meanwhile.
    let b;
    try { b = fsSync.readFileSync(this.objectPath(sha)); } catch { return false; }
    return sha256(b) === sha;
  }

  async getObject(sha) {
    const p = join(this.meta, "current");
    // Objects may have been collected by a kbrel sync; the current tree always has the bytes.
    const b = await fs.readFile(this.objectPath(sha)).catch(() => null);
    if (b) return new Uint8Array(b);
    const tree = await this.currentTree();
    const d = tree?.documents.find((x) => x.sha256 === sha);
    if (d) return new Uint8Array(await fs.readFile(join(p, d.lang, d.path)));
    const a = tree?.assets?.find((x) => x.sha256 === sha);
    return a ? new Uint8Array(await fs.readFile(join(p, a.path))) : null;
  }

  async putObject(sha, bytes) {
    // As kbrel sync writes objects: the file is synced, its folder is not (an object lost by
    // a crash is fetched again: every object is verified before use, and a tree's hard links,
    // synced with the tree, keep the bytes).
    await writeAtomic(this.objectPath(sha), bytes, false);
  }

  async getManifest(sha) {
    return fs.readFile(join(this.meta, "manifests", `${sha}.json`)).then((b) => new Uint8Array(b), () => null);
  }

  async putManifest(sha, bytes) {
    await writeAtomic(join(this.meta, "manifests", `${sha}.json`), bytes);
  }

  async writeState(state) {
    const s = { format: CACHE_FORMAT, source: state.source, index_etag: state.index_etag ?? null, highest_sequence: state.highest_sequence, trusted_keys: state.trusted_keys ?? [] };
    await writeAtomic(join(this.meta, "state.json"), canonicalJson(s));
  }

  /** index.json and the ETag in state.json describe the same bytes (see kbrel's commit_index). */
  async commitIndex(state, indexBytes) {
    await fs.mkdir(this.meta, { recursive: true });
    if (indexBytes) {
      const old = await this.loadState();
      if (old?.index_etag) await this.writeState({ ...old, index_etag: null });
      await writeAtomic(join(this.meta, "index.json"), indexBytes);
    }
    await this.writeState(state);
  }

  async commit({ tree, state, indexBytes }) {
    const trees = join(this.meta, "trees");
    const treeBytes = canonicalJson(tree);
    const id = sha256(treeBytes).slice(0, 16);
    const finalDir = join(trees, id);
    // Every file of the tree: documents at <lang>/<path>, assets at their content-root path.
    const files = [
      ...tree.documents.map((d) => ({ path: join(d.lang, d.path), sha256: d.sha256, size: d.size })),
      ...(tree.assets ?? []),
    ];
    const reusable = (await fs.readFile(join(finalDir, "tree.json")).catch(() => null))?.equals(Buffer.from(treeBytes))
      && files.every((d) => {
        const m = fsSync.lstatSync(join(finalDir, d.path), { throwIfNoEntry: false });
        return m !== undefined && m.isFile() && m.size === d.size;
      });
    if (!reusable) {
      const tmp = join(trees, `${id}.tmp-${tag()}`);
      await fs.rm(tmp, { recursive: true, force: true });
      const dirs = [...new Set(files.map((d) => dirname(join(tmp, d.path))))];
      for (const dir of dirs) fsSync.mkdirSync(dir, { recursive: true });
      // Synchronous links, like hasObject: one system call each, no thread-pool round trip.
      for (const d of files) {
        const dest = join(tmp, d.path);
        try { fsSync.linkSync(this.objectPath(d.sha256), dest); } catch { fsSync.copyFileSync(this.objectPath(d.sha256), dest); }
      }
      await writeAtomic(join(tmp, "tree.json"), treeBytes);
      await syncTree(tmp);
      if (await exists(finalDir)) {
        const trash = join(trees, `${GC_PREFIX}${id}-${tag()}`);
        await fs.rename(finalDir, trash);
        await fs.rm(trash, { recursive: true, force: true });
      }
      await fs.rename(tmp, finalDir);
      await fsyncPath(trees);
    }
    // The links: each language, then the first component of each other asset path.
    const roots = [...tree.languages];
    const others = new Set((tree.assets ?? []).map((a) => a.path.split("/")[0]).filter((r) => !roots.includes(r)));
    roots.push(...[...others].sort(compareUtf8));
    for (const l of roots) await this.langLink(l, false);
    // The switch: one rename of the `current` symlink.
    const tmpLink = join(this.meta, `current.tmp-${tag()}`);
    await fs.rm(tmpLink, { force: true });
    await fs.symlink(join("trees", id), tmpLink);
    await fs.rename(tmpLink, join(this.meta, "current"));
    await fsyncPath(this.meta);
    for (const l of roots) await this.langLink(l, true);
    await this.commitIndex(state, indexBytes);
    await this.gc(id, tree);
  }

  async langLink(lang, create) {
    const link = join(this.root, lang);
    const target = join(META, "current", lang);
    const t = await fs.readlink(link).catch(() => null);
    if (t === target) return;
    if (await exists(link)) throw new KbrelError("store", `\`${link}\` exists and is not kbrel's link to ${target}; move it away`);
    if (create) await fs.symlink(target, link);
  }

  async gc(keep, tree) {
    const trees = join(this.meta, "trees");
    for (const name of await fs.readdir(trees).catch(() => [])) {
      if (name === keep) continue;
      const p = join(trees, name);
      if (name.startsWith(GC_PREFIX)) { await fs.rm(p, { recursive: true, force: true }); continue; }
      const trash = join(trees, `${GC_PREFIX}${name}-${tag()}`);
      if (await fs.rename(p, trash).then(() => true, () => false)) await fs.rm(trash, { recursive: true, force: true });
    }
    const wanted = new Set([...tree.documents, ...(tree.assets ?? [])].map((d) => d.sha256));
    const objects = join(this.meta, "objects");
    for (const a of await fs.readdir(objects).catch(() => [])) {
      for (const b of await fs.readdir(join(objects, a)).catch(() => [])) {
        if (!wanted.has(a + b)) fsSync.rmSync(join(objects, a, b), { force: true });
      }
    }
    const manifests = join(this.meta, "manifests");
    for (const f of await fs.readdir(manifests).catch(() => [])) {
      if (f !== `${tree.manifest_sha256}.json` && f !== `derived-${tree.manifest_sha256}.json`) await fs.rm(join(manifests, f), { force: true });
    }
  }

  async close() {}
}

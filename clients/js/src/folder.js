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
import * as fs from "node:fs";
import { dirname, join } from "node:path";

import { CACHE_FORMAT, KbrelError, canonicalJson } from "./index.js";

// The store works with synchronous fs calls: one system call each, where the promise API costs
// a thread-pool round trip per call (open, read, close… four or more per small file), which on
// a busy machine is a scheduling delay each. The waits on the disk (fsync) are the exception:
// they run on the thread pool while documents download (putObject) or side by side (fsyncAll).
// Paths are joined with `/`: every document path was checked safe (isSafePath) before it gets
// here, and the cache layout is kbrel sync's, a POSIX one (symlinks).

const utf8 = new TextEncoder();
const compareUtf8 = (a, b) => Buffer.compare(Buffer.from(utf8.encode(a)), Buffer.from(utf8.encode(b)));

const META = ".kbrel";
const GC_PREFIX = ".gc-";
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const exists = (p) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
const tag = () => `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const readOrNull = (p) => {
  try { return fs.readFileSync(p); } catch (e) {
    if (e.code === "ENOENT") return null;
    throw e;
  }
};
// Objects are read without following a final symlink and without blocking on a FIFO.
// Garbage collection after the switch never fails the update (what stays is removed next time).
const unlinkQuiet = (p) => { try { fs.unlinkSync(p); } catch { /* gone already, or left for later */ } };
const READ_OBJECT = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);
const BUFFER = Buffer.allocUnsafe(1 << 16);
/** The chunk an object is streamed in (objectStream). */
const STREAM_CHUNK = 256 << 10;

function fsyncPath(p) {
  const fd = fs.openSync(p, "r");
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

const fsyncFd = (fd) => new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));

/** fsync every path (files or folders), several at a time on the thread pool. */
async function fsyncAll(paths) {
  const fds = [];
  try {
    for (const p of paths) fds.push(fs.openSync(p, "r"));
    await Promise.all(fds.map(fsyncFd));
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

/** Write a file durably and atomically: temp file, fsync, rename, fsync of the folder. */
function writeAtomic(path, bytes) {
  fs.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${tag()}`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeFileSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  fsyncPath(dirname(path));
}

/** Remove a folder and everything in it without following a link (a link is removed itself). */
function removeTree(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (e.code === "ENOENT") return;
    throw e;
  }
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) removeTree(p);
    else fs.unlinkSync(p);
  }
  fs.rmdirSync(dir);
}

export class FolderStore {
  constructor(dir) {
    this.root = dir;
    this.meta = join(dir, META);
    this.objectDirs = new Set(); // object folders known to exist
  }

  objectPath(sha) {
    return `${this.meta}/objects/${sha.slice(0, 2)}/${sha.slice(2)}`;
  }

  async open() {
    // A folder that holds anything but kbrel's entries is somebody else's.
    const state = await this.loadState();
    if (state) return;
    let entries = [];
    try {
      entries = fs.readdirSync(this.root, { withFileTypes: true });
    } catch (e) {
      if (e.code !== "ENOENT") throw new KbrelError("store", `cannot read ${this.root}: ${e.message}`, { cause: e });
    }
    for (const e of entries) {
      if (e.name === META && e.isDirectory()) continue;
      const p = join(this.root, e.name);
      let target = null;
      try { target = fs.readlinkSync(p); } catch { /* not a link */ }
      if (target === join(META, "current", e.name)) continue;
      throw new KbrelError("store", `\`${this.root}\` is not empty (it holds \`${e.name}\`) and is not a kbrel cache; refusing to write into it (use an empty or new folder)`);
    }
  }

  async loadState() {
    const p = join(this.meta, "state.json");
    let bytes;
    try {
      bytes = readOrNull(p);
    } catch (e) {
      throw new KbrelError("store", `cannot read ${p}: ${e.message}`, { cause: e });
    }
    if (bytes === null) return null;
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
    try {
      const b = readOrNull(join(this.meta, "index.json"));
      return b && new Uint8Array(b);
    } catch {
      return null;
    }
  }

  async currentTree() {
    const p = join(this.meta, "current", "tree.json");
    try {
      const b = readOrNull(p);
      return b && JSON.parse(b.toString("utf8"));
    } catch (e) {
      throw new KbrelError("store", `${p}: ${e.message}`, { cause: e });
    }
  }

  /** Present and matching its name (as kbrel sync checks): every byte hashed. */
  async hasObject(sha) {
    let fd;
    try { fd = fs.openSync(this.objectPath(sha), READ_OBJECT); } catch { return false; }
    try {
      const h = createHash("sha256");
      for (let n; (n = fs.readSync(fd, BUFFER, 0, BUFFER.length, null)) > 0;) h.update(BUFFER.subarray(0, n));
      return h.digest("hex") === sha;
    } catch {
      return false; // a folder, a FIFO…
    } finally {
      fs.closeSync(fd);
    }
  }

  async getObject(sha) {
    // Objects may have been collected by a kbrel sync; the current tree always has the bytes.
    // The Buffer read is returned as a Uint8Array over the same memory, not a copy of it (a
    // small one from Node's shared pool is copied, so that `.buffer` holds these bytes alone).
    const view = (b) => (b.byteOffset === 0 && b.buffer.byteLength === b.length ? new Uint8Array(b.buffer) : new Uint8Array(b));
    const b = (() => { try { return readOrNull(this.objectPath(sha)); } catch { return null; } })();
    if (b) return view(b);
    const tree = await this.currentTree();
    const d = tree?.documents.find((x) => x.sha256 === sha);
    if (d) return view(fs.readFileSync(`${this.meta}/current/${d.lang}/${d.path}`));
    const a = tree?.assets?.find((x) => x.sha256 === sha);
    return a ? view(fs.readFileSync(`${this.meta}/current/${a.path}`)) : null;
  }

  /**
   * An object's bytes as a web ReadableStream, read from its file in 256 KiB chunks only as
   * they are asked for (never whole); the file of the current tree when the object was
   * collected (as getObject); null when absent. Opened like every object (no final symlink
   * followed, never blocking on a FIFO) and only when it is a regular file.
   */
  async objectStream(sha) {
    const open = (p) => {
      let fd;
      try { fd = fs.openSync(p, READ_OBJECT); } catch { return null; }
      if (fs.fstatSync(fd).isFile()) return fd;
      fs.closeSync(fd);
      return null;
    };
    let fd = open(this.objectPath(sha));
    if (fd === null) {
      const tree = await this.currentTree();
      const d = tree?.documents.find((x) => x.sha256 === sha);
      const a = d ? null : tree?.assets?.find((x) => x.sha256 === sha);
      if (d) fd = open(`${this.meta}/current/${d.lang}/${d.path}`);
      else if (a) fd = open(`${this.meta}/current/${a.path}`);
    }
    if (fd === null) return null;
    const close = () => {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    };
    return new ReadableStream({
      pull: (controller) => new Promise((resolve) => {
        const buf = new Uint8Array(STREAM_CHUNK);
        fs.read(fd, buf, 0, buf.length, null, (e, n) => {
          if (e) {
            close();
            controller.error(new KbrelError("store", `cannot read object ${sha}: ${e.message}`, { cause: e }));
          } else if (n === 0) {
            close();
            controller.close();
          } else controller.enqueue(buf.subarray(0, n));
          resolve();
        });
      }),
      cancel: close,
    }, { highWaterMark: 0 });
  }

  /** An object's final path and a fresh temporary name beside it (its folder made once). */
  objectTemp(sha) {
    const dir = `${this.meta}/objects/${sha.slice(0, 2)}`;
    if (!this.objectDirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      this.objectDirs.add(dir);
    }
    const path = this.objectPath(sha);
    return { path, tmp: `${path}.tmp-${tag()}` };
  }

  async putObject(sha, bytes) {
    // As kbrel sync writes objects: a temporary file, synced, renamed; its folder is not synced
    // (an object lost by a crash is fetched again: every object is verified before use, and a
    // tree's hard links, synced with the tree, keep the bytes). The fsync is the one wait here:
    // on the thread pool, while the other documents download.
    const { path, tmp } = this.objectTemp(sha);
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeFileSync(fd, bytes);
      await fsyncFd(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  }

  /**
   * A staged object for a streamed asset: `restart()` (re)creates its temporary file beside the
   * object, `write(chunk)` appends, `commit()` makes it durable and renames it into place (only
   * once the caller has checked its size and sha256), `discard()` removes what is left.
   */
  stageObject(sha) {
    const { path, tmp } = this.objectTemp(sha);
    let fd = null;
    const close = () => {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    };
    return {
      restart: () => {
        close();
        fd = fs.openSync(tmp, "w");
      },
      write: (chunk) => {
        for (let at = 0; at < chunk.length;) at += fs.writeSync(fd, chunk, at, chunk.length - at);
      },
      commit: async () => {
        await fsyncFd(fd);
        close();
        fs.renameSync(tmp, path);
      },
      discard: () => {
        close();
        unlinkQuiet(tmp);
      },
    };
  }

  async getManifest(sha) {
    try {
      const b = readOrNull(join(this.meta, "manifests", `${sha}.json`));
      return b && new Uint8Array(b);
    } catch {
      return null;
    }
  }

  async putManifest(sha, bytes) {
    writeAtomic(join(this.meta, "manifests", `${sha}.json`), bytes);
  }

  async writeState(state) {
    const s = { format: CACHE_FORMAT, source: state.source, index_etag: state.index_etag ?? null, highest_sequence: state.highest_sequence, trusted_keys: state.trusted_keys ?? [] };
    writeAtomic(join(this.meta, "state.json"), canonicalJson(s));
  }

  /** index.json and the ETag in state.json describe the same bytes (see kbrel's commit_index). */
  async commitIndex(state, indexBytes) {
    fs.mkdirSync(this.meta, { recursive: true });
    if (indexBytes) {
      const old = await this.loadState();
      if (old?.index_etag) await this.writeState({ ...old, index_etag: null });
      writeAtomic(join(this.meta, "index.json"), indexBytes);
    }
    await this.writeState(state);
  }

  async commit({ tree, state, indexBytes }) {
    const trees = join(this.meta, "trees");
    const treeBytes = canonicalJson(tree);
    const id = sha256(treeBytes).slice(0, 16);
    const finalDir = `${trees}/${id}`;
    // Every file of the tree: documents at <lang>/<path>, assets at their content-root path.
    const files = [
      ...tree.documents.map((d) => ({ path: `${d.lang}/${d.path}`, sha256: d.sha256, size: d.size })),
      ...(tree.assets ?? []),
    ];
    const reusable = readOrNull(`${finalDir}/tree.json`)?.equals(Buffer.from(treeBytes))
      && files.every((d) => {
        const m = fs.lstatSync(`${finalDir}/${d.path}`, { throwIfNoEntry: false });
        return m !== undefined && m.isFile() && m.size === d.size;
      });
    if (!reusable) {
      const tmp = `${trees}/${id}.tmp-${tag()}`;
      removeTree(tmp);
      // Every folder of the tree, the tree's own included, to create and then fsync.
      const dirs = new Set([tmp]);
      for (const d of files) {
        for (let dir = dirname(`${tmp}/${d.path}`); !dirs.has(dir); dir = dirname(dir)) dirs.add(dir);
      }
      for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
      for (const d of files) {
        const dest = `${tmp}/${d.path}`;
        const obj = this.objectPath(d.sha256);
        try { fs.linkSync(obj, dest); } catch { fs.copyFileSync(obj, dest); }
      }
      const fd = fs.openSync(`${tmp}/tree.json`, "w");
      try { fs.writeFileSync(fd, treeBytes); } finally { fs.closeSync(fd); }
      // Durable before it is renamed into place: tree.json and every folder (the links' bytes
      // are the objects', synced when they were written).
      await fsyncAll([`${tmp}/tree.json`, ...dirs]);
      if (exists(finalDir)) {
        const trash = `${trees}/${GC_PREFIX}${id}-${tag()}`;
        fs.renameSync(finalDir, trash);
        removeTree(trash);
      }
      fs.renameSync(tmp, finalDir);
      fsyncPath(trees);
    }
    // The links: each language, then the first component of each other asset path.
    const roots = [...tree.languages];
    const others = new Set((tree.assets ?? []).map((a) => a.path.split("/")[0]).filter((r) => !roots.includes(r)));
    roots.push(...[...others].sort(compareUtf8));
    for (const l of roots) this.langLink(l, false);
    // The switch: one rename of the `current` symlink.
    const tmpLink = join(this.meta, `current.tmp-${tag()}`);
    fs.rmSync(tmpLink, { force: true });
    fs.symlinkSync(join("trees", id), tmpLink);
    fs.renameSync(tmpLink, join(this.meta, "current"));
    fsyncPath(this.meta);
    for (const l of roots) this.langLink(l, true);
    await this.commitIndex(state, indexBytes);
    this.gc(id, tree);
  }

  langLink(lang, create) {
    const link = join(this.root, lang);
    const target = join(META, "current", lang);
    let t = null;
    try { t = fs.readlinkSync(link); } catch { /* absent or not a link */ }
    if (t === target) return;
    if (exists(link)) throw new KbrelError("store", `\`${link}\` exists and is not kbrel's link to ${target}; move it away`);
    if (create) fs.symlinkSync(target, link);
  }

  gc(keep, tree) {
    const list = (p) => { try { return fs.readdirSync(p, { withFileTypes: true }); } catch { return []; } };
    const trees = join(this.meta, "trees");
    for (const e of list(trees)) {
      if (e.name === keep || !e.isDirectory()) continue;
      const p = `${trees}/${e.name}`;
      // Renamed out of its id first: `trees/<id>` is always a complete tree.
      const trash = e.name.startsWith(GC_PREFIX) ? p : `${trees}/${GC_PREFIX}${e.name}-${tag()}`;
      try {
        if (trash !== p) fs.renameSync(p, trash);
        removeTree(trash);
      } catch { /* left for the next update */ }
    }
    const wanted = new Set([...tree.documents, ...(tree.assets ?? [])].map((d) => d.sha256));
    const objects = `${this.meta}/objects`;
    for (const a of list(objects)) {
      if (!a.isDirectory()) continue;
      for (const b of list(`${objects}/${a.name}`)) {
        if (b.isFile() && !wanted.has(a.name + b.name)) unlinkQuiet(`${objects}/${a.name}/${b.name}`);
      }
    }
    const manifests = join(this.meta, "manifests");
    for (const f of list(manifests)) {
      if (f.isFile() && f.name !== `${tree.manifest_sha256}.json` && f.name !== `derived-${tree.manifest_sha256}.json`) unlinkQuiet(`${manifests}/${f.name}`);
    }
  }

  async close() {}
}

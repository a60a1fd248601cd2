// Types of @kbrel/client (src/index.js). The protocol: docs/protocol.md.

/** Checks an error names: which step of the protocol refused. */
export type Check =
  | "fetch" | "sha256" | "signature" | "expires" | "rollback" | "format" | "version"
  | "abort" | "usage" | "store" | "crypto";

/**
 * A refusal as data: `reason` and its fields, as `kbrel sync --json` prints them under
 * `error.refusal` (`kbrel::sync::Refusal`). A signature refusal adds `problem` (untrusted-key,
 * mismatch, unreadable, schema, invalid-key, not-base64, wrong-length, endorsement-mismatch),
 * a delta refusal too (not-the-diff, not-held, cannot-apply, count, unknown-status).
 */
export type Refusal =
  | { reason: "fetch"; url: string; message: string; status: number | null }
  | { reason: "no-index" | "missing-manifest"; url: string }
  | { reason: "missing-document"; url: string; lang: string; path: string }
  | { reason: "hash-mismatch"; url: string; expected: string; actual: string }
  | { reason: "wrong-content"; url: string; lang: string; path: string; expected: string; actual: string }
  | { reason: "missing-asset"; url: string; path: string }
  | { reason: "wrong-asset-content"; url: string; path: string; expected: string; actual: string }
  | { reason: "unsigned"; url: string; signature_url: string }
  | { reason: "signature"; url: string; problem: string; key?: string; index_sha256?: string; message?: string; found?: number | null }
  | { reason: "expired"; url: string; expires: string }
  | { reason: "index-rollback"; url: string; sequence: number; highest: number }
  | { reason: "downgrade"; held: string; selected: string }
  | { reason: "listed-twice"; url: string; lang: string; path: string }
  | { reason: "unknown-language"; lang: string; name: string; languages: string[] }
  | { reason: "asset-too-large"; url: string; path: string; size: number; limit: number }
  | { reason: "too-large"; url: string; lang: string; path: string; size: number; limit: number }
  | { reason: "bad-asset-path"; url: string; path: string; why: string }
  | { reason: "delta"; url: string; problem: string; [field: string]: unknown };

export class KbrelError extends Error {
  /** What failed. */
  readonly check: Check;
  /** The resource whose check failed, when there is one. */
  readonly url: string | null;
  /** The refusal as data, when the error is one of the protocol's refusals. */
  readonly refusal: Refusal | null;
}
export class FetchError extends KbrelError { readonly check: "fetch"; readonly status: number | null; }
export class IntegrityError extends KbrelError { readonly check: "sha256"; readonly expected: string | null; readonly actual: string | null; }
export class SignatureError extends KbrelError { readonly check: "signature"; }
export class ExpiredError extends KbrelError { readonly check: "expires"; }
export class RollbackError extends KbrelError { readonly check: "rollback"; }
export class FormatError extends KbrelError { readonly check: "format"; }
export class VersionError extends KbrelError { readonly check: "version"; }
export class AbortError extends KbrelError { readonly check: "abort"; }

export const CACHE_FORMAT: "kbrel-cache/1";
/** The default `maxAssetSize`: 4 GiB (as `kbrel sync --max-asset-size`). */
export const DEFAULT_MAX_ASSET_SIZE: number;
/** The default `maxDocumentSize`: 64 MiB (as `kbrel sync --max-document-size`). */
export const DEFAULT_MAX_DOCUMENT_SIZE: number;

/** The state a store keeps between updates (the fields of a kbrel sync cache's state.json). */
export interface CacheState {
  format: string;
  source: string;
  index_etag: string | null;
  highest_sequence: number;
  trusted_keys: string[];
}

export interface TreeDoc { lang: string; path: string; sha256: string; size: number; }

/** One complete version (a kbrel sync cache's tree.json). */
export interface Tree {
  format: string;
  name: string;
  version: string;
  sequence: number;
  manifest_sha256: string;
  languages: string[];
  documents: TreeDoc[];
}

/** Where verified documents live. `commit` is the atomic switch. */
export interface Store {
  open(): Promise<void>;
  loadState(): Promise<CacheState | null>;
  loadIndex(): Promise<Uint8Array | null>;
  currentTree(): Promise<Tree | null>;
  hasObject(sha256: string): Promise<boolean>;
  getObject(sha256: string): Promise<Uint8Array | null>;
  /** `asset`: the bytes are an asset's (IndexedDbStore keeps them as a Blob). */
  putObject(sha256: string, bytes: Uint8Array, options?: { asset?: boolean }): Promise<void>;
  /**
   * Optional (the folder store has it): a staged file an asset streams into in Node, renamed
   * into the objects by `commit()` once its size and sha256 are checked.
   */
  stageObject?(sha256: string): { restart(): void; write(chunk: Uint8Array): void; commit(): Promise<void>; discard(): void };
  /**
   * Optional (the folder and IndexedDB stores have it): an object's bytes as a stream read as
   * it is consumed, for `Docs.assetStream`; null when absent.
   */
  objectStream?(sha256: string): Promise<ReadableStream<Uint8Array> | null>;
  getManifest(sha256: string): Promise<Uint8Array | null>;
  putManifest(sha256: string, bytes: Uint8Array): Promise<void>;
  commitIndex(state: CacheState, indexBytes: Uint8Array | null): Promise<void>;
  commit(change: { tree: Tree; state: CacheState; indexBytes: Uint8Array | null }): Promise<void>;
  close(): Promise<void>;
}

// Declaration merging: the class has every member of Store (written once, above).
export interface MemoryStore extends Store {}
export class MemoryStore {
  constructor();
}

/** IndexedDB (browsers): database `name`; the switch is one transaction. */
// Declaration merging: the class has every member of Store (written once, above).
export interface IndexedDbStore extends Store {}
export class IndexedDbStore {
  constructor(name?: string, options?: { indexedDB?: IDBFactory });
}

export interface OpenOptions {
  /** The registry URL (kbrel serve, a static host): http(s), with or without a trailing `/`. */
  registry: string;
  /** Only these languages (default: every language of the release). */
  languages?: string[] | null;
  /** Default: a MemoryStore. */
  store?: Store;
  /** Pinned public keys (`ed25519:<base64>`): when given, index.json must be signed by one. */
  trustKey?: string | string[];
  /** `latest` (default), a dist-tag, an exact version or a range (Cargo's rules: `^1.3`, `>=1.2, <2`). */
  version?: string;
  /** Accept an older index or a lower version than the one held. */
  allowDowngrade?: boolean;
  /** Parallel document downloads (1–32, default 8). */
  parallel?: number;
  /** Retries after network errors, 5xx, 429 and incomplete bodies (default 3). */
  retries?: number;
  /** Per request (default 30 000); for an asset streamed in Node, the longest silence. */
  timeoutMs?: number;
  /**
   * The largest asset a manifest may claim (default 4 GiB, DEFAULT_MAX_ASSET_SIZE): a larger
   * one is refused before anything is fetched (`asset-too-large`), as `kbrel sync --max-asset-size`.
   */
  maxAssetSize?: number;
  /** The largest document a manifest may claim (default 64 MiB): refused before anything is fetched (`too-large`). */
  maxDocumentSize?: number;
  /** The clock, for `expires` (default Date.now). */
  now?: () => number;
  /** A fetch implementation (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Ed25519 verification where WebCrypto lacks it, e.g. `verifyAsync` of @noble/ed25519 (argument order: publicKey, signature, message). */
  verifyEd25519?: (publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array) => Promise<boolean>;
}

export interface Progress { done: number; total: number; lang: string; path: string; }

export interface UpdateOptions {
  version?: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  allowDowngrade?: boolean;
}

export interface UpdateReport {
  name: string;
  previous: string | null;
  version: string;
  /** index.json was answered 304. */
  notModified: boolean;
  /** The store already held this version. */
  upToDate: boolean;
  changes: Record<string, { added: number; updated: number; removed: number }>;
  documentsFetched: number;
  /** Assets (images, PDFs…) downloaded. */
  assetsFetched: number;
  requests: number;
  /**
   * As received: the Content-Length of gzip-encoded responses. A server that compresses on the
   * fly without Content-Length (nginx `gzip on`) hides the encoded size from fetch: those
   * responses count their decoded bytes (an upper bound).
   */
  bytesOnWire: number;
  /** After Content-Encoding was decoded. */
  bytesDecoded: number;
  ms: number;
}

export interface DocInfo {
  lang: string;
  path: string;
  key: string;
  title: string | null;
  url: string | null;
  sha256: string;
  size: number;
}

export interface Doc {
  lang: string;
  key: string;
  path: string;
  title: string | null;
  /** Top-level front-matter fields (flat YAML: strings, numbers, booleans, null, lists). */
  meta: Record<string, unknown>;
  /** The body, without front matter. */
  markdown: string;
  /** The raw front matter (for a full YAML parser), or null. */
  frontMatter: string | null;
  /** The whole document, as published. */
  text: string;
}

export class Docs {
  constructor(options: OpenOptions);
  open(): Promise<void>;
  readonly currentVersion: string | null;
  update(options?: UpdateOptions): Promise<UpdateReport>;
  list(lang?: string | null): Promise<DocInfo[]>;
  /** By key (as in the bundles) or by path; null when the version has no such document. */
  get(lang: string, keyOrPath: string): Promise<Doc | null>;
  /** An asset's bytes by its content-root path (`images/arch.png`), verified; null if absent. */
  asset(path: string): Promise<Uint8Array | null>;
  /**
   * The same asset as a stream read from the store as it is consumed (never whole in memory),
   * hashed as it goes: its last chunk comes only once the whole matched its size and sha256,
   * else the stream errors with an IntegrityError. Null if absent.
   */
  assetStream(path: string): Promise<ReadableStream<Uint8Array> | null>;
  close(): Promise<void>;
}

export function openDocs(options: OpenOptions): Promise<Docs>;

export interface Version { major: number; minor: number; patch: number; pre: string[]; }
export function parseVersion(v: string): Version | null;
export function compareVersions(a: Version, b: Version): number;
export function parseRange(spec: string): ((v: Version) => boolean) | null;
export function selectVersion<V extends { version: string }>(index: { versions: V[]; dist_tags: Record<string, string> }, spec?: string, url?: string | null): V;
export function splitFrontMatter(text: string): { frontMatter: string | null; meta: Record<string, unknown>; body: string };
export function parseIndex(bytes: Uint8Array, url?: string): any;
export function parseManifest(bytes: Uint8Array, url: string): any;
export function canonicalJson(value: unknown): Uint8Array;
export function sha256Hex(bytes: Uint8Array): Promise<string>;
/** An incremental SHA-256: node:crypto's in Node, else plain JavaScript. */
export function sha256Stream(): { update(bytes: Uint8Array): unknown; hex(): string };
export class Sha256 {
  update(bytes: Uint8Array): this;
  hex(): string;
}
export function parsePublicKey(s: string): Uint8Array | null;
/** Transport detail, exported for the tests: a 200 fetch Response's body read within `limit`. */
export function readBody(res: Response, options: { limit: number; expect?: number | null }): Promise<{ bytes: Uint8Array; n: number; wire: number }>;
export function isSafePath(p: string): boolean;
export function blobPath(sha256: string): string;
export function mapLimit<T, R>(items: T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]>;

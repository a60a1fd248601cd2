// Types of @kbrel/client/folder (src/folder.js, Node only).
import type { Store, CacheState, Tree } from "./index.js";

/** A folder with exactly the layout of a `kbrel sync` cache: either tool updates the other's. */
export class FolderStore implements Store {
  constructor(dir: string);
  readonly root: string;
  open(): Promise<void>;
  loadState(): Promise<CacheState | null>;
  loadIndex(): Promise<Uint8Array | null>;
  currentTree(): Promise<Tree | null>;
  hasObject(sha256: string): Promise<boolean>;
  getObject(sha256: string): Promise<Uint8Array | null>;
  putObject(sha256: string, bytes: Uint8Array): Promise<void>;
  getManifest(sha256: string): Promise<Uint8Array | null>;
  putManifest(sha256: string, bytes: Uint8Array): Promise<void>;
  commitIndex(state: CacheState, indexBytes: Uint8Array | null): Promise<void>;
  commit(change: { tree: Tree; state: CacheState; indexBytes: Uint8Array | null }): Promise<void>;
  close(): Promise<void>;
}

// Types of @kbrel/client/folder (src/folder.js, Node only).
import type { Store } from "./index.js";

/** A folder with exactly the layout of a `kbrel sync` cache: either tool updates the other's. */
// Declaration merging: the class has every member of Store (declared once, in index.d.ts).
export interface FolderStore extends Store {}
export class FolderStore {
  constructor(dir: string);
  readonly root: string;
}

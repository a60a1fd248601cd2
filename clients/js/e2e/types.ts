// Compiled with `tsc --noEmit --strict` by tests/it/jsclient.rs: the declarations describe the API
// as the README uses it, and misuse is a type error (the @ts-expect-error lines must fail).
import {
  openDocs, MemoryStore, IndexedDbStore, KbrelError, IntegrityError, type Doc, type UpdateReport, type Store,
} from "@kbrel/client";
import { FolderStore } from "@kbrel/client/folder";

async function main(signal: AbortSignal): Promise<void> {
  const stores: Store[] = [new MemoryStore(), new IndexedDbStore("acme-docs"), new FolderStore("/var/cache/docs")];
  const kb = await openDocs({ registry: "https://docs.example.com/releases/", languages: ["en", "zh"], store: stores[0], trustKey: "ed25519:x", version: "^1.3" });
  const report: UpdateReport = await kb.update({ signal, onProgress: ({ done, total }) => console.log(done / total) });
  const wire: number = report.bytesOnWire + report.bytesDecoded;
  const doc: Doc | null = await kb.get("en", "Slack");
  if (doc) {
    const md: string = doc.markdown;
    const title: string | null = doc.title;
    console.log(md, title, doc.meta["tags"], doc.key, doc.path, wire);
  }
  const png: Uint8Array | null = await kb.asset("images/arch.png");
  const video: ReadableStream<Uint8Array> | null = await kb.assetStream("media/intro.mp4");
  const reader = video?.getReader();
  for (let r = await reader?.read(); r && !r.done; r = await reader?.read()) console.log(r.value.byteLength, png?.length);
  try {
    await kb.update();
  } catch (e) {
    if (e instanceof IntegrityError) console.log(e.expected, e.actual, e.url);
    else if (e instanceof KbrelError) console.log(e.check === "rollback");
  }
  // @ts-expect-error registry is required
  await openDocs({ store: new MemoryStore() });
  // @ts-expect-error get takes a language and a key
  await kb.get("en");
  // @ts-expect-error assetStream gives a stream, not bytes
  const bytes: Uint8Array | null = await kb.assetStream("media/intro.mp4");
  console.log(bytes);
  // @ts-expect-error markdown is a string
  const n: number | undefined = doc?.markdown;
  console.log(n);
}
void main;

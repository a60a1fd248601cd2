#!/usr/bin/env node
// kbrel-js-sync --from <URL> --into <DIR> [--version V] [--lang L]... [--trust-key K]...
//               [--allow-downgrade] [--parallel N] [--retries N] [--now RFC3339]
//               [--max-asset-size BYTES] [--max-document-size BYTES] [--json]
// The JavaScript client as a command, with the exit codes of `kbrel sync`: 0 done, 2 refused
// (the message names the URL and the failed check). Used by the conformance tests and benchmarks.
import { parseArgs } from "node:util";
import { openDocs, KbrelError } from "../src/index.js";
import { FolderStore } from "../src/folder.js";

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      from: { type: "string" },
      into: { type: "string" },
      version: { type: "string" },
      lang: { type: "string", multiple: true },
      "trust-key": { type: "string", multiple: true },
      "allow-downgrade": { type: "boolean" },
      parallel: { type: "string" },
      retries: { type: "string" },
      now: { type: "string" },
      "max-asset-size": { type: "string" },
      "max-document-size": { type: "string" },
      json: { type: "boolean" },
    },
  }));
  if (!args.from || !args.into) throw new Error("--from and --into are required");
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(2);
}
try {
  const now = args.now ? Date.parse(args.now) : null;
  const kb = await openDocs({
    registry: args.from,
    store: new FolderStore(args.into),
    languages: args.lang ?? null,
    trustKey: args["trust-key"] ?? [],
    version: args.version ?? "latest",
    allowDowngrade: !!args["allow-downgrade"],
    parallel: args.parallel ? Number(args.parallel) : 8,
    retries: args.retries ? Number(args.retries) : 3,
    now: now === null ? undefined : () => now,
    maxAssetSize: args["max-asset-size"] ? Number(args["max-asset-size"]) : undefined,
    maxDocumentSize: args["max-document-size"] ? Number(args["max-document-size"]) : undefined,
  });
  const report = await kb.update({
    onProgress: args.json ? undefined : (p) => process.stderr.write(`\rfetched ${p.done}/${p.total}`),
  });
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else console.log(`${report.name}@${report.version}: ${report.upToDate ? "up to date" : `${report.documentsFetched} documents${report.assetsFetched ? ` and ${report.assetsFetched} assets` : ""} fetched`} (${report.requests} requests, ${report.bytesOnWire} bytes on the wire)`);
} catch (e) {
  if (e instanceof KbrelError) {
    // With --json, the failure as data first, in the shape of `kbrel sync --json`.
    if (args.json) console.log(JSON.stringify({ error: { check: e.check, message: e.message, refusal: e.refusal } }, null, 2));
    console.error(`error[${e.check}]: ${e.message}`);
    process.exit(2);
  }
  console.error(`error: ${e?.stack ?? e}`);
  process.exit(2);
}

// Pure functions: semver (Cargo's rules, as kbrel sync), version choice, front matter, the
// registry formats' validation and the canonical JSON of the cache files.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseVersion, compareVersions, parseRange, selectVersion, splitFrontMatter, parseIndex,
  parseManifest, canonicalJson, isSafePath, parsePublicKey, FormatError, VersionError,
} from "../src/index.js";

const v = (s) => parseVersion(s);
const matches = (range, version) => parseRange(range)(v(version));

test("versions order by semver precedence, pre-releases below their release", () => {
  const sorted = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"];
  const shuffled = [...sorted].reverse();
  assert.deepEqual(shuffled.sort((a, b) => compareVersions(v(a), v(b))), sorted);
  assert.equal(parseVersion("1.2"), null);
  assert.equal(parseVersion("01.2.3"), null);
  assert.equal(compareVersions(v("1.0.0+build.1"), v("1.0.0")), 0);
});

test("ranges follow Cargo's rules, as kbrel sync reads them", () => {
  const cases = [
    ["^1.3", "1.3.0", true], ["^1.3", "1.9.9", true], ["^1.3", "2.0.0", false], ["^1.3", "1.2.9", false],
    ["^0.3", "0.3.5", true], ["^0.3", "0.4.0", false], ["^0.0.3", "0.0.4", false],
    ["~1.2", "1.2.7", true], ["~1.2", "1.3.0", false], ["~1", "1.9.0", true],
    ["1.2", "1.9.0", true], ["1", "1.0.0", true], ["=1.2", "1.2.5", true], ["=1.2", "1.3.0", false],
    [">=1.2, <2", "1.5.0", true], [">=1.2, <2", "2.0.0", false], ["<1.2", "1.1.9", true],
    [">1.2", "1.2.1", false], [">1.2", "1.3.0", true], ["<=1.2", "1.2.9", true],
    ["*", "3.1.4", true], ["1.x", "1.7.0", true],
    // Pre-releases only when a comparator names one of the same x.y.z.
    ["^1.0", "1.1.0-beta.1", false], [">=1.1.0-beta.1", "1.1.0-beta.2", true], [">=1.1.0-beta.1", "1.2.0-beta.1", false],
  ];
  for (const [range, version, want] of cases) assert.equal(matches(range, version), want, `${range} ~ ${version}`);
  for (const bad of ["^1 || ^2", "1.0.0 - 2.0.0", "nonsense", "^", ">=1.2,"]) assert.equal(parseRange(bad), null, bad);
});

const index = (versions, tags) => ({ versions: versions.map((version) => ({ version })), dist_tags: tags });

test("a spec names a dist-tag, an exact version (v optional) or a range; the highest match wins", () => {
  const i = index(["1.0.0", "1.2.0", "1.3.1", "2.0.0-beta.1"], { latest: "1.3.1", next: "2.0.0-beta.1" });
  const pick = (s) => selectVersion(i, s).version;
  assert.equal(pick(undefined), "1.3.1");
  assert.equal(pick("next"), "2.0.0-beta.1");
  assert.equal(pick("v1.2.0"), "1.2.0");
  assert.equal(pick("^1.1"), "1.3.1");
  assert.equal(pick("~1.2"), "1.2.0");
  assert.equal(pick("<1.2"), "1.0.0");
  for (const bad of ["3.0.0", "^3", "nonsense tag"]) {
    assert.throws(() => pick(bad), (e) => e instanceof VersionError && e.check === "version" && e.message.includes("1.0.0, 1.2.0"));
  }
});

test("front matter: meta from flat YAML, body without it, documents without front matter", () => {
  const d = splitFrontMatter('---\ntitle: "Slack: setup"\norder: 3\ndraft: false\ntags: [a, "b c"]\naliases:\n  - /old\n  - /older\nnote: plain text # comment\n---\n\n# Slack\n');
  assert.deepEqual(d.meta, { title: "Slack: setup", order: 3, draft: false, tags: ["a", "b c"], aliases: ["/old", "/older"], note: "plain text" });
  assert.equal(d.body, "\n# Slack\n");
  assert.equal(d.frontMatter.split("\n")[0], 'title: "Slack: setup"');
  assert.deepEqual(splitFrontMatter("# No front matter\n"), { frontMatter: null, meta: {}, body: "# No front matter\n" });
  assert.equal(splitFrontMatter("---\nunclosed: yes\n").frontMatter, null);
  assert.deepEqual(splitFrontMatter("---\ntitle: '它''s'\n---\n正文").meta, { title: "它's" });
});

const enc = (o) => new TextEncoder().encode(JSON.stringify(o));

test("indexes and manifests outside the protocol are refused with the URL", () => {
  const file = { path: "v/1.0.0/manifest.json", sha256: "a".repeat(64), size: 1 };
  const good = { schema_version: 1, name: "x", sequence: 1, dist_tags: { latest: "1.0.0" }, versions: [{ version: "1.0.0", manifest: file }] };
  assert.equal(parseIndex(enc(good), "U").name, "x");
  const bad = [
    [{ ...good, schema_version: 2 }, "newer"],
    [{ ...good, schema_version: undefined }, "no schema_version"],
    [{ ...good, versions: [...good.versions, { version: "0.9.0", manifest: file }] }, "ascending"],
    [{ ...good, versions: [{ version: "1.0.0", manifest: { ...file, path: "../etc/passwd" } }] }, "unsafe"],
    [{ ...good, dist_tags: { latest: "9.9.9" } }, "unlisted"],
  ];
  for (const [i, why] of bad) assert.throws(() => parseIndex(enc(i), "http://r/index.json"), (e) => e instanceof FormatError && e.url === "http://r/index.json" && e.message.includes(why), why);
  assert.throws(() => parseIndex(new TextEncoder().encode("{"), "U"), /not valid JSON/);
  const m = { schema_version: 1, name: "x", version: "1.0.0", languages: ["en"], documents: [{ lang: "en", path: "a.md", sha256: "b".repeat(64), size: 3 }] };
  assert.equal(parseManifest(enc(m), "M").documents.length, 1);
  for (const [doc, why] of [[{ path: "../a.md" }, "unsafe"], [{ lang: ".." }, "unsafe"], [{ sha256: "XYZ" }, "invalid sha256"]]) {
    const d = { ...m, documents: [{ ...m.documents[0], ...doc }] };
    assert.throws(() => parseManifest(enc(d), "M"), (e) => e instanceof FormatError && e.message.includes(why), why);
  }
  assert.throws(() => parseManifest(enc({ ...m, languages: ["../x"] }), "M"), /invalid language/);
  for (const p of ["a/b.md", "01 Getting started/安装.md"]) assert.ok(isSafePath(p), p);
  for (const p of ["../x", "/etc/passwd", "a/../b", "a\\b", "", "a//b", "c:/x"]) assert.ok(!isSafePath(p), p);
});

test("canonical JSON is serde_json's pretty printer (two spaces, trailing newline)", () => {
  const t = { format: "kbrel-cache/1", index_etag: null, trusted_keys: [], documents: [{ path: "指南/a b.md", size: 3 }] };
  assert.equal(new TextDecoder().decode(canonicalJson(t)), '{\n  "format": "kbrel-cache/1",\n  "index_etag": null,\n  "trusted_keys": [],\n  "documents": [\n    {\n      "path": "指南/a b.md",\n      "size": 3\n    }\n  ]\n}\n');
});

test("public keys are ed25519:<base64 of 32 bytes>, prefix optional", () => {
  const k = "ed25519:" + Buffer.alloc(32, 7).toString("base64");
  assert.equal(parsePublicKey(k).length, 32);
  assert.equal(parsePublicKey(k.slice(8)).length, 32);
  for (const bad of ["ed25519:abc", "ed25519:" + Buffer.alloc(31).toString("base64"), "", 42]) assert.equal(parsePublicKey(bad), null);
});

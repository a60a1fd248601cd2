// Shared by the node tests: a generated bilingual knowledge base published with the real
// `kbrel` ($KBREL_BIN), `kbrel serve` and nginx ($KBREL_NGINX) started on 127.0.0.1, and a
// fetch that counts requests. Without KBREL_BIN the tests that need it are skipped, except with
// CI=true, where they fail (tests/it/jsclient.rs always sets both).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, appendFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "../../..");
export const kbrelBin = process.env.KBREL_BIN;
export const nginxBin = process.env.KBREL_NGINX;

/** Options for test(): skip (or, under CI=true, fail) without the tool. */
export function needs(tool, value) {
  if (value) return {};
  if (process.env.CI === "true") throw new Error(`${tool} is required when CI=true`);
  return { skip: `${tool} not set` };
}

export function tmp(prefix = "kbrel-js-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function kbrel(args, opts = {}) {
  const r = spawnSync(kbrelBin, args, { encoding: "utf8", ...opts });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`kbrel ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

const doc = (title, body, extra = "") =>
  `---\ntitle: "${title}"\ndescription: "About ${title}."\ndate: 2026-11-20\ntags: [guide, "x y"]\n${extra}---\n\n# ${title}\n\n${body}\n`;

/**
 * A knowledge base shaped like real ones: numbered folders with spaces and CJK, a document
 * without front matter, `docs` generated documents per language. `kb.publish(v)` publishes.
 */
export function makeKb({ docs = 8, name = "acme-docs", sign = false, precompress = false } = {}) {
  const root = tmp("kbrel-js-kb-");
  const content = join(root, "content");
  const files = {};
  const write = (lang, path, text) => {
    const p = join(content, lang, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    files[`${lang}/${path}`] = text;
  };
  writeFileSync(join(root, "kbrel.toml"), `[package]\nname = "${name}"\n[content]\nroot = "content"\nlanguages = ["en", "zh"]\nsource_language = "en"\nrequired_fields = []\n[registry]\ndir = "releases"\n${precompress ? "precompress = true\n" : ""}`);
  write("en", "01 Getting started/Install guide.md", doc("Install guide", "Run the installer.", "key: Install\n"));
  write("zh", "01 Getting started/Install guide.md", doc("安装指南", "运行安装程序。", "key: Install\n"));
  write("en", "notes.md", "# Notes\n\nNo front matter here.\n");
  write("zh", "notes.md", "# 笔记\n\n这里没有前置元数据。\n");
  for (let i = 0; i < docs; i++) {
    write("en", `02 参考/d${i}.md`, doc(`Doc ${i}`, `Body ${i} `.repeat(40)));
    write("zh", `02 参考/d${i}.md`, doc(`文档 ${i}`, `正文 ${i} `.repeat(40)));
  }
  let key = null;
  if (sign) {
    const r = kbrel(["key", "generate", "--out", join(root, "k1")]);
    key = r.stdout.trim();
  }
  const kb = {
    root,
    registry: join(root, "releases"),
    files,
    key,
    write,
    append(lang, path, text) {
      appendFileSync(join(content, lang, path), text);
      files[`${lang}/${path}`] += text;
    },
    publish(version) {
      const extra = sign ? ["--sign-key", join(root, "k1")] : [];
      kbrel(["publish", version, "--quiet", ...extra], { cwd: root });
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  return kb;
}

function waitForLine(child, re, what) {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${text}`)), 20000);
    const on = (chunk) => {
      text += chunk;
      const m = re.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stderr.on("data", on);
    child.stdout.on("data", on);
    child.on("exit", (code) => reject(new Error(`${what} exited with ${code}:\n${text}`)));
  });
}

/** `kbrel serve <registry> --addr 127.0.0.1:0 <args>`; resolves to {url, stop}. */
export async function serve(registry, args = []) {
  const child = spawn(kbrelBin, ["serve", registry, "--addr", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.setEncoding("utf8");
  child.stdout.setEncoding("utf8");
  const m = await waitForLine(child, /serving .* on (http:\/\/[^/\s]+\/)/, "kbrel serve");
  return { url: m[1], stop: () => child.kill("SIGTERM") };
}

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The ```nginx block of the static-hosting guide page. */
export function guideNginxBlock() {
  const page = readFileSync(join(repo, "content/en/commands/serve.md"), "utf8");
  const m = /```nginx\n([\s\S]*?)```/.exec(page);
  if (!m) throw new Error("no nginx block in content/en/commands/serve.md");
  return m[1];
}

/** nginx serving `registry` at /releases/ with the guide's configuration; {url, stop}. */
export async function nginx(registry) {
  const dir = tmp("kbrel-js-nginx-");
  const port = await freePort();
  const location = guideNginxBlock().replace("/srv/docs/releases/", registry.replace(/\/?$/, "/"));
  const conf = `daemon off;\nmaster_process off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;\n  types { application/json json; }\n  server {\n    listen 127.0.0.1:${port};\n${location}\n  }\n}\n`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const child = spawn(nginxBin, ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: ["ignore", "pipe", "pipe"] });
  const url = `http://127.0.0.1:${port}/releases/`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url + "index.json");
      return { url, stop: () => child.kill("SIGTERM"), dir };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nginx did not start: ${readFileSync(join(dir, "error.log"), "utf8")}`);
}

/** A fetch that records every request: [{url, status, ifNoneMatch}]. */
export function countingFetch() {
  const log = [];
  const f = async (url, init = {}) => {
    const res = await fetch(url, init);
    log.push({ url: String(url), status: res.status, ifNoneMatch: init.headers?.["If-None-Match"] ?? null });
    return res;
  };
  return { fetch: f, log, take: () => log.splice(0) };
}

export const text = (bytes) => new TextDecoder().decode(bytes);

//! Helpers for `tests/serve.rs` and `tests/npm_compat.rs`: a small generated bilingual knowledge
//! base, the real `kbrel` binary, `kbrel serve` and other servers run as child processes that are
//! killed on drop, a raw HTTP/1.1 client over `std::net::TcpStream` (no URL normalisation), and
//! lookup of external tools (node, npm, nginx, Verdaccio).
//!
//! External tools: when one is missing the test prints a note and passes, except with `CI=true`,
//! where it fails. `.ci/run` installs them (nginx-light from Debian, Verdaccio 6.8.0 into
//! `target/test-tools/verdaccio`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The release date every test publishes with.
pub const DATE: &str = "2026-11-25";

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A missing external component: fail under `CI=true`, else print a note and return `false`
/// (the caller returns early, i.e. skips).
pub fn missing(what: &str, detail: &str) -> bool {
    if ci() {
        panic!("{what} is required when CI=true ({detail}); .ci/run installs it");
    }
    eprintln!(
        "note: {what} not available ({detail}); skipping this test (it would fail with CI=true)"
    );
    false
}

/// The path of an executable that answers `<tool> <version_arg>` successfully, looked up on PATH
/// and in the sbin folders (nginx lives in /usr/sbin, which a non-root PATH may lack).
pub fn find_tool(tool: &str, version_arg: &str) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from(tool)];
    for dir in ["/usr/sbin", "/usr/local/sbin", "/sbin"] {
        candidates.push(Path::new(dir).join(tool));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg(version_arg)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `find_tool`, failing under CI and printing a skip note otherwise.
pub fn require_tool(tool: &str, version_arg: &str) -> Option<PathBuf> {
    let found = find_tool(tool, version_arg);
    if found.is_none() {
        missing(
            &format!("`{tool}`"),
            &format!("`{tool} {version_arg}` failed"),
        );
    }
    found
}

/// node and npm, both required by the npm compatibility tests.
pub fn require_node_npm() -> bool {
    require_tool("node", "--version").is_some() && require_tool("npm", "--version").is_some()
}

/// Verdaccio's executable, as installed by `.ci/run` (or `KBREL_TEST_VERDACCIO`).
pub fn require_verdaccio() -> Option<PathBuf> {
    let path = std::env::var_os("KBREL_TEST_VERDACCIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            manifest_dir().join("target/test-tools/verdaccio/node_modules/.bin/verdaccio")
        });
    if path.exists() {
        Some(path)
    } else {
        missing(
            "Verdaccio",
            &format!(
                "{} does not exist; install it with the Verdaccio step of .ci/run",
                path.display()
            ),
        );
        None
    }
}

/// A free TCP port on 127.0.0.1 (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Wait until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration, child: &mut Child, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on {addr}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// --- kbrel ---------------------------------------------------------------------------------

/// The `kbrel` binary Cargo built for the integration tests.
pub fn kbrel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kbrel"));
    cmd.env_remove("SOURCE_DATE_EPOCH").stdin(Stdio::null());
    cmd
}

/// The outcome of one command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success\n{self}");
        self
    }
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit code {code}\n{self}");
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A markdown document with complete front matter.
pub fn doc(title: &str, url: &str, key: &str, body: &str) -> String {
    format!(
        "---\ntitle: {}\ndescription: {}\ndate: 2026-11-20\nurl: \"{url}\"\nkey: {key}\n---\n\n{body}",
        serde_json::to_string(title).unwrap(),
        serde_json::to_string(&format!("About {title}.")).unwrap(),
    )
}

/// `n` bytes of pseudo-random lowercase words (poorly compressible), in lines.
pub fn noise(n: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(n + 80);
    let mut line = 0;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 3 + (x % 7) as usize;
        for i in 0..len {
            out.push((b'a' + ((x >> (5 * i + 8)) % 26) as u8) as char);
        }
        line += len + 1;
        if line > 70 {
            out.push_str(".\n");
            line = 0;
        } else {
            out.push(' ');
        }
    }
    out.push_str(".\n");
    out
}

/// A generated bilingual knowledge base in its own temporary directory: `kbrel.toml`,
/// `content/{en,zh}/…` and the registry in `registry/`.
pub struct Kb {
    pub tmp: TempDir,
    pub name: String,
}

impl Kb {
    /// Three documents per language (`intro`, `faq`, `guide/setup`). `public_url` goes to
    /// `registry.public_url`.
    pub fn new(name: &str, public_url: Option<&str>) -> Kb {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-serve-test-")
            .tempdir()
            .expect("temp dir");
        let kb = Kb {
            tmp,
            name: name.to_string(),
        };
        let public = public_url
            .map(|u| format!("public_url = {}\n", serde_json::to_string(u).unwrap()))
            .unwrap_or_default();
        fs::write(
            kb.root().join("kbrel.toml"),
            format!(
                "[package]\nname = {}\ndescription = \"kbrel serve test knowledge base.\"\nlicense = \"MIT\"\n\n\
                 [content]\nroot = \"content\"\nlanguages = [\"en\", \"zh\"]\nsource_language = \"en\"\npairing = \"path\"\n\
                 required_fields = [\"title\", \"description\", \"date\", \"url\"]\n\n\
                 [registry]\ndir = \"registry\"\n{public}\n[changelog]\npath = \"CHANGELOG.md\"\n",
                serde_json::to_string(name).unwrap()
            ),
        )
        .expect("write kbrel.toml");
        kb.write_doc(
            "intro",
            "Intro",
            ("Introduction", "# Introduction\n\nThe knowledge base explains how to install and configure the agent.\n"),
            ("简介", "# 简介\n\n本知识库介绍如何安装和配置代理。\n"),
        );
        kb.write_doc(
            "faq",
            "Faq",
            (
                "Frequently asked questions",
                "# FAQ\n\n## Does it work offline?\n\nYes, once installed.\n",
            ),
            (
                "常见问题",
                "# 常见问题\n\n## 可以离线使用吗？\n\n可以，安装之后即可。\n",
            ),
        );
        kb.write_doc(
            "guide/setup",
            "GuideSetup",
            (
                "Setup",
                "# Setup\n\nRun the installer, then `acme start`.\n",
            ),
            ("安装", "# 安装\n\n运行安装程序，然后执行 `acme start`。\n"),
        );
        kb
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn registry(&self) -> PathBuf {
        self.root().join("registry")
    }

    pub fn content(&self) -> PathBuf {
        self.root().join("content")
    }

    /// Write one document in both languages: `(title, body)` for en and zh.
    pub fn write_doc(&self, id: &str, key: &str, en: (&str, &str), zh: (&str, &str)) {
        for (lang, (title, body)) in [("en", en), ("zh", zh)] {
            let path = self.content().join(lang).join(format!("{id}.md"));
            fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
            let url = format!("https://kb.example.test/{lang}/{id}");
            fs::write(&path, doc(title, &url, key, body)).expect("write doc");
        }
    }

    /// Append a line to a document in both languages.
    pub fn append(&self, id: &str, en: &str, zh: &str) {
        for (lang, line) in [("en", en), ("zh", zh)] {
            let path = self.content().join(lang).join(format!("{id}.md"));
            let mut text = fs::read_to_string(&path).expect("read doc");
            text.push_str(line);
            fs::write(&path, text).expect("write doc");
        }
    }

    /// `kbrel --config … --registry <registry> <args>`.
    pub fn cmd_with(&self, registry: &Path) -> Command {
        let mut cmd = kbrel();
        cmd.current_dir(self.root())
            .arg("--config")
            .arg(self.root().join("kbrel.toml"))
            .arg("--registry")
            .arg(registry);
        cmd
    }

    pub fn cmd(&self) -> Command {
        self.cmd_with(&self.registry())
    }

    /// Publish the current content as `version` into the default registry.
    pub fn publish(&self, version: &str) {
        self.publish_into(&self.registry(), version);
    }

    pub fn publish_into(&self, registry: &Path, version: &str) {
        let changelog = registry.with_extension("CHANGELOG.md");
        run(self
            .cmd_with(registry)
            .args(["publish", version, "--date", DATE, "--changelog"])
            .arg(changelog))
        .success();
    }

    /// The documents of the current content of one language: key → text.
    pub fn expected(&self, lang: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.content().join(lang)];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "md") {
                    let text = fs::read_to_string(&path).expect("read doc");
                    let key = text
                        .lines()
                        .find_map(|l| l.strip_prefix("key: "))
                        .expect("key in front matter")
                        .to_string();
                    out.insert(key, text);
                }
            }
        }
        out
    }

    /// The published index of the default registry.
    pub fn index(&self) -> serde_json::Value {
        read_json(&self.registry().join("index.json"))
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The versions of an index.json, in order.
pub fn index_versions(index: &serde_json::Value) -> Vec<String> {
    index["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_str().expect("version").to_string())
        .collect()
}

/// A registry-relative path of an index file reference (`versions[i].tarball.path` etc.).
pub fn index_file(index: &serde_json::Value, version: &str, what: &str) -> (String, String) {
    let v = index["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .unwrap_or_else(|| panic!("{version} not in the index"));
    (
        v[what]["path"].as_str().unwrap().to_string(),
        v[what]["sha256"].as_str().unwrap().to_string(),
    )
}

// --- child processes -----------------------------------------------------------------------

/// Collected output lines of a child, read by a background thread.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    pub fn follow(stream: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                match line {
                    Ok(line) => l.0.lock().unwrap().push(line),
                    Err(_) => break,
                }
            }
        });
        lines
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// Wait until some line satisfies `f`; returns it.
    pub fn wait_for(&self, timeout: Duration, f: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.0.lock().unwrap().iter().find(|l| f(l)) {
                return Some(l.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub output: Lines,
}

impl Proc {
    /// Spawn with stdout and stderr both collected into `output`.
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let output = Lines::default();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let l = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    match line {
                        Ok(line) => l.0.lock().unwrap().push(line),
                        Err(_) => break,
                    }
                }
            });
        }
        Proc {
            child,
            name: name.to_string(),
            output,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (`TERM`, `INT`, …).
    pub fn signal(&self, sig: &str) {
        // The shell's builtin kill: no procps needed.
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -{sig} {}", self.pid())])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {} failed", self.pid());
    }

    /// Wait for the exit status, at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kbrel serve DIR --addr 127.0.0.1:0 <args>`, its address read from its "serving … on" line.
pub struct Serve {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Serve {
    pub fn start(dir: &Path, args: &[&str]) -> Serve {
        let mut cmd = kbrel();
        cmd.arg("serve")
            .arg(dir)
            .args(["--addr", "127.0.0.1:0"])
            .args(args);
        let proc = Proc::spawn("kbrel serve", &mut cmd);
        let line = proc
            .output
            .wait_for(Duration::from_secs(20), |l| l.starts_with("serving "));
        let Some(line) = line else {
            panic!("kbrel serve did not start:\n{}", proc.output.text());
        };
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Serve { proc, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn log(&self) -> String {
        self.proc.output.text()
    }

    pub fn get(&self, path: &str) -> Resp {
        get(self.addr, path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        get(self.addr, path, headers)
    }

    /// The process is still running.
    pub fn alive(&mut self) -> bool {
        self.proc.child.try_wait().expect("try_wait").is_none()
    }
}

// --- raw HTTP ------------------------------------------------------------------------------

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Everything the server sent on the connection.
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub fn decoded(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .expect("valid gzip body");
            out
        } else {
            self.body.clone()
        }
    }
}

/// Parse one response from the bytes of a connection (`None`: not a complete head).
pub fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
        raw: raw.to_vec(),
    })
}

/// Write `request` as is, then read until the server closes the connection (or `timeout`).
/// Write and reset errors are tolerated: the server may close early.
pub fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(request);
    read_to_close(&mut s, timeout)
}

/// Read until EOF, a connection error, or `timeout` overall.
pub fn read_to_close(s: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    out
}

/// One request on its own connection (`Connection: close`) with `method` and raw `target`.
pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let raw = exchange(addr, req.as_bytes(), Duration::from_secs(20));
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "no HTTP response to {method} {target}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", target, headers)
}

// --- npm -----------------------------------------------------------------------------------

/// An npm consumer project in a temp dir, with its own cache and an empty user config.
pub struct NpmProject {
    pub tmp: TempDir,
    pub registry: String,
}

impl NpmProject {
    pub fn new(registry: &str) -> NpmProject {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-npm-")
            .tempdir()
            .expect("temp dir");
        let p = NpmProject {
            tmp,
            registry: registry.to_string(),
        };
        fs::create_dir_all(p.dir()).unwrap();
        fs::write(
            p.dir().join("package.json"),
            "{\"name\":\"consumer\",\"version\":\"1.0.0\",\"private\":true}\n",
        )
        .unwrap();
        fs::write(p.tmp.path().join("npmrc"), "").unwrap();
        p
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("project")
    }

    /// `npm <args> --registry … --cache … --userconfig …` in the project folder.
    pub fn npm(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("npm");
        cmd.current_dir(self.dir())
            .stdin(Stdio::null())
            .args(args)
            .arg("--registry")
            .arg(&self.registry)
            .arg("--cache")
            .arg(self.tmp.path().join("cache"))
            .arg("--userconfig")
            .arg(self.tmp.path().join("npmrc"))
            .args([
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--fetch-retries=0",
                "--fetch-timeout=30000",
            ])
            .env_remove("npm_config_registry")
            .env("NO_COLOR", "1");
        run(&mut cmd)
    }

    /// `npm view <name> versions --json` as a list.
    pub fn view_versions(&self, name: &str) -> Vec<String> {
        let r = self.npm(&["view", name, "versions", "--json"]).success();
        match r.json() {
            serde_json::Value::Array(a) => {
                a.iter().map(|v| v.as_str().unwrap().to_string()).collect()
            }
            serde_json::Value::String(s) => vec![s],
            other => panic!("unexpected npm view output {other}"),
        }
    }

    /// Import `<name>/<lang>` with node (ESM, through the package `exports`): key → text.
    pub fn import(&self, name: &str, lang: &str) -> BTreeMap<String, String> {
        let script = self.dir().join(format!("import-{lang}.mjs"));
        fs::write(
            &script,
            format!(
                "import docs from {};\nprocess.stdout.write(JSON.stringify(docs));\n",
                serde_json::to_string(&format!("{name}/{lang}")).unwrap()
            ),
        )
        .unwrap();
        let r = run(Command::new("node")
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .arg(&script))
        .success();
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"))
    }

    /// Install `<name>@<version>` and check that node imports both languages with `expected`.
    pub fn install_and_check(
        &self,
        name: &str,
        version: &str,
        expected_en: &BTreeMap<String, String>,
        expected_zh: &BTreeMap<String, String>,
    ) {
        self.npm(&["install", &format!("{name}@{version}")])
            .success();
        let pj = read_json(
            &self
                .dir()
                .join("node_modules")
                .join(name)
                .join("package.json"),
        );
        assert_eq!(pj["name"], name);
        assert_eq!(pj["version"], version);
        assert_eq!(&self.import(name, "en"), expected_en, "{name}@{version}/en");
        assert_eq!(&self.import(name, "zh"), expected_zh, "{name}@{version}/zh");
    }
}

/// The file names of `kbrel diff --package A B --name-status` (new names for renames).
pub fn kbrel_package_diff_names(kb: &Kb, a: &str, b: &str) -> BTreeSet<String> {
    let r = run(kb.cmd().args([
        "diff",
        "--package",
        a,
        b,
        "--name-status",
        "--color",
        "never",
    ]));
    assert!(r.code == 0 || r.code == 1, "kbrel diff failed\n{r}");
    let names: BTreeSet<String> = r
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit('\t').next().unwrap().to_string())
        .collect();
    assert!(
        !names.is_empty(),
        "kbrel diff --package listed nothing\n{r}"
    );
    names
}

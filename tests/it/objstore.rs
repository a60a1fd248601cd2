//! Registries in object storage (`--registry s3://bucket/prefix`), against a real
//! S3-compatible server started here on 127.0.0.1: moto's server mode (`moto_server`,
//! installed by `.ci/run` into `target/test-tools/moto`, or `KBREL_TEST_MOTO`). It implements
//! S3's conditional writes (`If-None-Match: *`, `If-Match`), which the publish protocol
//! relies on, and keeps `Cache-Control`/`Content-Type` as S3 does. Missing, the tests fail
//! under `CI=true` and skip otherwise.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use crate::common::serve::{Proc, Serve, free_port, wait_for_port};
use crate::common::{self, Kb, Run, manifest_dir, run};

const BUCKET: &str = "kbrel-test";
const URL: &str = "s3://kbrel-test/team/kb";

/// `moto_server` on a free port, killed on drop.
struct Moto {
    _proc: Proc,
    port: u16,
}

fn moto_with(env: &[(&str, &str)]) -> Option<Moto> {
    let bin = std::env::var_os("KBREL_TEST_MOTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("target/test-tools/moto/bin/moto_server"));
    if !bin.exists() {
        common::tools::missing(
            "moto (S3-compatible server)",
            &format!(
                "{} does not exist; install it with the moto step of .ci/run",
                bin.display()
            ),
        );
        return None;
    }
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = Proc::spawn("moto_server", &mut cmd);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(
        addr,
        Duration::from_secs(60),
        &mut proc.child,
        "moto_server",
    );
    let m = Moto { _proc: proc, port };
    m.create_bucket(BUCKET);
    Some(m)
}

fn moto() -> Option<Moto> {
    moto_with(&[])
}

impl Moto {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A bucket anyone may read (what a CDN in front of it needs).
    fn create_bucket(&self, name: &str) {
        let r = ureq::put(&format!("{}/{name}", self.base()))
            .header("x-amz-acl", "public-read")
            .send(&[][..]);
        assert!(r.is_ok(), "create bucket {name}: {r:?}");
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        let r = ureq::put(&format!("{}/{BUCKET}/{key}", self.base())).send(bytes);
        assert!(r.is_ok(), "put {key}: {r:?}");
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut r = ureq::get(&format!("{}/{BUCKET}/{key}", self.base()))
            .call()
            .ok()?;
        r.body_mut().read_to_vec().ok()
    }

    /// `(Cache-Control, Content-Type)` of an object.
    fn headers(&self, key: &str) -> (String, String) {
        let r = ureq::head(&format!("{}/{BUCKET}/{key}", self.base()))
            .call()
            .unwrap_or_else(|e| panic!("HEAD {key}: {e}"));
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        (h("cache-control"), h("content-type"))
    }

    /// Every key in the bucket under `prefix/`, relative to it.
    fn list(&self, prefix: &str) -> BTreeSet<String> {
        let mut r = ureq::get(&format!(
            "{}/{BUCKET}?list-type=2&prefix={prefix}/",
            self.base()
        ))
        .call()
        .expect("list");
        let body = r.body_mut().read_to_string().expect("list body");
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(|k| {
                k.strip_prefix(&format!("{prefix}/"))
                    .unwrap_or(k)
                    .to_string()
            })
            .collect()
    }
}

/// `kbrel --config … --registry <url>` with S3 credentials and endpoint for `port`, and a
/// mirror folder of its own (as on a CI runner that keeps no disk).
fn s3(kb: &Kb, port: u16, mirror: &Path) -> Command {
    let mut cmd = kb.cmd_with(Path::new(URL));
    s3_env(&mut cmd, port, mirror);
    cmd
}

fn s3_env(cmd: &mut Command, port: u16, mirror: &Path) {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("KBREL_MIRROR_DIR", mirror);
}

fn publish(kb: &Kb, port: u16, mirror: &Path, version: &str) -> Run {
    run(s3(kb, port, mirror)
        .arg("publish")
        .arg(version)
        .args(["--date", "2024-05-01T00:00:00Z", "--changelog"])
        .arg(kb.changelog()))
}

fn index(m: &Moto) -> kbrel::manifest::Index {
    serde_json::from_slice(
        &m.get("team/kb/index.json")
            .expect("index.json in the bucket"),
    )
    .expect("index.json parses")
}

fn versions(m: &Moto) -> Vec<String> {
    index(m)
        .versions
        .iter()
        .map(|v| v.version.to_string())
        .collect()
}

/// The blobs a version's manifest lists, read from the bucket.
fn blobs_of(m: &Moto, version: &str) -> BTreeSet<String> {
    let man: kbrel::manifest::Manifest = serde_json::from_slice(
        &m.get(&format!("team/kb/v/{version}/manifest.json"))
            .expect("manifest"),
    )
    .unwrap();
    man.documents.into_iter().map(|d| d.sha256).collect()
}

fn uploaded_count(r: &Run) -> usize {
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("uploaded "))
        .unwrap_or_else(|| panic!("no `uploaded` line:\n{}", r.stderr));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// An asset's blob is named by its hash, so its `Content-Type` comes from the asset's file
/// name in the manifest, not from the blob's name (which says "markdown" for documents).
#[test]
fn asset_blobs_get_the_content_type_of_their_file() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let png: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    kb.write("en/logo.png", png);
    kb.write("en/manual.pdf", b"%PDF-1.4\n%kbrel test\n");
    let intro = kb.read("en/intro.md");
    kb.write(
        "en/intro.md",
        format!("{intro}\n![logo](logo.png)\n\n[manual](manual.pdf)\n"),
    );
    let tmp = tempfile::tempdir().unwrap();
    publish(&kb, m.port, &tmp.path().join("m1"), "1.0.0").success();
    for (bytes, ct) in [
        (png, "image/png"),
        (&b"%PDF-1.4\n%kbrel test\n"[..], "application/pdf"),
    ] {
        let b = crate::common::sha256_hex(bytes);
        let key = format!("team/kb/blobs/sha256/{}/{}", &b[..2], &b[2..]);
        assert_eq!(
            m.headers(&key),
            (
                "public, max-age=31536000, immutable".to_string(),
                ct.to_string()
            ),
            "{key}"
        );
    }
}

#[test]
fn publish_to_s3_uploads_in_order_with_cdn_headers_and_only_new_blobs_the_second_time() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let tmp = tempfile::tempdir().unwrap();
    let r = publish(&kb, m.port, &tmp.path().join("m1"), "1.0.0").success();
    assert_eq!(versions(&m), ["1.0.0"]);
    let blobs1 = blobs_of(&m, "1.0.0");
    // blobs + 3 version files + tarball + index + packument
    assert_eq!(uploaded_count(&r), blobs1.len() + 6, "{}", r.stderr);
    let keys = m.list("team/kb");
    for b in &blobs1 {
        assert!(keys.contains(&format!("blobs/sha256/{}/{}", &b[..2], &b[2..])));
    }

    // CDN-ready metadata.
    let immutable = "public, max-age=31536000, immutable";
    let revalidate = "public, max-age=60, must-revalidate";
    let b = blobs1.iter().next().unwrap();
    for (key, cc, ct) in [
        ("index.json", revalidate, "application/json"),
        ("acme-kb", revalidate, "application/json"),
        ("acme-kb-1.0.0.tgz", immutable, "application/gzip"),
        ("v/1.0.0/manifest.json", immutable, "application/json"),
        ("v/1.0.0/diff.json", immutable, "application/json"),
        (
            &format!("blobs/sha256/{}/{}", &b[..2], &b[2..]),
            immutable,
            "text/markdown; charset=utf-8",
        ),
    ] {
        assert_eq!(
            m.headers(&format!("team/kb/{key}")),
            (cc.to_string(), ct.to_string()),
            "{key}"
        );
    }

    // A second publish from another runner (a fresh mirror) uploads only the new blobs.
    kb.apply_release_2_changes();
    let r = publish(&kb, m.port, &tmp.path().join("m2"), "1.1.0").success();
    assert_eq!(versions(&m), ["1.0.0", "1.1.0"]);
    let new_blobs = blobs_of(&m, "1.1.0").difference(&blobs1).count();
    assert!(new_blobs > 0);
    assert_eq!(uploaded_count(&r), new_blobs + 6, "{}", r.stderr);

    // Publishing the same release again uploads nothing.
    let r = publish(&kb, m.port, &tmp.path().join("m2"), "1.1.0").success();
    assert!(r.stderr.contains("nothing uploaded"), "{}", r.stderr);

    // Read commands work through a fresh mirror.
    let fresh = tmp.path().join("m3");
    let v = run(s3(&kb, m.port, &fresh).arg("verify")).success();
    assert!(v.stderr.contains("no leftovers"), "{}", v.stderr);
    let d = run(s3(&kb, m.port, &fresh).args(["diff", "1.0.0", "1.1.0", "--json"])).success();
    assert!(
        !d.parse::<kbrel::manifest::DiffFile>().changes.is_empty(),
        "{}",
        d.stdout
    );
    run(s3(&kb, m.port, &fresh).args(["changelog"]))
        .success()
        .stdout_has(&["1.1.0", "1.0.0"]);
    run(s3(&kb, m.port, &fresh).args(["status"])).success();
}

#[test]
fn push_to_copies_a_local_registry_index_last() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    kb.apply_release_2_changes();
    kb.publish(&["1.1.0"]).success();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = kb.cmd();
    s3_env(&mut cmd, m.port, &tmp.path().join("m"));
    run(cmd.args(["push", "all", "--to", URL])).success();
    assert_eq!(
        m.get("team/kb/index.json").unwrap(),
        fs::read(kb.reg("index.json")).unwrap()
    );
    assert_eq!(
        m.get("team/kb/acme-kb-1.1.0.tgz").unwrap(),
        fs::read(kb.reg("acme-kb-1.1.0.tgz")).unwrap()
    );
    run(s3(&kb, m.port, &tmp.path().join("m2")).arg("verify")).success();
    // Again: nothing to do.
    let mut cmd = kb.cmd();
    s3_env(&mut cmd, m.port, &tmp.path().join("m"));
    run(cmd.args(["push", "all", "--to", URL]))
        .success()
        .stderr_has(&["nothing uploaded"]);
}

#[test]
fn of_two_concurrent_publishers_exactly_one_wins() {
    let Some(m) = moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = Kb::new();
    publish(&base, m.port, &tmp.path().join("m0"), "1.0.0").success();
    for round in 0..3 {
        let version = format!("1.{}.0", round + 1);
        // Two runners, two different contents for the same version.
        let kbs: Vec<Kb> = (0..2)
            .map(|i| {
                let kb = Kb::new();
                for lang in ["en", "zh"] {
                    kb.write(
                        &format!("{lang}/guide/race.md"),
                        common::doc(
                            "Race",
                            "Which runner wins",
                            &format!("https://example.com/{lang}/race"),
                            "Race",
                            &format!("runner {i} round {round}\n"),
                        ),
                    );
                }
                kb
            })
            .collect();
        let procs: Vec<_> = kbs
            .iter()
            .enumerate()
            .map(|(i, kb)| {
                let mut cmd = s3(kb, m.port, &tmp.path().join(format!("r{round}-{i}")));
                cmd.arg("publish")
                    .arg(&version)
                    .args(["--date", "2024-05-01T00:00:00Z", "--changelog"])
                    .arg(kb.changelog());
                cmd.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = procs
            .into_iter()
            .map(|p| p.wait_with_output().unwrap())
            .collect();
        let won: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outs:?}");
        let lost = &outs[1 - won[0]];
        assert_eq!(lost.status.code(), Some(2));
        let err = String::from_utf8_lossy(&lost.stderr);
        assert!(
            err.contains("another publish")
                || err.contains("already published with different content"),
            "round {round}: {err}"
        );
        // The listed release is the winner's, complete.
        let idx = index(&m);
        let listed = idx
            .versions
            .iter()
            .find(|v| v.version.to_string() == version)
            .expect("the version is listed");
        let man = m
            .get(&format!("team/kb/v/{version}/manifest.json"))
            .unwrap();
        assert_eq!(listed.manifest.sha256, common::sha256_hex(&man));
        let v =
            run(s3(&base, m.port, &tmp.path().join(format!("v{round}")))
                .args(["verify", "--repair"]));
        assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    }
    assert_eq!(versions(&m), ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]);
}

/// A TCP proxy to `port` that forwards `budget` bytes from clients, then either drops every
/// connection (and every new one) or stalls them (holds them open, forwarding nothing).
struct Proxy {
    port: u16,
    budget: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: u16, budget: i64, stall: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Arc::new(AtomicI64::new(budget));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (budget.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                if b.load(Ordering::SeqCst) <= 0 {
                    if !stall {
                        let _ = client.shutdown(Shutdown::Both);
                    } else {
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(120));
                            drop(client);
                        });
                    }
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let b2 = b.clone();
                // client → server, within the budget
                std::thread::spawn(move || {
                    let (mut c, mut srv) = (client, server);
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = match c.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let left = b2.fetch_sub(n as i64, Ordering::SeqCst);
                        if left < n as i64 {
                            if stall {
                                std::thread::sleep(Duration::from_secs(120));
                            }
                            break;
                        }
                        if srv.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c.shutdown(Shutdown::Both);
                    let _ = srv.shutdown(Shutdown::Both);
                });
                // server → client
                std::thread::spawn(move || {
                    let (mut srv, mut c) = (s2, c2);
                    let _ = std::io::copy(&mut srv, &mut c);
                    let _ = c.shutdown(Shutdown::Both);
                });
            }
        });
        Proxy { port, budget, stop }
    }

    fn open(&self) {
        self.budget.store(i64::MAX / 2, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn a_network_error_mid_upload_lists_nothing_incomplete_and_repair_cleans_up() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let tmp = tempfile::tempdir().unwrap();
    publish(&kb, m.port, &tmp.path().join("m0"), "1.0.0").success();
    let before = m.get("team/kb/index.json").unwrap();
    kb.apply_release_2_changes();
    // The pull sends a few KB of requests, the uploads of the second release about 20 KB:
    // the connections drop half-way through the uploads.
    let proxy = Proxy::start(m.port, 9_000, false);
    let r = run(s3(&kb, proxy.port, &tmp.path().join("m1"))
        .arg("publish")
        .arg("1.1.0")
        .args(["--date", "2024-05-01T00:00:00Z", "--changelog"])
        .arg(kb.changelog()))
    .code(2);
    assert!(
        r.stderr.contains("object storage: cannot")
            && r.stderr.contains("s3://kbrel-test/team/kb/"),
        "{}",
        r.stderr
    );
    // Nothing listed changed.
    assert_eq!(m.get("team/kb/index.json").unwrap(), before);
    proxy.open();
    let v = run(s3(&kb, m.port, &tmp.path().join("m2")).arg("verify"));
    let leftovers = m.list("team/kb").len() > 14;
    assert_eq!(v.code, if leftovers { 1 } else { 0 }, "{}", v.stderr);
    run(s3(&kb, m.port, &tmp.path().join("m2")).args(["verify", "--repair"])).success();
    run(s3(&kb, m.port, &tmp.path().join("m2")).arg("verify"))
        .success()
        .stderr_has(&["no leftovers"]);
    publish(&kb, m.port, &tmp.path().join("m1"), "1.1.0").success();
    assert_eq!(versions(&m), ["1.0.0", "1.1.0"]);
}

#[test]
fn kill_9_during_publish_leaves_a_registry_verify_accepts_and_repair_cleans() {
    let Some(m) = moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let kb = Kb::new();
    publish(&kb, m.port, &tmp.path().join("m0"), "1.0.0").success();
    kb.apply_release_2_changes();
    // Stall the uploads after a few KB (deterministically mid-upload), and at a few other
    // points; kill -9 each time.
    let mut had_leftovers = false;
    for (i, budget) in [3_000i64, 9_000, 15_000].into_iter().enumerate() {
        let proxy = Proxy::start(m.port, budget, true);
        let mut cmd = s3(&kb, proxy.port, &tmp.path().join(format!("k{i}")));
        cmd.arg("publish")
            .arg("1.1.0")
            .args(["--date", "2024-05-01T00:00:00Z", "--changelog"])
            .arg(kb.changelog());
        let mut p = Proc::spawn("kbrel publish", &mut cmd);
        std::thread::sleep(Duration::from_millis(2500));
        p.signal("KILL");
        p.wait_timeout(Duration::from_secs(10)).expect("killed");
        drop(proxy);
        // The registry is valid: 1.0.0 listed, 1.1.0 not (the index write never happened).
        assert_eq!(versions(&m), ["1.0.0"], "{}", p.output.text());
        let v = run(s3(&kb, m.port, &tmp.path().join(format!("v{i}"))).arg("verify"));
        // Everything listed is intact (0 problems); what the killed publish uploaded, if
        // anything, is reported as leftovers (exit 1).
        let all = format!("{}{}", v.stdout, v.stderr);
        assert!(all.contains(", 0 problem(s)"), "{all}");
        assert_eq!(
            v.code,
            i32::from(all.contains("leftover (not listed")),
            "{all}"
        );
        had_leftovers |= v.code == 1;
        run(s3(&kb, m.port, &tmp.path().join(format!("v{i}"))).args(["verify", "--repair"]))
            .success();
    }
    assert!(had_leftovers, "no kill landed during the uploads");
    // After repair only what the index lists is there, and the publish goes through.
    run(s3(&kb, m.port, &tmp.path().join("v")).arg("verify"))
        .success()
        .stderr_has(&["no leftovers"]);
    publish(&kb, m.port, &tmp.path().join("m9"), "1.1.0").success();
    assert_eq!(versions(&m), ["1.0.0", "1.1.0"]);
}

#[test]
fn bad_locations_and_buckets_fail_clearly() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m");
    // A missing bucket.
    let mut cmd = kb.cmd_with(Path::new("s3://no-such-bucket/kb"));
    s3_env(&mut cmd, m.port, &mirror);
    run(cmd.arg("verify"))
        .code(2)
        .stderr_has(&["s3://no-such-bucket/kb/", "the bucket does not exist"]);
    // A prefix holding something that is not a registry: nothing is written there.
    m.put("photos/cat.jpg", b"not a registry");
    let mut cmd = kb.cmd_with(Path::new("s3://kbrel-test/photos"));
    s3_env(&mut cmd, m.port, &mirror);
    run(cmd
        .args(["publish", "1.0.0", "--changelog"])
        .arg(kb.changelog()))
    .code(2)
    .stderr_has(&["is not a registry", "s3://kbrel-test/photos/cat.jpg"]);
    assert_eq!(m.list("photos"), BTreeSet::from(["cat.jpg".to_string()]));
    // An index too new for this kbrel.
    m.put(
        "team/kb/index.json",
        br#"{"schema_version":99,"name":"acme-kb","sequence":1,"dist_tags":{},"versions":[]}"#,
    );
    run(s3(&kb, m.port, &mirror).arg("verify"))
        .code(2)
        .stderr_has(&["s3://kbrel-test/team/kb/index.json", "upgrade kbrel"]);
    // An unsupported scheme and a relative file:// URL.
    run(kb.cmd_with(Path::new("ftp://host/kb")).arg("verify"))
        .code(2)
        .stderr_has(&["ftp://"]);
}

#[test]
fn wrong_credentials_are_named() {
    // Authentication on after the first request (which creates the bucket).
    let Some(m) = moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]) else {
        return;
    };
    let kb = Kb::new();
    let tmp = tempfile::tempdir().unwrap();
    let r = run(s3(&kb, m.port, &tmp.path().join("m")).arg("verify")).code(2);
    assert!(
        r.stderr.contains("s3://kbrel-test/team/kb/")
            && r.stderr.contains("access denied: check the credentials"),
        "{}",
        r.stderr
    );
}

#[test]
fn serve_from_a_bucket_and_sync_through_nginx_in_front_of_it() {
    let Some(m) = moto() else { return };
    let Some(nginx) = common::tools::require_tool("nginx", "-v") else {
        return;
    };
    let kb = Kb::new();
    let tmp = tempfile::tempdir().unwrap();
    publish(&kb, m.port, &tmp.path().join("m0"), "1.0.0").success();
    kb.apply_release_2_changes();
    publish(&kb, m.port, &tmp.path().join("m0"), "1.1.0").success();

    // kbrel serve --registry s3://…
    let mut cmd = common::kbrel();
    cmd.args(["serve", URL, "--addr", "127.0.0.1:0"]);
    s3_env(&mut cmd, m.port, &tmp.path().join("ms"));
    let Serve { proc: _serve, addr } = Serve::spawn(&mut cmd, Duration::from_secs(30));
    let mut r = ureq::get(&format!("http://{addr}/index.json"))
        .call()
        .unwrap();
    assert_eq!(
        r.body_mut().read_to_vec().unwrap(),
        m.get("team/kb/index.json").unwrap()
    );

    // nginx proxying the bucket (a CDN stand-in), and `kbrel sync` through it.
    let (_ng, port) = nginx_front(
        &nginx,
        &tmp.path().join("nginx"),
        m.port,
        &format!("    location / {{ proxy_pass http://127.0.0.1:{{moto}}/{BUCKET}/team/kb/; }}"),
    );
    let front = format!("http://127.0.0.1:{port}");
    let r = ureq::head(&format!("{front}/acme-kb-1.1.0.tgz"))
        .call()
        .unwrap();
    assert_eq!(
        r.headers().get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    let cache = tmp.path().join("cache");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from", &format!("{front}/"), "--into"])
        .arg(&cache);
    run(&mut cmd).success();
    let tree = fs::canonicalize(cache.join(".kbrel/current")).unwrap();
    let files = common::list_files(&tree);
    assert!(
        files.iter().any(|f| f.starts_with("en/")) && files.iter().any(|f| f.starts_with("zh/")),
        "{files:?}"
    );
    // And `sync --from s3://…` directly.
    let cache2 = tmp.path().join("cache2");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from", URL, "--into"]).arg(&cache2);
    s3_env(&mut cmd, m.port, &tmp.path().join("m5"));
    run(&mut cmd).success();
    // The same tree, byte for byte.
    assert_eq!(
        common::snapshot(&tree),
        common::snapshot(&fs::canonicalize(cache2.join(".kbrel/current")).unwrap())
    );
}

/// A TCP proxy to `port` that holds every upload (a request starting `PUT `) until released.
struct PauseProxy {
    port: u16,
    paused: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl PauseProxy {
    fn start(target: u16) -> PauseProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let paused = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        let (p, r) = (paused.clone(), released.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (p, r) = (p.clone(), r.clone());
                std::thread::spawn(move || {
                    let (mut c, mut srv) = (client, server);
                    let mut buf = [0u8; 8192];
                    let deadline = std::time::Instant::now() + Duration::from_secs(120);
                    while let Ok(n @ 1..) = c.read(&mut buf) {
                        if buf[..n].starts_with(b"PUT ") {
                            p.store(true, Ordering::SeqCst);
                            while !r.load(Ordering::SeqCst) && std::time::Instant::now() < deadline
                            {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                        if srv.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = srv.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let (mut srv, mut c) = (s2, c2);
                    let _ = std::io::copy(&mut srv, &mut c);
                    let _ = c.shutdown(Shutdown::Both);
                });
            }
        });
        PauseProxy {
            port,
            paused,
            released,
        }
    }
}

#[test]
fn a_publish_whose_index_changed_meanwhile_fails_its_conditional_write_and_lists_nothing() {
    let Some(m) = moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = Kb::new();
    publish(&a, m.port, &tmp.path().join("m0"), "1.0.0").success();
    // Publisher A reads the index (ETag E0), then its uploads are held…
    a.apply_release_2_changes();
    let proxy = PauseProxy::start(m.port);
    let mut cmd = s3(&a, proxy.port, &tmp.path().join("ma"));
    cmd.args([
        "publish",
        "1.1.0",
        "--date",
        "2024-05-01T00:00:00Z",
        "--changelog",
    ])
    .arg(a.changelog());
    let mut pa = Proc::spawn("kbrel publish (A)", &mut cmd);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !proxy.paused.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "A never uploaded:\n{}",
            pa.output.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // …while publisher B lists 1.2.0 (the index is now E1).
    let b = Kb::new();
    b.write(
        "en/guide/b.md",
        common::doc("B", "From B", "https://example.com/en/b", "B", "b\n"),
    );
    b.write(
        "zh/guide/b.md",
        common::doc("B", "来自 B", "https://example.com/zh/b", "B", "b\n"),
    );
    publish(&b, m.port, &tmp.path().join("mb"), "1.2.0").success();
    proxy.released.store(true, Ordering::SeqCst);
    let status = pa.wait_timeout(Duration::from_secs(90)).expect("A exits");
    let err = pa.output.text();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("`s3://kbrel-test/team/kb/index.json` was changed by another publish")
            && err.contains("nothing this publish wrote is listed"),
        "{err}"
    );
    // B's release is listed; A's files are leftovers, which repair removes.
    assert_eq!(versions(&m), ["1.0.0", "1.2.0"]);
    assert!(m.list("team/kb").contains("v/1.1.0/manifest.json"));
    let v = run(s3(&a, m.port, &tmp.path().join("mv")).arg("verify")).code(1);
    assert!(v.stderr.contains("leftover"), "{}", v.stderr);
    run(s3(&a, m.port, &tmp.path().join("mv")).args(["verify", "--repair"])).success();
    assert!(!m.list("team/kb").iter().any(|k| k.starts_with("v/1.1.0/")));
    run(s3(&a, m.port, &tmp.path().join("mv")).arg("verify"))
        .success()
        .stderr_has(&["no leftovers"]);
}

/// `kbrel push <version> --to s3://…` in a process with the moto credentials.
fn push_one(kb: &Kb, port: u16, mirror: &Path, version: &str) -> Run {
    let mut cmd = kb.cmd();
    s3_env(&mut cmd, port, mirror);
    run(cmd.args(["push", version, "--to", URL]))
}

/// One release at a time: each push merges its version into the bucket's index (conditional
/// write), so pushing 1.0.0 then 1.1.0 gives the bucket exactly the registry that published
/// them, byte for byte; a version diffed against one the bucket lacks waits for it; a version
/// the bucket has is a no-op when identical and refused when not.
#[test]
fn push_one_version_at_a_time_merges_into_the_bucket_index() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    kb.apply_release_2_changes();
    kb.publish(&["1.1.0"]).success();
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m");

    // 1.1.0 was diffed against 1.0.0, which the bucket does not have yet.
    push_one(&kb, m.port, &mirror, "1.1.0")
        .code(2)
        .stderr_has(&["1.1.0 was diffed against 1.0.0", "push 1.0.0 first"]);
    assert!(m.list("team/kb").is_empty(), "{:?}", m.list("team/kb"));

    let r = push_one(&kb, m.port, &mirror, "1.0.0").success();
    assert!(r.stdout.contains("acme-kb@1.0.0 pushed"), "{}", r.stdout);
    assert_eq!(versions(&m), ["1.0.0"]);
    assert_eq!(index(&m).dist_tags["latest"].to_string(), "1.0.0");
    // blobs + 3 version files + tarball + index + packument
    assert_eq!(
        uploaded_count(&r),
        blobs_of(&m, "1.0.0").len() + 6,
        "{}",
        r.stderr
    );

    let r = push_one(&kb, m.port, &mirror, "latest").success();
    assert!(r.stdout.contains("acme-kb@1.1.0 pushed"), "{}", r.stdout);
    let new_blobs = blobs_of(&m, "1.1.0")
        .difference(&blobs_of(&m, "1.0.0"))
        .count();
    assert_eq!(uploaded_count(&r), new_blobs + 6, "{}", r.stderr);
    // The bucket now holds what the local registry holds: the same index (sequence and
    // dist-tags included) and the same packument, byte for byte.
    for rel in [
        "index.json",
        "acme-kb",
        "v/1.1.0/diff.json",
        "acme-kb-1.1.0.tgz",
    ] {
        assert_eq!(
            m.get(&format!("team/kb/{rel}")).unwrap(),
            fs::read(kb.reg(rel)).unwrap(),
            "{rel}"
        );
    }
    let v = run(s3(&kb, m.port, &tmp.path().join("fresh")).arg("verify")).success();
    assert!(v.stderr.contains("no leftovers"), "{}", v.stderr);

    // Identical again: nothing uploaded.
    push_one(&kb, m.port, &mirror, "1.0.0")
        .success()
        .stdout_has(&["already present (identical)"])
        .stderr_has(&["nothing uploaded"]);

    // Other bytes under a version the bucket has: refused, nothing changes.
    let other = Kb::new();
    other.edit(
        "en/intro.md",
        "one task per page",
        "one task per page (other)",
    );
    other.publish(&["1.0.0"]).success();
    let before = m.list("team/kb");
    let index_before = m.get("team/kb/index.json").unwrap();
    push_one(&other, m.port, &tmp.path().join("o"), "1.0.0")
        .code(2)
        .stderr_has(&["1.0.0", "a published version never changes"]);
    assert_eq!(m.list("team/kb"), before);
    assert_eq!(m.get("team/kb/index.json").unwrap(), index_before);
    // A new version diffed against another release of 1.0.0 than the bucket's: refused too.
    for lang in ["en", "zh"] {
        other.write(
            &format!("{lang}/guide/other.md"),
            common::doc(
                "Other",
                "Other",
                &format!("https://example.com/{lang}/other"),
                "Other",
                "o\n",
            ),
        );
    }
    other.publish(&["1.2.0"]).success();
    push_one(&other, m.port, &tmp.path().join("o"), "1.2.0")
        .code(2)
        .stderr_has(&["diffed against 1.0.0", "lists another release as 1.0.0"]);
    assert_eq!(m.list("team/kb"), before);

    // Consumers sync through the bucket: the tree the local registry gives.
    let cache = tmp.path().join("cache");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from", URL, "--into"]).arg(&cache);
    s3_env(&mut cmd, m.port, &tmp.path().join("ms"));
    run(&mut cmd).success();
    let local = tmp.path().join("local-cache");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from"])
        .arg(kb.registry())
        .arg("--into")
        .arg(&local);
    run(&mut cmd).success();
    assert_eq!(
        common::snapshot(&fs::canonicalize(cache.join(".kbrel/current")).unwrap()),
        common::snapshot(&fs::canonicalize(local.join(".kbrel/current")).unwrap())
    );
}

/// A signed bucket: `push <version>` re-signs the merged index with `--sign-key` (the signing
/// code publish uses, so the bucket gets the signature the local registry has, byte for byte),
/// and is refused without a key or with one the bucket's consumers do not trust, nothing
/// changed. A consumer pinning the key syncs through the bucket.
#[test]
fn push_one_version_into_a_signed_bucket_with_its_key() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let trusted = kb.key("k1");
    kb.key("k2");
    let k1 = kb.root().join("k1").display().to_string();
    let k2 = kb.root().join("k2").display().to_string();
    kb.publish(&["1.0.0", "--sign-key", &k1]).success();
    kb.apply_release_2_changes();
    kb.publish(&["1.1.0", "--sign-key", &k1]).success();
    let tmp = tempfile::tempdir().unwrap();
    let push = |args: &[&str]| {
        let mut cmd = kb.cmd();
        s3_env(&mut cmd, m.port, &tmp.path().join("m"));
        run(cmd.args(["push"]).args(args).args(["--to", URL]))
    };
    // An unsigned bucket: signing starts with the first push that has a key.
    push(&["1.0.0", "--sign-key", &k1]).success();
    let sig = m
        .get("team/kb/index.json.sig")
        .expect("index.json.sig uploaded");
    kbrel::sign::verify_index(
        &m.get("team/kb/index.json").unwrap(),
        &sig,
        std::slice::from_ref(&trusted),
    )
    .unwrap();

    let before = m.list("team/kb");
    let index_before = m.get("team/kb/index.json").unwrap();
    push(&["1.1.0"]).code(2).stderr_has(&[
        "index.json.sig",
        "the index there is signed",
        "pass --sign-key",
    ]);
    push(&["1.1.0", "--sign-key", &k2]).code(2).stderr_has(&[
        "the index there is signed by",
        &trusted,
        "would refuse",
    ]);
    assert_eq!(m.list("team/kb"), before, "nothing uploaded");
    assert_eq!(m.get("team/kb/index.json").unwrap(), index_before);
    push(&["all", "--sign-key", &k1])
        .code(2)
        .stderr_has(&["--sign-key signs the merged index of one version"]);

    push(&["1.1.0", "--sign-key", &k1]).success();
    for rel in ["index.json", "index.json.sig"] {
        assert_eq!(
            m.get(&format!("team/kb/{rel}")).unwrap(),
            fs::read(kb.reg(rel)).unwrap(),
            "{rel}: what publish wrote locally"
        );
    }
    let cache = tmp.path().join("cache");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from", URL, "--trust-key", &trusted, "--into"])
        .arg(&cache);
    s3_env(&mut cmd, m.port, &tmp.path().join("ms"));
    run(&mut cmd).success();
    assert!(cache.join(".kbrel/current").exists());
}

/// `git` in `dir` with a fixed identity and date.
fn git(dir: &Path, epoch: i64, args: &[&str]) {
    let date = format!("@{epoch} +0000");
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// `import --from-git` into a bucket writes the registry a folder import writes, in order.
#[test]
fn import_from_git_into_a_bucket() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let root = kb.root();
    git(root, 1_700_000_000, &["init", "-q", "-b", "main"]);
    git(root, 1_700_000_000, &["add", "-A"]);
    git(root, 1_700_000_000, &["commit", "-q", "-m", "first"]);
    git(root, 1_700_000_000, &["tag", "-a", "v1.0.0", "-m", "1.0.0"]);
    kb.apply_release_2_changes();
    git(root, 1_700_086_400, &["add", "-A"]);
    git(root, 1_700_086_400, &["commit", "-q", "-m", "second"]);
    git(root, 1_700_086_400, &["tag", "-a", "v1.1.0", "-m", "1.1.0"]);
    let tmp = tempfile::tempdir().unwrap();
    let r = run(s3(&kb, m.port, &tmp.path().join("m")).args(["import", "--from-git"])).success();
    assert!(r.stderr.contains("(lists 1.0.0, 1.1.0)"), "{}", r.stderr);
    assert_eq!(versions(&m), ["1.0.0", "1.1.0"]);
    let local = tmp.path().join("local");
    run(kb.cmd_with(&local).args(["import", "--from-git"])).success();
    for rel in [
        "index.json",
        "acme-kb",
        "acme-kb-1.0.0.tgz",
        "v/1.1.0/diff.json",
    ] {
        assert_eq!(
            m.get(&format!("team/kb/{rel}")).unwrap(),
            fs::read(local.join(rel)).unwrap(),
            "{rel}"
        );
    }
    run(s3(&kb, m.port, &tmp.path().join("v")).arg("verify"))
        .success()
        .stderr_has(&["no leftovers"]);
    // Again: every tag is there, nothing uploaded.
    run(s3(&kb, m.port, &tmp.path().join("m")).args(["import", "--from-git"]))
        .success()
        .stderr_has(&["nothing uploaded"]);
}

/// A temporary home with `~/.aws/credentials` and `~/.aws/config` for moto on `port`.
fn aws_home(port: u16) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    fs::create_dir_all(home.path().join(".aws")).unwrap();
    fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[ci]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .unwrap();
    fs::write(
        home.path().join(".aws/config"),
        format!(
            "[default]\nregion = eu-west-1\n\n[profile ci]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:{port}\ns3 =\n  addressing_style = path\n"
        ),
    )
    .unwrap();
    home
}

/// A command with no AWS variable but `AWS_ALLOW_HTTP`, and `home` as its home folder.
fn without_aws_env(cmd: &mut Command, home: &Path, mirror: &Path) {
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("HOME", home)
        .env("AWS_ALLOW_HTTP", "true")
        .env("KBREL_MIRROR_DIR", mirror);
}

/// Credentials, region and endpoint come from the profile named by `AWS_PROFILE` in
/// `~/.aws/credentials` and `~/.aws/config` (the endpoint too: without the profile, nothing
/// would reach moto); a profile that is not there is named.
#[test]
fn credentials_come_from_the_aws_profile_files() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let home = aws_home(m.port);
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = kb.cmd_with(Path::new(URL));
    without_aws_env(&mut cmd, home.path(), &tmp.path().join("m"));
    cmd.env("AWS_PROFILE", "ci");
    run(cmd
        .args(["publish", "1.0.0", "--changelog"])
        .arg(kb.changelog()))
    .success();
    assert_eq!(versions(&m), ["1.0.0"]);

    // The files named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE instead.
    let elsewhere = tmp.path().join("aws");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::rename(home.path().join(".aws/credentials"), elsewhere.join("c")).unwrap();
    fs::rename(home.path().join(".aws/config"), elsewhere.join("f")).unwrap();
    let mut cmd = kb.cmd_with(Path::new(URL));
    without_aws_env(&mut cmd, home.path(), &tmp.path().join("m2"));
    cmd.env("AWS_PROFILE", "ci")
        .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("c"))
        .env("AWS_CONFIG_FILE", elsewhere.join("f"));
    run(cmd.arg("verify")).success();

    // A profile that is in neither file.
    let mut cmd = kb.cmd_with(Path::new(URL));
    without_aws_env(&mut cmd, home.path(), &tmp.path().join("m3"));
    cmd.env("AWS_PROFILE", "prod")
        .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("c"))
        .env("AWS_CONFIG_FILE", elsewhere.join("f"));
    run(cmd.arg("verify"))
        .code(2)
        .stderr_has(&["AWS profile `prod`", "profiles there: ci, default"]);
}

/// `serve --registry s3://…` follows the bucket: a release published there after it started
/// is served within the poll interval, mirrored off the request path.
#[test]
fn serve_from_a_bucket_sees_later_publishes() {
    let Some(m) = moto() else { return };
    let kb = Kb::new();
    let tmp = tempfile::tempdir().unwrap();
    publish(&kb, m.port, &tmp.path().join("m0"), "1.0.0").success();
    let mut cmd = common::kbrel();
    cmd.args(["serve", URL, "--addr", "127.0.0.1:0", "--poll", "1"]);
    s3_env(&mut cmd, m.port, &tmp.path().join("ms"));
    let Serve { proc, addr } = Serve::spawn(&mut cmd, Duration::from_secs(30));
    let served = || -> Vec<u8> {
        ureq::get(&format!("http://{addr}/index.json"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap()
    };
    assert_eq!(served(), m.get("team/kb/index.json").unwrap());

    kb.apply_release_2_changes();
    publish(&kb, m.port, &tmp.path().join("m1"), "1.1.0").success();
    let published = m.get("team/kb/index.json").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while served() != published {
        assert!(
            std::time::Instant::now() < deadline,
            "serve still shows the old index:\n{}",
            proc.output.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The new release's files are served too, and the log says what was mirrored.
    let mut r = ureq::get(&format!("http://{addr}/acme-kb-1.1.0.tgz"))
        .call()
        .unwrap();
    assert_eq!(
        r.body_mut().read_to_vec().unwrap(),
        m.get("team/kb/acme-kb-1.1.0.tgz").unwrap()
    );
    assert!(
        proc.output
            .wait_for(Duration::from_secs(5), |l| l
                .starts_with("mirrored s3://kbrel-test/team/kb")
                && l.contains("lists 1.0.0, 1.1.0"))
            .is_some(),
        "{}",
        proc.output.text()
    );
}

/// nginx on a free port proxying to moto with `locations` (a `server` block's body, `{moto}`
/// standing for moto's port); returns it and its port.
fn nginx_front(nginx: &Path, dir: &Path, moto: u16, locations: &str) -> (Proc, u16) {
    let port = free_port();
    let locations = locations.replace("{moto}", &moto.to_string());
    let http = format!(
        "map $http_accept_encoding $gz {{ \"~*gzip\" \".gz\"; default \"\"; }}\n\
         server {{\n    listen 127.0.0.1:{port};\n{locations}\n  }}\n"
    );
    (
        crate::common::serve::nginx(nginx, dir, &http, &[port]),
        port,
    )
}

/// `GET url` with or without `Accept-Encoding: gzip`: status, `Content-Encoding`,
/// `Content-Type`, `Cache-Control` and the body as sent.
fn fetch(url: &str, gzip: bool) -> (u16, String, String, String, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let mut r = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let head = (
        r.status().as_u16(),
        h("content-encoding"),
        h("content-type"),
        h("cache-control"),
    );
    (
        head.0,
        head.1,
        head.2,
        head.3,
        r.body_mut().read_to_vec().unwrap(),
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

/// Precompressed variants (`X.gz` beside `X` in a registry folder) reach the bucket as `X.gz`
/// with `Content-Encoding: gzip` and `X`'s type and lifetime, each checked to decode to `X`
/// first (a document blob's too, with the markdown type); through nginx in front of the
/// bucket, a client that accepts gzip gets them and one that does not gets `X` (a blob
/// without a variant falls back to `X`), and `kbrel sync` through it builds the same tree
/// with fewer bytes on the wire than it decodes by at least what the variants save.
#[test]
fn precompressed_variants_reach_the_bucket_and_clients_through_nginx() {
    let Some(m) = moto() else { return };
    let Some(nginx) = common::tools::require_tool("nginx", "-v") else {
        return;
    };
    let kb = Kb::new();
    let cfg = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        cfg.replace("[registry]\n", "[registry]\nprecompress = true\n"),
    )
    .unwrap();
    kb.publish(&["1.0.0"]).success();
    let reg = kb.registry();
    let manifest: kbrel::manifest::Manifest = common::read_as(&kb.reg("v/1.0.0/manifest.json"));
    // A document blob with its precompressed variant (gzip makes it smaller).
    let blob_rel = manifest
        .documents
        .iter()
        .map(|d| kbrel::registry::blob_path(&d.sha256))
        .find(|rel| kb.reg(&format!("{rel}.gz")).is_file())
        .expect("a document blob with a .gz sibling");
    assert!(kb.reg("v/1.0.0/manifest.json.gz").is_file());

    // A variant that does not decode to its file is refused, and the index that would list
    // it is not written (what was uploaded before is a leftover, as after any failed upload).
    let good = fs::read(kb.reg("v/1.0.0/diff.json.gz")).unwrap();
    fs::write(
        kb.reg("v/1.0.0/diff.json.gz"),
        gunzip(&fs::read(kb.reg("index.json.gz")).unwrap()),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = kb.cmd();
    s3_env(&mut cmd, m.port, &tmp.path().join("m"));
    run(cmd.args(["push", "all", "--to", "s3://kbrel-test/bad"]))
        .code(2)
        .stderr_has(&[
            "v/1.0.0/diff.json.gz",
            "does not decode to `v/1.0.0/diff.json`",
        ]);
    assert_eq!(m.get("bad/index.json"), None);
    fs::write(kb.reg("v/1.0.0/diff.json.gz"), good).unwrap();

    let mut cmd = kb.cmd();
    s3_env(&mut cmd, m.port, &tmp.path().join("m"));
    run(cmd.args(["push", "all", "--to", URL])).success();
    let immutable = "public, max-age=31536000, immutable";
    let revalidate = "public, max-age=60, must-revalidate";
    for (rel, ct, cc) in [
        ("index.json", "application/json", revalidate),
        ("v/1.0.0/manifest.json", "application/json", immutable),
        ("v/1.0.0/package.json", "application/json", immutable),
        (blob_rel.as_str(), "text/markdown; charset=utf-8", immutable),
    ] {
        let (status, enc, ctype, cache, body) =
            fetch(&format!("{}/{BUCKET}/team/kb/{rel}.gz", m.base()), false);
        assert_eq!(
            (status, enc.as_str(), ctype.as_str(), cache.as_str()),
            (200, "gzip", ct, cc),
            "{rel}.gz"
        );
        assert_eq!(gunzip(&body), fs::read(reg.join(rel)).unwrap(), "{rel}.gz");
    }
    // Accounted for: no leftovers.
    run(s3(&kb, m.port, &tmp.path().join("v")).arg("verify"))
        .success()
        .stderr_has(&["no leftovers"]);

    // `kbrel serve` of the bucket mirrors the variants and sends them as they are.
    let mut cmd = common::kbrel();
    cmd.args(["serve", URL, "--addr", "127.0.0.1:0", "--poll", "1"]);
    s3_env(&mut cmd, m.port, &tmp.path().join("ms"));
    let bucket_serve = Serve::spawn(&mut cmd, Duration::from_secs(30));
    let served_gz = |rel: &str| {
        let r = bucket_serve.get_with(&format!("/{rel}"), &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{rel}");
        r.body
    };
    for rel in ["index.json", "v/1.0.0/manifest.json", blob_rel.as_str()] {
        assert_eq!(
            served_gz(rel),
            m.get(&format!("team/kb/{rel}.gz")).unwrap(),
            "{rel}: the bucket's variant, as it is"
        );
    }

    // nginx in front: the variant for clients that accept gzip, the file for the others.
    let (_ng, port) = nginx_front(
        &nginx,
        &tmp.path().join("nginx"),
        m.port,
        &format!(
            "    location ~ ^/(index\\.json|v/[^/]+/(manifest|diff|package)\\.json)$ {{\n      \
             proxy_pass http://127.0.0.1:{{moto}}/{BUCKET}/team/kb$uri$gz;\n      add_header Vary Accept-Encoding;\n    }}\n    \
             location /blobs/ {{
                   proxy_pass http://127.0.0.1:{{moto}}/{BUCKET}/team/kb$uri$gz;
      add_header Vary Accept-Encoding;
                   proxy_intercept_errors on;
      error_page 403 404 = @plain;
    }}
                 location @plain {{ proxy_pass http://127.0.0.1:{{moto}}/{BUCKET}/team/kb$uri; }}
                 location / {{ proxy_pass http://127.0.0.1:{{moto}}/{BUCKET}/team/kb/; }}"
        ),
    );
    let front = format!("http://127.0.0.1:{port}");
    // A blob without a variant (an asset, a tiny document) falls back to the plain object.
    let plain_blob = (manifest.assets.iter().map(|a| &a.sha256))
        .chain(manifest.documents.iter().map(|d| &d.sha256))
        .map(|sha| kbrel::registry::blob_path(sha))
        .find(|rel| !kb.reg(&format!("{rel}.gz")).exists());
    let mut blob_cases = vec![(blob_rel.as_str(), true)];
    blob_cases.extend(plain_blob.as_deref().map(|rel| (rel, false)));
    for (rel, variant) in [("index.json", true), ("v/1.0.0/manifest.json", true)]
        .into_iter()
        .chain(blob_cases)
    {
        let plain = fs::read(reg.join(rel)).unwrap();
        let (status, enc, _, _, body) = fetch(&format!("{front}/{rel}"), true);
        let enc_want = if variant { "gzip" } else { "" };
        assert_eq!((status, enc.as_str()), (200, enc_want), "{rel}");
        let body = if variant { gunzip(&body) } else { body };
        assert_eq!(body, plain, "{rel}");
        let (status, enc, _, _, body) = fetch(&format!("{front}/{rel}"), false);
        assert_eq!((status, enc.as_str()), (200, ""), "{rel}");
        assert_eq!(body, plain, "{rel}");
    }
    let cache = tmp.path().join("cache");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from", &format!("{front}/"), "--into"])
        .arg(&cache);
    let r = run(cmd.arg("--json")).success();
    // What gzip saved on the wire is at least what the variants of the files sync fetched
    // save (index, manifest, each document blob): the markdown travels compressed too.
    let saved_by_variants: u64 = ["index.json".to_string(), "v/1.0.0/manifest.json".into()]
        .into_iter()
        .chain(
            manifest
                .documents
                .iter()
                .map(|d| kbrel::registry::blob_path(&d.sha256))
                .collect::<std::collections::BTreeSet<_>>(),
        )
        .filter_map(|rel| {
            let gz = fs::metadata(reg.join(format!("{rel}.gz"))).ok()?.len();
            Some(fs::metadata(reg.join(&rel)).unwrap().len() - gz)
        })
        .sum();
    let report: kbrel::sync::SyncReport = r.parse();
    let (wire, decoded) = (report.bytes_on_wire, report.bytes_decoded);
    assert!(
        decoded - wire >= saved_by_variants,
        "{wire} on the wire, {decoded} decoded: the variants save {saved_by_variants}\n{}",
        r.stdout
    );
    let local = tmp.path().join("local");
    let mut cmd = common::kbrel();
    cmd.args(["sync", "--from"])
        .arg(&reg)
        .arg("--into")
        .arg(&local);
    run(&mut cmd).success();
    assert_eq!(
        common::snapshot(&fs::canonicalize(cache.join(".kbrel/current")).unwrap()),
        common::snapshot(&fs::canonicalize(local.join(".kbrel/current")).unwrap())
    );

    // One release pushed into another bucket prefix: the merged index gets its variant too,
    // and the version's files theirs.
    let mut cmd = kb.cmd();
    s3_env(&mut cmd, m.port, &tmp.path().join("one"));
    run(cmd.args(["push", "1.0.0", "--to", "s3://kbrel-test/one"])).success();
    assert_eq!(
        gunzip(&m.get("one/index.json.gz").unwrap()),
        m.get("one/index.json").unwrap()
    );
    assert_eq!(
        gunzip(&m.get("one/v/1.0.0/diff.json.gz").unwrap()),
        fs::read(kb.reg("v/1.0.0/diff.json")).unwrap()
    );
    assert_eq!(
        gunzip(&m.get(&format!("one/{blob_rel}.gz")).unwrap()),
        fs::read(kb.reg(&blob_rel)).unwrap()
    );

    // A publish to the bucket writes the new index's variant after it…
    kb.apply_release_2_changes();
    publish(&kb, m.port, &tmp.path().join("m2"), "1.1.0").success();
    assert_eq!(
        gunzip(&m.get("team/kb/index.json.gz").unwrap()),
        m.get("team/kb/index.json").unwrap()
    );
    // …which the serve of the bucket mirrors with the new version's variants.
    let new_gz = m.get("team/kb/index.json.gz").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while served_gz("index.json") != new_gz {
        assert!(
            std::time::Instant::now() < deadline,
            "serve still sends the old index:\n{}",
            bucket_serve.proc.output.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        served_gz("v/1.1.0/diff.json"),
        m.get("team/kb/v/1.1.0/diff.json.gz").unwrap()
    );
    drop(bucket_serve);
    // …and one without `precompress` removes the stale variant: gzip clients never get an
    // older index than the others.
    fs::write(kb.config(), cfg).unwrap();
    kb.write(
        "en/guide/more.md",
        common::doc(
            "More",
            "More",
            "https://kb.acme.example/en/guide/more",
            "More",
            "m\n",
        ),
    );
    kb.write(
        "zh/guide/more.md",
        common::doc(
            "More",
            "更多",
            "https://kb.acme.example/zh/guide/more",
            "More",
            "m\n",
        ),
    );
    publish(&kb, m.port, &tmp.path().join("m3"), "1.2.0").success();
    assert_eq!(m.get("team/kb/index.json.gz"), None);
    run(s3(&kb, m.port, &tmp.path().join("v2")).arg("verify"))
        .success()
        .stderr_has(&["no leftovers"]);
}

//! The JavaScript client (`clients/js`) and the consumer protocol (docs/protocol.md):
//!
//! - the hostile-server conformance table (`docs/conformance.json`) run against `kbrel sync` AND
//!   the JavaScript client, on the same misbehaving HTTP server, each from a cache the scenario
//!   starts from; after every refusal the cache shows exactly what it showed before;
//! - the client's own `node --test` suite (clients/js/test), against `kbrel serve` and nginx
//!   (which it starts itself with the configuration of the static-hosting guide page);
//! - `docs/protocol.md` is the guide page `content/en/protocol.md` without its front matter.
//!
//! node and nginx are external tools: when missing the tests print a note and pass, except with
//! `CI=true`, where they fail (`common::tools`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common;
use crate::common::sync::*;

type Docs = BTreeMap<String, Vec<u8>>;

fn js_sync_script() -> PathBuf {
    manifest_dir().join("clients/js/bin/kbrel-js-sync.mjs")
}

/// The two consumers under test, with the same command-line shape.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    Kbrel,
    Js,
}

fn consume(client: Client, node: &Path, url: &str, cache: &Path, args: &[&str]) -> Run {
    match client {
        Client::Kbrel => sync(url, cache, args),
        Client::Js => run(Command::new(node)
            .arg(js_sync_script())
            .args(["--from", url, "--into"])
            .arg(cache)
            .args(args)),
    }
}

/// A fixture of the table: a registry (and for `expired`, the stale one), the pinned key, what
/// each version shows, and the index as it was after 1.0.0.
struct Fixture {
    kb: Kb,
    trust: Vec<String>,
    shows: BTreeMap<String, Docs>,
    index_v1: Vec<u8>,
    stale: Option<PathBuf>,
    other_key: Option<String>,
    foreign_sig: Option<Vec<u8>>,
}

fn build(kind: &str) -> Fixture {
    let kb = Kb::generated(&format!("acme-{kind}"), 12);
    let (sign, trust) = if kind == "plain" {
        (vec![], vec![])
    } else {
        let pk = kb.key("k1");
        kb.key("k2");
        let k1 = kb.root().join("k1").display().to_string();
        (
            vec!["--sign-key".to_string(), k1],
            vec!["--trust-key".into(), pk],
        )
    };
    let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
    kb.release_at("kbrel.toml", &kb.registry(), "1.0.0", DATE, &sign);
    let index_v1 = fs::read(kb.registry().join("index.json")).unwrap();
    kb.apply_generated_changes();
    kb.release_at("kbrel.toml", &kb.registry(), "1.1.0", DATE, &sign);
    let mut shows = BTreeMap::new();
    shows.insert("none".to_string(), Docs::new());
    for v in ["1.0.0", "1.1.0"] {
        shows.insert(v.to_string(), expected(&kb.registry(), v));
    }
    let (mut stale, mut other_key, mut foreign_sig) = (None, None, None);
    if kind != "plain" {
        let other = kbrel::sign::read_private_key(&kb.root().join("k2")).unwrap();
        other_key = Some(kbrel::sign::public_key_string(&other.verifying_key()));
        let index = fs::read(kb.registry().join("index.json")).unwrap();
        foreign_sig = Some(kbrel::sign::sign_index(&index, &other, None));
    }
    if kind == "expired" {
        // The same package published long ago with `expires_days = 1`: a frozen mirror.
        kb.write_config("expiring.toml", "expires_days = 1");
        let dir = kb.root().join("stale");
        kb.release_at("expiring.toml", &dir, "1.0.0", "2020-01-01", &sign);
        kb.append("zh/d003.md", "\n更新。\n");
        kb.release_at("expiring.toml", &dir, "1.1.0", "2020-01-02", &sign);
        stale = Some(dir);
    }
    Fixture {
        kb,
        trust,
        shows,
        index_v1,
        stale,
        other_key,
        foreign_sig,
    }
}

/// The target's path in the registry and its expected sha256.
fn target_of(fx: &Fixture, target: &str) -> (String, String) {
    let reg = fx.kb.registry();
    let index: kbrel::manifest::Index =
        serde_json::from_slice(&fs::read(reg.join("index.json")).unwrap()).unwrap();
    let v11 = index
        .get_version(&semver::Version::new(1, 1, 0))
        .expect("1.1.0 in the index");
    let blob = |path: &str| {
        let sha = doc_sha(&reg, "1.1.0", "en", path);
        (blob_rel(&sha), sha)
    };
    match target {
        "index.json" | "index.json.sig" => {
            let bytes = fs::read(reg.join(target)).unwrap_or_default();
            (target.to_string(), sha256_hex(&bytes))
        }
        "manifest" | "delta" => {
            let file = if target == "manifest" {
                &v11.manifest
            } else {
                &v11.diff
            };
            (file.path.clone(), file.sha256.clone())
        }
        "changed-blob" => blob("d004.md"),
        "added-blob" => blob("d100.md"),
        other => panic!("unknown target {other:?} in docs/conformance.json"),
    }
}

/// Install the scenario's misbehaviour on the server.
fn misbehave(server: &TestServer, fx: &Fixture, s: &Value, path: &str) {
    let action = s["action"].as_str().unwrap().to_string();
    let times = match &s["times"] {
        Value::String(a) if a == "always" => usize::MAX,
        Value::Number(n) => n.as_u64().unwrap() as usize,
        other => panic!("times: {other}"),
    };
    if action == "expired-registry" {
        server.set_root(
            fx.stale
                .as_ref()
                .expect("the expired fixture has a stale registry"),
        );
        return;
    }
    if action == "doctored-delta" {
        // An unsigned registry lets a server change index.json and diff.json together: a delta
        // whose first change names a document the held 1.0.0 does not have, with its hash in the
        // index. Every hash checks out; applying it must not.
        let reg = fx.kb.registry();
        let mut diff = read_json(&reg.join(path));
        let change = diff["changes"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["status"] == "modified")
            .expect("a modified document");
        change["old_sha256"] = "0".repeat(64).into();
        let diff = kbrel::manifest::to_json_bytes(&diff);
        serve_doctored(server, &reg, path, diff, "diff");
        return;
    }
    if action == "doctored-manifest" {
        // An unsigned registry lets a server change index.json and the manifest together: the
        // scenario's `assets` appended to the manifest's, its hash in the index. Every hash
        // checks out; the assets must still be refused before anything is fetched.
        let reg = fx.kb.registry();
        let mut m = read_json(&reg.join(path));
        // `document_size`: the first document claims that many bytes.
        if let Some(n) = s.get("document_size") {
            m["documents"][0]["size"] = n.clone();
        }
        let extra = s["assets"].as_array().cloned().unwrap_or_default();
        let assets = m
            .as_object_mut()
            .unwrap()
            .entry("assets")
            .or_insert_with(|| Value::Array(vec![]));
        assets.as_array_mut().unwrap().extend(extra);
        let manifest = kbrel::manifest::to_json_bytes(&m);
        serve_doctored(server, &reg, path, manifest, "manifest");
        return;
    }
    let original = fs::read(fx.kb.registry().join(path)).unwrap_or_default();
    let older = fx.index_v1.clone();
    let foreign = fx.foreign_sig.clone().unwrap_or_default();
    let path = path.to_string();
    server.behave(move |r| {
        if r.path != path || r.nth > times {
            return Action::Serve;
        }
        match action.as_str() {
            "serve" => Action::Serve,
            "wrong-bytes" => Action::Body(b"# not the document\n".to_vec()),
            "truncate" => Action::Truncate,
            "drop" => Action::DropMidBody,
            "endless" => Action::Endless,
            "older-index" => Action::Body(older.clone()),
            "foreign-signature" => Action::Body(foreign.clone()),
            "tamper" => {
                let mut b = original.clone();
                b.push(b' ');
                Action::Body(b)
            }
            a if a.starts_with("status:") => Action::Status(a[7..].parse().unwrap()),
            a => panic!("unknown action {a:?} in docs/conformance.json"),
        }
    });
}

#[test]
fn the_conformance_table_holds_for_kbrel_sync_and_the_javascript_client() {
    let Some(node) = require_node() else { return };
    let table: Value =
        serde_json::from_slice(&fs::read(manifest_dir().join("docs/conformance.json")).unwrap())
            .unwrap();
    assert_eq!(table["format"], "kbrel-conformance/1");
    let scenarios = table["scenarios"].as_array().unwrap();
    // Every scenario the issue names is in the table.
    for id in [
        "wrong-bytes",
        "truncation",
        "index-500-then-200",
        "dropped-connection",
        "older-index",
        "tampered-manifest",
        "wrong-key",
        "expired-index",
        "endless-body",
    ] {
        assert!(
            scenarios.iter().any(|s| s["id"] == id),
            "docs/conformance.json lacks {id}"
        );
    }
    let mut fixtures: BTreeMap<String, Fixture> = BTreeMap::new();
    for s in scenarios {
        let kind = s["fixture"].as_str().unwrap();
        if !fixtures.contains_key(kind) {
            fixtures.insert(kind.to_string(), build(kind));
        }
    }
    // Every (scenario, client) pair on its own server and cache, a few at a time.
    let jobs: Vec<(&Value, Client)> = scenarios
        .iter()
        .flat_map(|s| [(s, Client::Kbrel), (s, Client::Js)])
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&(s, client)) = jobs.get(i) else {
                        return;
                    };
                    run_scenario(&node, &fixtures[s["fixture"].as_str().unwrap()], s, client);
                    ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(ran.into_inner(), scenarios.len() * 2);
}

/// One scenario of docs/conformance.json with one client: a cache at `start` from a
/// well-behaved server, then the update under the scenario's misbehaviour.
fn run_scenario(node: &Path, fx: &Fixture, s: &Value, client: Client) {
    let node = node.to_path_buf();
    let id = s["id"].as_str().unwrap();
    let (path, sha) = target_of(fx, s["target"].as_str().unwrap());
    let start = s["start"].as_str().unwrap();
    let e = &s["expect"];
    let what = format!("scenario {id} with {client:?}");
    let server = TestServer::start(&fx.kb.registry());
    let trust: Vec<&str> = fx.trust.iter().map(String::as_str).collect();
    let (_tmp, cache) = {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-conformance-")
            .tempdir()
            .unwrap();
        let cache = tmp.path().join("cache");
        if start != "none" {
            let mut args = vec!["--version", start];
            args.extend(&trust);
            consume(client, &node, &server.url, &cache, &args).success();
        }
        assert_shows(&cache, &fx.shows[start], &format!("{what}: start"));
        (tmp, cache)
    };
    server.take_log();
    misbehave(&server, fx, s, &path);
    let mut args = trust.clone();
    args.push("--json");
    let out = consume(client, &node, &server.url, &cache, &args);
    let log = server.take_log();
    let outcome = e["outcome"].as_str().unwrap();
    match outcome {
        "updated" => {
            assert_eq!(out.code, 0, "{what}: expected an update\n{out}");
            assert_shows(&cache, &fx.shows["1.1.0"], &what);
        }
        "not-modified" => {
            assert_eq!(out.code, 0, "{what}\n{out}");
            assert_eq!(log.len(), 1, "{what}: {log:?}");
            assert_eq!(log[0].status, 304, "{what}: {log:?}");
            assert_shows(&cache, &fx.shows[start], &what);
        }
        "refused" => {
            assert_eq!(out.code, 2, "{what}: expected a refusal\n{out}");
            let url = server.at(&path);
            let other = fx.other_key.clone().unwrap_or_default();
            for m in e["message"].as_array().unwrap() {
                let m = m
                    .as_str()
                    .unwrap()
                    .replace("{url}", &url)
                    .replace("{sha}", &sha)
                    .replace("{other_key}", &other);
                assert!(out.stderr.contains(&m), "{what}: stderr lacks {m:?}\n{out}");
            }
            if client == Client::Js {
                let check = format!("error[{}]", e["check"].as_str().unwrap());
                assert!(out.stderr.contains(&check), "{what}: lacks {check}\n{out}");
            }
            assert_refusal_data(&out, e, &url, &server.at("index.json"), &what);
            assert_shows(&cache, &fx.shows[start], &format!("{what}: after"));
            if start != "none" {
                offline(&cache).success();
            }
        }
        o => panic!("unknown outcome {o:?}"),
    }
    if let Some(n) = e["target_requests"].as_u64() {
        let got = log.iter().filter(|l| l.path == path).count() as u64;
        assert_eq!(got, n, "{what}: requests of {path}: {log:?}");
    }
    if let Some(n) = e["requests"].as_u64() {
        assert_eq!(log.len() as u64, n, "{what}: requests: {log:?}");
    }
}

/// The `--json` failure both consumers print (`kbrel::sync::FailureJson`): the scenario's check,
/// its refusal's `reason` (and `problem`), and the URL at fault, as data.
fn assert_refusal_data(out: &Run, e: &Value, url: &str, index_url: &str, what: &str) {
    let failure: kbrel::sync::FailureJson = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("{what}: stdout is not the --json failure: {err}\n{out}"));
    let error = failure.error;
    assert_eq!(
        error.check.as_str(),
        e["check"].as_str().unwrap(),
        "{what}\n{out}"
    );
    assert!(
        out.stderr.contains(&error.message),
        "{what}: the message is not stderr's\n{out}"
    );
    // `reason: null`: an error that is not one of the protocol's refusals (a manifest that
    // does not parse as the protocol allows), refused all the same.
    if e["reason"].is_null() {
        assert_eq!(error.refusal, None, "{what}\n{out}");
        return;
    }
    let refusal = error
        .refusal
        .unwrap_or_else(|| panic!("{what}: no refusal data\n{out}"));
    assert_eq!(refusal.check(), error.check, "{what}: {refusal:?}");
    let data = serde_json::to_value(&refusal).unwrap();
    assert_eq!(data["reason"], e["reason"], "{what}: {data:#}");
    if let Some(problem) = e.get("problem") {
        assert_eq!(&data["problem"], problem, "{what}: {data:#}");
    }
    if let Some(status) = e.get("status") {
        assert_eq!(&data["status"], status, "{what}: {data:#}");
    }
    match data["reason"].as_str().unwrap() {
        "signature" => assert_eq!(data["url"], index_url, "{what}: {data:#}"),
        "unsigned" => {
            assert_eq!(data["url"], index_url, "{what}: {data:#}");
            assert_eq!(data["signature_url"], url, "{what}: {data:#}");
        }
        _ => assert_eq!(data["url"], url, "{what}: {data:#}"),
    }
}

#[test]
fn the_javascript_client_passes_its_node_tests_against_kbrel_serve_and_nginx() {
    let Some(node) = require_node() else { return };
    let Some(nginx) = common::tools::require_tool("nginx", "-v") else {
        return;
    };
    let out = run(Command::new(&node)
        .args(["--test", "--test-reporter=spec"])
        .arg("test/")
        .current_dir(manifest_dir().join("clients/js"))
        .env("KBREL_BIN", env!("CARGO_BIN_EXE_kbrel"))
        .env("KBREL_NGINX", nginx)
        .env("CI", "true"));
    assert_eq!(out.code, 0, "node --test failed\n{out}");
    // Every test file ran and none was skipped.
    let count = |what: &str| -> u64 {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("ℹ {what} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{what}` count in the report\n{out}"))
    };
    for what in ["fail", "skipped", "cancelled"] {
        assert_eq!(count(what), 0, "{what}\n{out}");
    }
    let passed: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ℹ pass "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(passed >= 10, "only {passed} node tests passed\n{out}");
}

#[test]
fn docs_protocol_md_is_the_guide_page() {
    let page = fs::read_to_string(manifest_dir().join("content/en/protocol.md")).unwrap();
    let body = page
        .strip_prefix("---\n")
        .and_then(|r| r.split_once("\n---\n"))
        .map(|(_, b)| b.trim_start_matches('\n'))
        .expect("front matter");
    let doc = fs::read_to_string(manifest_dir().join("docs/protocol.md")).unwrap();
    let doc = doc.split_once("-->\n\n").map(|(_, b)| b).unwrap_or(&doc);
    assert_eq!(
        doc, body,
        "docs/protocol.md must be content/en/protocol.md without its front matter (after the generated-file comment); copy it over"
    );
    // Both languages have the page, with the same key.
    let zh = fs::read_to_string(manifest_dir().join("content/zh/protocol.md")).unwrap();
    assert!(zh.contains("key: Protocol") && page.contains("key: Protocol"));
}

#[test]
fn a_page_on_another_origin_keeps_indexeddb_up_to_date_in_chromium() {
    let Some(node) = require_node() else { return };
    let chromium = PathBuf::from("/usr/bin/chromium");
    if !chromium.exists()
        && !common::tools::missing("Debian chromium", "/usr/bin/chromium does not exist")
    {
        return;
    }
    let pw = manifest_dir().join("target/test-tools/playwright");
    if !pw
        .join("node_modules/playwright-core/package.json")
        .exists()
        && !common::tools::missing(
            "playwright-core",
            "target/test-tools/playwright/node_modules/playwright-core does not exist",
        )
    {
        return;
    }
    let fx = build("plain");
    let page_port = free_port();
    // Only the console's origin may read the registry.
    let server = Serve::start(
        &fx.kb.registry(),
        &["--cors", &format!("http://127.0.0.1:{page_port}")],
    );
    let artifacts = manifest_dir().join("target/test-artifacts/web");
    fs::create_dir_all(&artifacts).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = run(Command::new(&node)
        .arg(manifest_dir().join("clients/js/e2e/browser.mjs"))
        .env("REGISTRY", server.url())
        .env("PAGE_PORT", page_port.to_string())
        .env("CHROMIUM", &chromium)
        .env("PLAYWRIGHT_DIR", &pw)
        .env("ARTIFACTS", &artifacts)
        .env("USER_DATA_DIR", profile.path()));
    assert_eq!(out.code, 0, "clients/js/e2e/browser.mjs failed\n{out}");
    assert!(out.stdout.contains("checks passed"), "{out}");
    eprintln!("{}", out.stdout);
}

#[test]
fn the_typescript_declarations_type_check_the_readme_usage() {
    let Some(node) = require_node() else { return };
    let tsc = manifest_dir().join("target/test-tools/typescript/node_modules/typescript/bin/tsc");
    if !tsc.exists()
        && !common::tools::missing(
            "TypeScript",
            "target/test-tools/typescript/node_modules/typescript does not exist; install it with the TypeScript step of .ci/run",
        )
    {
        return;
    }
    // clients/js/e2e/types.ts imports "@kbrel/client" (the package referring to itself) and
    // holds @ts-expect-error lines that fail the build if the declarations accept misuse.
    let out = run(Command::new(&node)
        .arg(&tsc)
        .args(["-p", "tsconfig.json"])
        .current_dir(manifest_dir().join("clients/js/e2e")));
    assert_eq!(out.code, 0, "tsc found type errors\n{out}");
}

/// Serve `bytes` at `path` in place of the registry's file, and an index whose 1.1.0 entry's
/// `field` (`diff`, `manifest`) carries their sha256 and size: every hash checks out, as an
/// unsigned registry allows.
fn serve_doctored(server: &TestServer, reg: &Path, path: &str, bytes: Vec<u8>, field: &str) {
    let mut index = read_json(&reg.join("index.json"));
    let v = index["versions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["version"] == "1.1.0")
        .unwrap();
    v[field]["sha256"] = sha256_hex(&bytes).into();
    v[field]["size"] = bytes.len().into();
    let index = kbrel::manifest::to_json_bytes(&index);
    let path = path.to_string();
    server.behave(move |r| {
        if r.path == path {
            Action::Body(bytes.clone())
        } else if r.path == "index.json" {
            Action::Body(index.clone())
        } else {
            Action::Serve
        }
    });
}

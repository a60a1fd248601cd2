//! `kbrel sync` end to end: the real binary against a misbehaving HTTP server (wrong bytes,
//! truncation, errors, dropped connections, rollback, tampering, foreign and expired
//! signatures), request and byte counts, bad input, SIGKILL at random points, and the
//! JavaScript consumer of the README against `kbrel serve`.
//!
//! After every failure the cache must show exactly the version it showed before, and after
//! every success exactly the new version: `<cache>/en` and `<cache>/zh` are walked through
//! their symlinks and compared byte for byte with the registry's manifest and blobs.

use crate::common;
use crate::common::sync::*;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Rng, cp_a, env_seed, env_u64};
use kbrel::sync::SyncReport;
use tempfile::TempDir;

type Docs = BTreeMap<String, Vec<u8>>;

/// A registry with 1.0.0 and 1.1.0 (three documents per language modified, one added, one
/// removed), and the index as it was after 1.0.0.
struct Fixture {
    kb: Kb,
    v1: Docs,
    v2: Docs,
    index_v1: Vec<u8>,
}

fn fixture() -> Fixture {
    let kb = Kb::generated("acme-sync", 12);
    kb.release("1.0.0");
    let index_v1 = fs::read(kb.registry().join("index.json")).unwrap();
    kb.apply_generated_changes();
    kb.release("1.1.0");
    let v1 = expected(&kb.registry(), "1.0.0");
    let v2 = expected(&kb.registry(), "1.1.0");
    assert_ne!(v1, v2);
    Fixture {
        kb,
        v1,
        v2,
        index_v1,
    }
}

/// A fresh cache folder `<tmp>/cache` (the temp dir holds nothing else).
fn new_cache() -> (TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("kbrel-sync-cache-")
        .tempdir()
        .unwrap();
    let cache = tmp.path().join("cache");
    (tmp, cache)
}

/// A cache synced to `version` through `server`, checked.
fn cache_at(server: &TestServer, version: &str, want: &Docs, extra: &[&str]) -> (TempDir, PathBuf) {
    let (tmp, cache) = new_cache();
    let mut args = vec!["--version", version];
    args.extend_from_slice(extra);
    sync(&server.url, &cache, &args).success();
    assert_shows(&cache, want, version);
    (tmp, cache)
}

/// After a refused sync: exit 2, the messages, and the cache exactly as before and consistent.
fn refused(run: Run, needles: &[&str], cache: &Path, before: &Docs, what: &str) {
    run.code(2).stderr_has(needles);
    assert_shows(cache, before, what);
    offline(cache).success();
}

fn blob_of(fx: &Fixture, version: &str, lang: &str, path: &str) -> String {
    blob_rel(&doc_sha(&fx.kb.registry(), version, lang, path))
}

// --- a misbehaving server ---------------------------------------------------------------------

/// A download that stalls (10 bytes, then silence) is reported on stderr while sync waits
/// ("waiting for <url>: 10 bytes in 1 s", every `--timeout`/3 here, every 10 s by default) and
/// abandoned by its documented deadline: `--timeout` per attempt, 4 attempts. The cache is
/// left as it was.
#[test]
fn a_stalled_download_is_reported_and_given_up_by_its_deadline() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &fx.v1, &[]);
    let blob = blob_of(&fx, "1.1.0", "en", "d004.md");
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::Stall(10, Duration::from_secs(20))
        } else {
            Action::Serve
        }
    });
    let started = Instant::now();
    let run = sync(&server.url, &cache, &["--timeout", "3"]);
    let took = started.elapsed();
    let url = server.at(&blob);
    assert!(
        run.stderr
            .contains(&format!("waiting for {url}: 10 bytes in 1 s")),
        "{run}"
    );
    // Reported again while it stays stalled, for every attempt.
    let reports = run.stderr.matches(&format!("waiting for {url}")).count();
    assert!(reports >= 4, "{reports} reports\n{run}");
    let attempts = server.take_log().iter().filter(|l| l.path == blob).count();
    assert_eq!(attempts, 4, "one attempt and three retries");
    assert!(
        took >= Duration::from_secs(12) && took < Duration::from_secs(40),
        "gave up after {took:?}"
    );
    refused(
        run,
        &[&format!("cannot fetch {url}")],
        &cache,
        &fx.v1,
        "1.0.0",
    );
}

#[test]
fn wrong_blob_bytes_are_refused_naming_url_and_hashes() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &fx.v1, &[]);
    let blob = blob_of(&fx, "1.1.0", "en", "d004.md");
    let want_sha = doc_sha(&fx.kb.registry(), "1.1.0", "en", "d004.md");
    let wrong = b"# not the document\n".to_vec();
    let b = blob.clone();
    let w = wrong.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::Body(w.clone())
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &[]),
        &[
            &server.at(&blob),
            &format!("expected sha256 {want_sha}"),
            &format!("got {}", sha256_hex(&wrong)),
        ],
        &cache,
        &fx.v1,
        "1.0.0 after a wrong blob",
    );

    // Wrong once, right on the second try: the sync fetches it again and succeeds.
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b && r.nth == 1 {
            Action::Body(wrong.clone())
        } else {
            Action::Serve
        }
    });
    sync(&server.url, &cache, &[]).success();
    assert_shows(&cache, &fx.v2, "1.1.0");
    assert_eq!(
        server.take_log().iter().filter(|l| l.path == blob).count(),
        4,
        "the blob: twice refused, twice fetched"
    );
}

#[test]
fn truncated_and_dropped_responses_are_retried_or_refused() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &fx.v1, &[]);
    let blob = blob_of(&fx, "1.1.0", "zh", "d001.md");

    // Content-Length larger than the body, then the connection closes: every time.
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::Truncate
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &[]),
        &[&server.at(&blob)],
        &cache,
        &fx.v1,
        "1.0.0 after truncation",
    );
    let tries = server.take_log().iter().filter(|l| l.path == blob).count();
    assert_eq!(tries, 4, "one try and three retries");

    // A chunked body cut off mid-blob: every time.
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::DropMidBody
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &[]),
        &[&server.at(&blob)],
        &cache,
        &fx.v1,
        "1.0.0 after a dropped connection",
    );

    // Truncated manifest once, dropped blob once: the retries succeed.
    let b = blob.clone();
    server.behave(move |r| {
        if r.nth == 1 && r.path == "v/1.1.0/manifest.json" {
            Action::Truncate
        } else if r.nth == 1 && r.path == b {
            Action::DropMidBody
        } else {
            Action::Serve
        }
    });
    sync(&server.url, &cache, &[]).success();
    assert_shows(&cache, &fx.v2, "1.1.0 after retries");
}

#[test]
fn server_errors_are_retried_then_reported() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &fx.v1, &[]);
    let blob = blob_of(&fx, "1.1.0", "en", "d100.md");

    // 503 for one blob, always.
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::Status(503)
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &[]),
        &[&server.at(&blob), "HTTP 503"],
        &cache,
        &fx.v1,
        "1.0.0 after 503s",
    );

    // 500 then 200 for the index, the delta (what an update from 1.0.0 reads instead of the
    // manifest) and a blob.
    let b = blob.clone();
    server.behave(move |r| {
        if r.nth == 1 && (r.path == "index.json" || r.path == "v/1.1.0/diff.json" || r.path == b) {
            Action::Status(500)
        } else {
            Action::Serve
        }
    });
    let r = sync(&server.url, &cache, &["--json"]).success();
    assert_eq!(r.parse::<kbrel::sync::SyncReport>().version, "1.1.0");
    assert_shows(&cache, &fx.v2, "1.1.0 after 500s");
    let log = server.take_log();
    assert_eq!(log.iter().filter(|l| l.status == 500).count(), 3, "{log:?}");

    // A 404 for a blob the manifest lists: not retried, reported.
    let (_tmp2, cache2) = cache_at(&server, "1.0.0", &fx.v1, &[]);
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::Status(404)
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache2, &[]),
        &[&server.at(&blob), "en/d100.md"],
        &cache2,
        &fx.v1,
        "1.0.0 after a 404",
    );
}

#[test]
fn an_older_index_is_refused_unless_downgrades_are_allowed() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.1.0", &fx.v2, &[]);
    let old = fx.index_v1.clone();
    server.behave(move |r| {
        if r.path == "index.json" {
            Action::Body(old.clone())
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &[]),
        &[&server.at("index.json"), "sequence 1 is older than the 2"],
        &cache,
        &fx.v2,
        "1.1.0 after a rollback attempt",
    );
    sync(&server.url, &cache, &["--allow-downgrade"]).success();
    assert_shows(&cache, &fx.v1, "1.0.0 after an allowed downgrade");

    // The cache remembers the highest sequence it saw: the old index is still "older" now.
    refused(
        sync(&server.url, &cache, &[]),
        &["older"],
        &cache,
        &fx.v1,
        "1.0.0",
    );

    // A lower version from the current index is a downgrade too.
    server.well_behaved();
    sync(&server.url, &cache, &[]).success();
    assert_shows(&cache, &fx.v2, "1.1.0");
    refused(
        sync(&server.url, &cache, &["--version", "1.0.0"]),
        &["--allow-downgrade"],
        &cache,
        &fx.v2,
        "1.1.0",
    );
}

#[test]
fn a_tampered_manifest_or_delta_is_refused_naming_both_hashes() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &fx.v1, &[]);
    let index: kbrel::manifest::Index = common::read_as(&fx.kb.registry().join("index.json"));
    // The cache holds 1.0.0, which 1.1.0 was diffed against: sync reads the delta (diff.json);
    // when the registry has none (404) it reads the whole manifest. Either, tampered, is refused.
    for (file, field, listed, no_delta) in [
        (
            "v/1.1.0/diff.json",
            "diff",
            &index.versions[1].diff.sha256,
            false,
        ),
        (
            "v/1.1.0/manifest.json",
            "manifest",
            &index.versions[1].manifest.sha256,
            true,
        ),
    ] {
        let mut tampered = fs::read(fx.kb.registry().join(file)).unwrap();
        tampered.extend_from_slice(b" ");
        let t = tampered.clone();
        server.take_log();
        server.behave(move |r| {
            if r.path == file {
                Action::Body(t.clone())
            } else if no_delta && r.path == "v/1.1.0/diff.json" {
                Action::Status(404)
            } else {
                Action::Serve
            }
        });
        refused(
            sync(&server.url, &cache, &[]),
            &[
                &server.at(file),
                &format!("expected {listed}"),
                &format!("got {}", sha256_hex(&tampered)),
            ],
            &cache,
            &fx.v1,
            &format!("1.0.0 after a tampered {field}"),
        );
        let log = server.take_log();
        assert!(
            !log.iter().any(|l| l.path.starts_with("blobs/")),
            "no blob fetched after a bad {field}: {log:?}"
        );
    }
}

/// A generated knowledge base with two keys (`k1`, `k2` in its root) and 1.0.0 published
/// signed by `k1`: the knowledge base, `k1`'s public key and the path of its private key.
fn signed_release(name: &str, docs: usize) -> (Kb, String, String) {
    let kb = Kb::generated(name, docs);
    let trusted = kb.key("k1");
    kb.key("k2");
    let k1 = kb.root().join("k1").display().to_string();
    kb.release_at(
        "kbrel.toml",
        &kb.registry(),
        "1.0.0",
        DATE,
        &["--sign-key", &k1],
    );
    (kb, trusted, k1)
}

#[test]
fn signatures_by_other_keys_tampered_or_missing_are_refused() {
    let (kb, trusted, k1) = signed_release("acme-signed", 6);
    let v1 = expected(&kb.registry(), "1.0.0");
    kb.append("en/d002.md", "\nSigned update.\n");
    kb.release_at(
        "kbrel.toml",
        &kb.registry(),
        "1.1.0",
        DATE,
        &["--sign-key", &k1],
    );
    let v2 = expected(&kb.registry(), "1.1.0");

    let server = TestServer::start(&kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &v1, &["--trust-key", &trusted]);

    // index.json.sig by another key.
    let index = fs::read(kb.registry().join("index.json")).unwrap();
    let other = kbrel::sign::read_private_key(&kb.root().join("k2")).unwrap();
    let other_pk = kbrel::sign::public_key_string(&other.verifying_key());
    let foreign = kbrel::sign::sign_index(&index, &other, None);
    server.behave(move |r| {
        if r.path == "index.json.sig" {
            Action::Body(foreign.clone())
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &["--trust-key", &trusted]),
        &[
            &server.at("index.json"),
            &format!("signed by {other_pk}, which is not a trusted key"),
        ],
        &cache,
        &v1,
        "1.0.0 after a foreign signature",
    );

    // The signed index with one byte changed (a higher sequence, say).
    let text = String::from_utf8(index.clone())
        .unwrap()
        .replace("\"sequence\": 2", "\"sequence\": 3");
    assert_ne!(text.as_bytes(), index.as_slice());
    server.behave(move |r| {
        if r.path == "index.json" {
            Action::Body(text.clone().into_bytes())
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &["--trust-key", &trusted]),
        &[&server.at("index.json"), "does not match"],
        &cache,
        &v1,
        "1.0.0 after a tampered signed index",
    );

    // A signature file of a newer format.
    let mut newer = read_json(&kb.registry().join("index.json.sig"));
    newer["schema_version"] = 2.into();
    let newer = kbrel::manifest::to_json_bytes(&newer);
    server.behave(move |r| {
        if r.path == "index.json.sig" {
            Action::Body(newer.clone())
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &["--trust-key", &trusted]),
        &[
            &server.at("index.json"),
            "schema_version 2",
            "upgrade kbrel",
        ],
        &cache,
        &v1,
        "1.0.0 after a newer signature format",
    );

    // A mistyped trusted key is named as such.
    server.well_behaved();
    let typo = &trusted[..trusted.len() - 3];
    refused(
        sync(&server.url, &cache, &["--trust-key", typo]),
        &["invalid public key", typo],
        &cache,
        &v1,
        "1.0.0 with a mistyped key",
    );

    // No signature at all.
    server.behave(|r| {
        if r.path == "index.json.sig" {
            Action::Status(404)
        } else {
            Action::Serve
        }
    });
    refused(
        sync(&server.url, &cache, &["--trust-key", &trusted]),
        &[&server.at("index.json.sig"), "not signed"],
        &cache,
        &v1,
        "1.0.0 without a signature",
    );

    server.well_behaved();
    sync(&server.url, &cache, &["--trust-key", &trusted]).success();
    assert_shows(&cache, &v2, "1.1.0");
}

#[test]
fn a_rotated_key_is_trusted_through_its_endorsement() {
    let kb = Kb::generated("acme-rotation", 4);
    let old_pk = kb.key("old");
    let new_pk = kb.key("new");
    let (old, new) = (
        kb.root().join("old").display().to_string(),
        kb.root().join("new").display().to_string(),
    );
    kb.release_at(
        "kbrel.toml",
        &kb.registry(),
        "1.0.0",
        DATE,
        &["--sign-key", &old, "--next-key", &new_pk],
    );
    let sig: kbrel::sign::IndexSignature = common::read_as(&kb.registry().join("index.json.sig"));
    assert_eq!(
        (sig.key.as_str(), sig.next_key.map(|n| n.key)),
        (old_pk.as_str(), Some(new_pk.clone()))
    );
    let server = TestServer::start(&kb.registry());
    let (_tmp, cache) = cache_at(
        &server,
        "1.0.0",
        &expected(&kb.registry(), "1.0.0"),
        &["--trust-key", &old_pk],
    );

    kb.append("en/d001.md", "\nSigned by the new key.\n");
    kb.release_at(
        "kbrel.toml",
        &kb.registry(),
        "1.1.0",
        DATE,
        &["--sign-key", &new],
    );
    let v2 = expected(&kb.registry(), "1.1.0");
    // The cache learned the endorsed key; a new cache trusting only the old key did not.
    sync(&server.url, &cache, &["--trust-key", &old_pk]).success();
    assert_shows(&cache, &v2, "1.1.0");
    let (_tmp2, fresh) = new_cache();
    sync(&server.url, &fresh, &["--trust-key", &old_pk])
        .code(2)
        .stderr_has(&["not a trusted key"]);
    assert!(visible(&fresh).is_empty());
    sync(&server.url, &fresh, &["--trust-key", &new_pk]).success();
    assert_shows(&fresh, &v2, "1.1.0");
}

#[test]
fn an_expired_signed_index_is_refused() {
    let kb = Kb::generated("acme-expiring", 6);
    let pk = kb.key("k");
    let k = kb.root().join("k").display().to_string();
    let fresh = kb.root().join("fresh");
    kb.release_at("kbrel.toml", &fresh, "1.0.0", DATE, &["--sign-key", &k]);
    let v1 = expected(&fresh, "1.0.0");
    // The same package published long ago with `expires_days = 1`: a frozen mirror.
    kb.write_config("expiring.toml", "expires_days = 1");
    let stale = kb.root().join("stale");
    kb.release_at(
        "expiring.toml",
        &stale,
        "1.0.0",
        "2020-01-01",
        &["--sign-key", &k],
    );
    kb.append("zh/d003.md", "\n更新。\n");
    kb.release_at(
        "expiring.toml",
        &stale,
        "1.1.0",
        "2020-01-02",
        &["--sign-key", &k],
    );
    assert_eq!(
        common::read_as::<kbrel::manifest::Index>(&stale.join("index.json")).expires,
        Some("2020-01-03T00:00:00Z".to_string())
    );

    let server = TestServer::start(&fresh);
    let (_tmp, cache) = cache_at(&server, "1.0.0", &v1, &["--trust-key", &pk]);
    server.set_root(&stale);
    refused(
        sync(&server.url, &cache, &["--trust-key", &pk]),
        &[&server.at("index.json"), "expired at 2020-01-03T00:00:00Z"],
        &cache,
        &v1,
        "1.0.0 after an expired index",
    );
}

#[test]
fn nothing_new_costs_one_request_answered_304() {
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.1.0", &fx.v2, &[]);
    server.take_log();
    let r = sync(&server.url, &cache, &["--json"]).success();
    let log = server.take_log();
    assert_eq!(
        log,
        vec![Logged {
            path: "index.json".into(),
            status: 304,
            bytes: 0
        }]
    );
    let report: SyncReport = r.parse();
    assert_eq!(
        (report.not_modified, report.up_to_date, report.requests),
        (true, true, 1)
    );
    assert_shows(&cache, &fx.v2, "1.1.0");
}

#[test]
fn an_update_fetches_only_the_changed_document() {
    let kb = Kb::generated("acme-delta", 10);
    kb.release("1.0.0");
    let reg = kb.registry();
    let server = TestServer::start(&reg);
    let (_tmp, cache) = cache_at(&server, "1.0.0", &expected(&reg, "1.0.0"), &[]);
    kb.append("en/d003.md", "\nOne more line.\n");
    kb.release("1.1.0");
    server.take_log();
    let r = sync(&server.url, &cache, &["--json"]).success();
    let blob = blob_rel(&doc_sha(&reg, "1.1.0", "en", "d003.md"));
    let mut log = server.take_log();
    log.sort_by(|a, b| a.path.cmp(&b.path));
    let size = |rel: &str| fs::metadata(reg.join(rel)).unwrap().len();
    let mut want = vec![
        Logged {
            path: "index.json".into(),
            status: 200,
            bytes: size("index.json"),
        },
        // The delta from the held 1.0.0, not the whole manifest.
        Logged {
            path: "v/1.1.0/diff.json".into(),
            status: 200,
            bytes: size("v/1.1.0/diff.json"),
        },
        Logged {
            path: blob.clone(),
            status: 200,
            bytes: size(&blob),
        },
    ];
    want.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(log, want);
    let report: SyncReport = r.parse();
    assert_eq!(report.documents_fetched, 1);
    assert_eq!(report.requests, 3);
    assert_eq!(
        report.bytes_fetched,
        want.iter().map(|l| l.bytes).sum::<u64>()
    );
    // This server never compresses: what came over the wire is what was decoded.
    assert_eq!(report.bytes_on_wire, report.bytes_fetched);
    assert_eq!(report.bytes_decoded, report.bytes_fetched);
    assert!(report.delta);
    assert_eq!(report.changes["en"].updated, 1);
    assert_shows(&cache, &expected(&reg, "1.1.0"), "1.1.0");
    // The tree built from the delta is the one the manifest gives, byte for byte.
    let (_tmp2, fresh) = cache_at(&server, "1.1.0", &expected(&reg, "1.1.0"), &[]);
    let tree = |c: &Path| fs::read(c.join(".kbrel/current/tree.json")).unwrap();
    assert_eq!(tree(&cache), tree(&fresh));
    assert_eq!(
        fs::read_link(cache.join(".kbrel/current")).unwrap(),
        fs::read_link(fresh.join(".kbrel/current")).unwrap()
    );
}

/// Against `kbrel serve`, which gzips JSON and markdown for a client that accepts it, the
/// report tells the bytes on the wire (as sent: the gzip bodies the server answers) from the
/// bytes decoded (what was verified), and the human report shows both.
#[test]
fn sync_reports_wire_and_decoded_bytes_separately() {
    let kb = Kb::generated("acme-wire", 12);
    kb.release("1.0.0");
    let reg = kb.registry();
    let serve = common::serve::Serve::start(&reg, &[]);
    let (_tmp, cache) = new_cache();
    let report: SyncReport = sync(&serve.url(), &cache, &["--json"]).success().parse();
    let manifest: kbrel::manifest::Manifest = common::read_as(&reg.join("v/1.0.0/manifest.json"));
    let mut paths = vec![
        "index.json".to_string(),
        "v/1.0.0/manifest.json".to_string(),
    ];
    for d in &manifest.documents {
        let blob = common::blob_rel(&d.sha256);
        if !paths.contains(&blob) {
            paths.push(blob);
        }
    }
    let (mut wire, mut decoded) = (0, 0);
    for p in &paths {
        let resp = serve.get_with(&format!("/{p}"), &[("Accept-Encoding", "gzip")]);
        assert_eq!(resp.status, 200, "{p}");
        wire += resp.body.len() as u64;
        decoded += fs::metadata(reg.join(p)).unwrap().len();
    }
    assert_eq!(report.requests, paths.len() as u64);
    assert_eq!(report.bytes_fetched, decoded);
    assert_eq!(report.bytes_decoded, decoded);
    assert_eq!(report.bytes_on_wire, wire);
    assert!(wire < decoded, "gzip saved nothing: {wire} of {decoded}");

    let (_tmp2, cache2) = new_cache();
    let human = sync(&serve.url(), &cache2, &[]).success();
    assert!(
        human
            .stdout
            .contains(&format!("{decoded} bytes ({wire} on the wire) in")),
        "{human}"
    );
}

// --- bad input ------------------------------------------------------------------------------

#[test]
fn unreachable_missing_or_non_registry_sources_fail_clearly() {
    let (tmp, cache) = new_cache();
    // Nothing listens on this port.
    let url = format!("http://127.0.0.1:{}/", free_port());
    sync(&url, &cache, &[])
        .code(2)
        .stderr_has(&[&format!("{url}index.json")]);
    assert!(visible(&cache).is_empty());

    // An index that is not there.
    let fx = fixture();
    let server = TestServer::start(&fx.kb.registry());
    server.behave(|r| {
        if r.path == "index.json" {
            Action::Status(404)
        } else {
            Action::Serve
        }
    });
    sync(&server.url, &cache, &[])
        .code(2)
        .stderr_has(&[&server.at("index.json"), "no index.json"]);

    // A folder that is not a registry.
    let not_registry = tmp.path().join("somewhere");
    fs::create_dir(&not_registry).unwrap();
    fs::write(not_registry.join("readme.txt"), "hello").unwrap();
    sync(not_registry.to_str().unwrap(), &cache, &[])
        .code(2)
        .stderr_has(&["not a kbrel registry"]);

    // A failed first sync leaves a cache the next sync completes.
    server.well_behaved();
    sync(&server.url, &cache, &[]).success();
    assert_shows(&cache, &fx.v2, "1.1.0");
}

/// A registry whose 1.0.0 manifest is replaced by `edit(manifest)`, with the index's sha256
/// and size updated to match (so only the manifest's content is at fault).
fn doctored_registry(edit: impl Fn(&mut serde_json::Value)) -> (Kb, PathBuf) {
    let kb = Kb::generated("acme-doctored", 3);
    kb.release("1.0.0");
    let reg = kb.registry();
    let mpath = reg.join("v/1.0.0/manifest.json");
    let mut m = read_json(&mpath);
    edit(&mut m);
    let bytes = kbrel::manifest::to_json_bytes(&m);
    fs::write(&mpath, &bytes).unwrap();
    let mut index = read_json(&reg.join("index.json"));
    index["versions"][0]["manifest"]["sha256"] = sha256_hex(&bytes).into();
    index["versions"][0]["manifest"]["size"] = bytes.len().into();
    fs::write(
        reg.join("index.json"),
        kbrel::manifest::to_json_bytes(&index),
    )
    .unwrap();
    (kb, reg)
}

/// A change to a manifest.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn manifests_with_unsafe_paths_or_languages_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let abs = outside.path().join("owned.md");
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "dot-dot path",
            Box::new(|m| m["documents"][0]["path"] = "../../escaped.md".into()),
            "unsafe document path",
        ),
        (
            "absolute path",
            Box::new(move |m| m["documents"][0]["path"] = abs.display().to_string().into()),
            "unsafe document path",
        ),
        (
            "dot-dot language",
            Box::new(|m| m["languages"][1] = "../escaped".into()),
            "invalid language",
        ),
        (
            "the meta folder as a language",
            Box::new(|m| m["languages"][1] = ".kbrel".into()),
            "invalid language",
        ),
        (
            "one path twice",
            Box::new(|m| {
                let d = m["documents"][0].clone();
                m["documents"].as_array_mut().unwrap().push(d);
            }),
            "twice",
        ),
    ];
    for (what, edit, message) in cases {
        let (_kb, reg) = doctored_registry(edit);
        let server = TestServer::start(&reg);
        for from in [reg.display().to_string(), server.url.clone()] {
            let (tmp, cache) = new_cache();
            let r = sync(&from, &cache, &[]);
            assert_eq!(r.code, 2, "{what} from {from}: expected exit 2\n{r}");
            assert!(
                r.stderr.contains(message),
                "{what}: stderr lacks {message:?}\n{r}"
            );
            assert!(
                visible(&cache).is_empty(),
                "{what}: the cache shows documents"
            );
            let around: Vec<_> = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                around,
                vec![std::ffi::OsString::from("cache")],
                "{what}: something was written beside the cache"
            );
            assert!(
                !reg.join("escaped.md").exists()
                    && !reg.parent().unwrap().join("escaped.md").exists()
            );
            assert!(
                fs::read_dir(outside.path()).unwrap().next().is_none(),
                "{what}: wrote outside"
            );
            let tree = tree(&cache);
            assert!(
                !tree.keys().any(|k| k.contains("escaped")),
                "{what}: {tree:?}"
            );
        }
    }
}

#[test]
fn caches_of_another_format_or_foreign_folders_are_left_alone() {
    let fx = fixture();
    let reg = fx.kb.registry().display().to_string();

    // A cache written by a future kbrel.
    let (_tmp, cache) = new_cache();
    fs::create_dir_all(cache.join(".kbrel")).unwrap();
    fs::write(
        cache.join(".kbrel/state.json"),
        r#"{"format": "kbrel-cache/99", "whatever": 1}"#,
    )
    .unwrap();
    fs::create_dir_all(cache.join("en")).unwrap();
    fs::write(cache.join("en/mine.md"), "keep me").unwrap();
    let before = tree(&cache);
    sync(&reg, &cache, &[]).code(2).stderr_has(&[
        "kbrel-cache/99",
        "kbrel-cache/1",
        "nothing was changed",
    ]);
    offline(&cache).code(2).stderr_has(&["kbrel-cache/99"]);
    assert_eq!(tree(&cache), before);

    // Somebody's folder.
    let (_tmp, dir) = new_cache();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let before = tree(&dir);
    sync(&reg, &dir, &[])
        .code(2)
        .stderr_has(&["not empty", "notes.txt", "not a kbrel cache"]);
    assert_eq!(tree(&dir), before);

    // A language folder of the cache replaced by a real folder: refused before the switch.
    let (_tmp, cache) = new_cache();
    sync(&reg, &cache, &["--version", "1.0.0"]).success();
    fs::remove_file(cache.join("zh")).unwrap();
    fs::create_dir(cache.join("zh")).unwrap();
    sync(&reg, &cache, &[])
        .code(2)
        .stderr_has(&["is not kbrel's link"]);
    let shown: Docs = visible(&cache)
        .into_iter()
        .filter(|(k, _)| k.starts_with("en/"))
        .collect();
    let want: Docs = fx
        .v1
        .iter()
        .filter(|(k, _)| k.starts_with("en/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(shown, want, "en still shows 1.0.0");
}

#[test]
fn an_unwritable_cache_location_fails() {
    let fx = fixture();
    let reg = fx.kb.registry().display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    // Below a regular file: creating anything fails, for root too.
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    sync(&reg, &file.join("cache"), &[])
        .code(2)
        .stderr_has(&["a-file"]);
    assert_eq!(fs::read(&file).unwrap(), b"x");
    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        let ro = tmp.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let r = sync(&reg, &ro.join("cache"), &[]);
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
        r.code(2).stderr_has(&["ro/cache"]);
    }
}

#[test]
fn an_interrupted_first_sync_or_a_damaged_tree_is_repaired() {
    let fx = fixture();
    let reg = fx.kb.registry().display().to_string();
    // What a sync killed right after creating its folders leaves.
    let (_tmp, cache) = new_cache();
    fs::create_dir_all(cache.join(".kbrel/objects/ab")).unwrap();
    fs::write(cache.join(".kbrel/lock"), "").unwrap();
    std::os::unix::fs::symlink(".kbrel/current/en", cache.join("en")).unwrap();
    sync(&reg, &cache, &["--version", "1.0.0"]).success();
    assert_shows(&cache, &fx.v1, "1.0.0");

    // A stale, incomplete tree of 1.1.0 (as an interrupted removal could leave) is not reused.
    sync(&reg, &cache, &[]).success();
    let current = fs::read_link(cache.join(".kbrel/current")).unwrap();
    let v2_tree = cache.join(".kbrel").join(&current);
    let saved = tempfile::tempdir().unwrap();
    let copy = saved.path().join("tree");
    cp_a(&v2_tree, &copy);
    sync(&reg, &cache, &["--version", "1.0.0", "--allow-downgrade"]).success();
    assert!(!v2_tree.exists(), "the 1.1.0 tree was removed");
    fs::remove_file(copy.join("en/d004.md")).unwrap();
    fs::remove_dir_all(copy.join("zh/sub")).unwrap();
    cp_a(&copy, &v2_tree);
    sync(&reg, &cache, &[]).success();
    assert_shows(&cache, &fx.v2, "1.1.0, complete");
    offline(&cache).success();

    // Leftovers of a sync killed after its switch: the next sync, even with nothing to do,
    // removes them.
    fs::create_dir_all(cache.join(".kbrel/trees/0123456789abcdef.tmp-1/en")).unwrap();
    fs::write(
        cache.join(".kbrel/trees/0123456789abcdef.tmp-1/en/x.md"),
        "x",
    )
    .unwrap();
    fs::create_dir_all(cache.join(".kbrel/trees/.gc-fedcba9876543210-1")).unwrap();
    let r = sync(&reg, &cache, &["--json"]).success();
    assert!(r.parse::<kbrel::sync::SyncReport>().up_to_date, "{r}");
    let trees: Vec<_> = fs::read_dir(cache.join(".kbrel/trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(trees, vec![current.file_name().unwrap().to_os_string()]);
    assert_shows(&cache, &fx.v2, "1.1.0");
}

// --- crashes --------------------------------------------------------------------------------

/// `kbrel sync` killed with SIGKILL at random points while it moves a 400-document cache
/// between two versions: after each kill the cache shows exactly one complete version (or, before
/// the first sync ever completed, none) and passes `--offline`; the next sync completes.
/// `KBREL_CRASH_ITERATIONS` (default 30) and `KBREL_CRASH_SEED` tune it.
#[test]
fn sigkill_at_random_points_never_leaves_a_mix() {
    let iterations = env_u64("KBREL_CRASH_ITERATIONS").unwrap_or(30);
    let seed = env_seed("KBREL_CRASH_SEED");
    eprintln!("crash test: {iterations} iterations, KBREL_CRASH_SEED={seed}");
    let mut rng = Rng(seed | 1);

    let kb = Kb::generated("acme-crash", 200);
    kb.release("1.0.0");
    for i in (0..200).filter(|i| i % 5 < 2) {
        let path = Kb::doc_path(i);
        kb.append(&format!("en/{path}"), "\nEdited in 1.1.\n");
        kb.append(&format!("zh/{path}"), "\n在 1.1 中编辑。\n");
    }
    for i in 200..210 {
        kb.write_generated(i);
    }
    for i in [3, 13, 23, 33, 43] {
        kb.remove(&format!("en/{}", Kb::doc_path(i)));
        kb.remove(&format!("zh/{}", Kb::doc_path(i)));
    }
    kb.release("1.1.0");
    let reg = kb.registry();
    let from = reg.display().to_string();
    let versions = ["1.0.0", "1.1.0"];
    let want: Vec<Docs> = versions.iter().map(|v| expected(&reg, v)).collect();

    // How long a complete switch takes, to spread the kills over it.
    let (_calibrate_tmp, calibrate) = new_cache();
    let t0 = Instant::now();
    sync(&from, &calibrate, &["--version", "1.0.0"]).success();
    let first = t0.elapsed();
    let t0 = Instant::now();
    sync(&from, &calibrate, &["--version", "1.1.0"]).success();
    let switch = t0.elapsed();
    eprintln!("crash test: a first sync takes {first:?}, a switch {switch:?}");

    let (_tmp, cache) = new_cache();
    let mut completed_once = false;
    let mut killed = 0;
    for i in 0..iterations {
        let target = (i % 2) as usize;
        let mut child = kbrel()
            .args([
                "sync",
                "--quiet",
                "--allow-downgrade",
                "--from",
                &from,
                "--version",
                versions[target],
                "--into",
            ])
            .arg(&cache)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kbrel sync");
        let window = if i == 0 { first } else { switch }.mul_f64(1.1);
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64));
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let status = child.wait().unwrap();

        let shown = visible(&cache);
        let which = want.iter().position(|w| *w == shown);
        let off = offline(&cache);
        match which {
            Some(_) => assert_eq!(
                off.code, 0,
                "iteration {i} (seed {seed}): a complete version but --offline fails\n{off}"
            ),
            None if shown.is_empty() && !completed_once => {}
            None => {
                assert_shows(
                    &cache,
                    &want[target],
                    &format!(
                        "a complete version (iteration {i}, seed {seed}, killed after {delay:?}, {status})"
                    ),
                );
            }
        }
        // The next sync completes.
        sync(
            &from,
            &cache,
            &[
                "--quiet",
                "--allow-downgrade",
                "--version",
                versions[target],
            ],
        )
        .success();
        assert_shows(&cache, &want[target], versions[target]);
        offline(&cache).success();
        completed_once = true;
    }
    eprintln!("crash test: {killed} of {iterations} syncs killed mid-way");
    // After an update, only the current tree and its objects are left.
    let last = ((iterations + 1) % 2) as usize;
    for v in [versions[1 - last], versions[last]] {
        sync(
            &from,
            &cache,
            &["--quiet", "--allow-downgrade", "--version", v],
        )
        .success();
    }
    let trees: Vec<_> = fs::read_dir(cache.join(".kbrel/trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(trees.len(), 1, "{trees:?}");
    let objects = tree(&cache.join(".kbrel/objects"))
        .values()
        .filter(|v| *v != "dir")
        .count();
    let distinct: std::collections::BTreeSet<&Vec<u8>> = want[last].values().collect();
    assert_eq!(objects, distinct.len());
}

// --- the JavaScript consumer ----------------------------------------------------------------

fn consume_script() -> PathBuf {
    manifest_dir().join("tests/it/common/consume.mjs")
}

/// `node consume.mjs <url> <dir>`: the `fetched <lang>/<path>` lines and the last line.
fn consume(node: &Path, url: &str, dir: &Path) -> (Vec<String>, String) {
    let r = run(std::process::Command::new(node)
        .arg(consume_script())
        .arg(url)
        .arg(dir))
    .success();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let last = lines.last().unwrap_or(&"").to_string();
    let fetched = lines
        .iter()
        .filter_map(|l| l.strip_prefix("fetched "))
        .map(String::from)
        .collect();
    (fetched, last)
}

/// Every file below `dir/en` and `dir/zh`.
fn files_in(dir: &Path) -> Docs {
    visible(dir)
}

#[test]
fn the_readme_javascript_consumer_fetches_only_what_changed() {
    let Some(node) = require_node() else { return };
    let kb = Kb::generated("acme-js", 8);
    kb.release("1.0.0");
    let reg = kb.registry();
    let serve = Serve::start_quiet(&reg);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("docs");

    let (fetched, last) = consume(&node, &serve.url(), &dir);
    let v1 = expected(&reg, "1.0.0");
    let mut sorted = fetched.clone();
    sorted.sort();
    assert_eq!(sorted, v1.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        last,
        format!(
            "acme-js@1.0.0: {} fetched, {} documents",
            v1.len(),
            v1.len()
        )
    );
    assert_eq!(files_in(&dir), v1);

    // Nothing new: the index is answered 304 and nothing is fetched.
    let (fetched, last) = consume(&node, &serve.url(), &dir);
    assert!(fetched.is_empty(), "{fetched:?}");
    assert_eq!(last, "index.json not modified: up to date");

    // One document changed: exactly that one is fetched (kbrel serve reloads the index).
    kb.append("zh/d005.md", "\n新的一行。\n");
    kb.release("1.1.0");
    let (fetched, last) = consume(&node, &serve.url(), &dir);
    assert_eq!(fetched, vec!["zh/d005.md".to_string()]);
    assert_eq!(
        last,
        format!("acme-js@1.1.0: 1 fetched, {} documents", v1.len())
    );
    assert_eq!(files_in(&dir), expected(&reg, "1.1.0"));

    // A wrong blob is refused, naming the URL and both hashes.
    let server = TestServer::start(&reg);
    kb.append("en/d001.md", "\nAnother line.\n");
    kb.release("1.2.0");
    let blob = blob_rel(&doc_sha(&reg, "1.2.0", "en", "d001.md"));
    let b = blob.clone();
    server.behave(move |r| {
        if r.path == b {
            Action::Body(b"evil".to_vec())
        } else {
            Action::Serve
        }
    });
    let r = run(std::process::Command::new(&node)
        .arg(consume_script())
        .arg(&server.url)
        .arg(&dir));
    assert_ne!(r.code, 0, "{r}");
    assert!(
        r.stderr.contains(&server.at(&blob))
            && r.stderr.contains(&format!("got {}", sha256_hex(b"evil"))),
        "{r}"
    );
}

#[test]
fn the_readme_section_shows_the_tested_javascript() {
    let readme = fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let at = readme
        .find("## Consuming releases")
        .expect("README.md has a \"Consuming releases\" section");
    let text = &readme[at..];
    let start = text.find("```js\n").expect("a ```js block") + "```js\n".len();
    let end = start
        + text[start..]
            .find("```\n")
            .expect("the end of the ```js block");
    let script = fs::read_to_string(consume_script()).unwrap();
    assert_eq!(
        &text[start..end],
        script,
        "the README's JavaScript differs from tests/it/common/consume.mjs"
    );
}

// --- the library API ------------------------------------------------------------------------

#[test]
fn library_sync_reports_progress_and_refuses_a_dry_run_write() {
    let fx = fixture();
    let (_tmp, cache) = new_cache();
    let opts = |version: Option<&str>, dry_run: bool| kbrel::sync::SyncOptions {
        max_document_size: kbrel::sync::DEFAULT_MAX_DOCUMENT_SIZE,
        max_asset_size: kbrel::sync::DEFAULT_MAX_ASSET_SIZE,
        from: fx.kb.registry().display().to_string(),
        version: version.map(String::from),
        langs: None,
        dry_run,
        trust_keys: vec![],
        allow_downgrade: false,
        now: kbrel::date::Timestamp::parse("2026-11-26").unwrap(),
        parallel: 4,
        retries: 0,
        timeout: Duration::from_secs(10),
        stall_report: Duration::from_secs(10),
    };
    // A dry run writes nothing.
    let report = kbrel::sync::sync(
        &cache,
        &opts(None, true),
        &mut |_: kbrel::sync::Progress| panic!("no progress in a dry run"),
    )
    .unwrap();
    assert_eq!(report.documents_fetched as usize, fx.v2.len());
    assert!(!cache.exists());

    let mut seen = Vec::new();
    let report = kbrel::sync::sync(&cache, &opts(Some("1.0.0"), false), &mut |p| {
        seen.push((p.done, p.total))
    })
    .unwrap();
    let n = fx.v1.len() as u64;
    seen.sort();
    assert_eq!(seen, (1..=n).map(|k| (k, n)).collect::<Vec<_>>());
    assert_eq!(report.version, "1.0.0");
    assert_shows(&cache, &fx.v1, "1.0.0");
    let tree = kbrel::sync::current_tree(&cache).unwrap().unwrap();
    assert_eq!(
        (
            tree.name.as_str(),
            tree.version.as_str(),
            tree.documents.len()
        ),
        ("acme-sync", "1.0.0", fx.v1.len())
    );
    let offline = kbrel::sync::check_offline(&cache).unwrap();
    assert!(offline.problems.is_empty(), "{:?}", offline.problems);
}

/// `kbrel sync --json` prints a failure as data on stdout (`kbrel::sync::FailureJson`, the
/// shape `docs/protocol.md` documents) while stderr keeps the message and the exit status stays
/// 2: the failed check (the JavaScript client's names), the refusal's `reason` with its fields
/// (a signature's `problem`), or `refusal: null` for an error that is not a refusal.
#[test]
fn sync_json_prints_the_refusal_as_data() {
    let (kb, trusted, _) = signed_release("acme-refusals", 3);
    let v1 = expected(&kb.registry(), "1.0.0");
    let index = fs::read(kb.registry().join("index.json")).unwrap();
    let other = kbrel::sign::read_private_key(&kb.root().join("k2")).unwrap();
    let other_pk = kbrel::sign::public_key_string(&other.verifying_key());
    let foreign = kbrel::sign::sign_index(&index, &other, None);
    let server = TestServer::start(&kb.registry());
    let (_tmp, cache) = cache_at(&server, "1.0.0", &v1, &["--trust-key", &trusted]);
    let mut shown = Vec::new();
    let mut failed = |what: &str, args: &[&str]| {
        let mut args = args.to_vec();
        args.push("--json");
        let run = sync(&server.url, &cache, &args).code(2);
        let failure: kbrel::sync::FailureJson =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{what}: {e}\n{run}"));
        assert!(run.stderr.contains(&failure.error.message), "{what}\n{run}");
        if let Some(r) = &failure.error.refusal {
            assert_eq!(r.check(), failure.error.check, "{what}");
            assert_eq!(r.to_string(), failure.error.message, "{what}");
        }
        assert_shows(&cache, &v1, what);
        shown.push(format!("# {what}\n{}", run.stdout));
    };

    // A signature by a key that is not trusted.
    server.behave(move |r| match r.path.as_str() {
        "index.json.sig" => Action::Body(foreign.clone()),
        _ => Action::Serve,
    });
    failed("untrusted key", &["--trust-key", &trusted]);
    // No signature at all.
    server.behave(|r| match r.path.as_str() {
        "index.json.sig" => Action::Status(404),
        _ => Action::Serve,
    });
    failed("unsigned", &["--trust-key", &trusted]);
    server.behave(|_| Action::Serve);
    // A version the registry does not have: an error of the library, not a refusal.
    failed("unknown version", &["--version", "9.9.9"]);
    // A language the release does not have.
    failed("unknown language", &["--lang", "fr"]);

    let text = shown
        .join("\n")
        .replace(&server.url, "<server>")
        .replace(&other_pk, "<k2>");
    insta::assert_snapshot!(text);
}

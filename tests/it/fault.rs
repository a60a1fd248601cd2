//! Fault injection for `kbrel publish` (issue #7, item 2).
//!
//! - `sigkill_during_publish_leaves_only_garbage`: a generated ~300-document knowledge base is
//!   published as 1.0.0; then `kbrel publish 1.1.0` (evolved content) is started again and again
//!   and killed with SIGKILL after a random delay: a third of the kills anywhere in one complete
//!   publish (measured first), a third in its commit (from the staging directory on), a third in
//!   its renames (from `v/1.1.0` on), since those last milliseconds. After every kill
//!   `kbrel verify` must report nothing but `garbage` (staging directories, unreferenced blobs,
//!   version directories and tarballs, which `--repair` removes): index.json lists only
//!   complete, verifiable versions. The one exception is by design: a kill between the rename of
//!   index.json and that of the static npm packument, which follows it, leaves the previous
//!   packument (reported as `corrupt`) next to a complete release. Then the same publish is run
//!   again; it completes, the registry verifies clean (no `--repair` needed) and is byte for byte
//!   the registry of an uninterrupted publish. `KBREL_FAULT_ITERATIONS` (default 12, about 40 s)
//!   and `KBREL_FAULT_SEED` tune it; the stages the kills reached are printed.
//! - Injected I/O errors at specific steps of the commit (an immutable `v/`, blob fan-out folder
//!   or `index.json`, a directory where the tarball or the npm packument goes, a full
//!   filesystem): the publish exits 2 naming the path, and the registry is byte-for-byte as it
//!   was (or, for a failure after the index, the version is complete and a rerun repairs the
//!   derived file).
//!
//! Immutable files use `chattr +i` (root ignores permission bits); without root the permission
//! bits are used; where neither works the case prints a note and passes. The full filesystem is a
//! 2 MiB tmpfs, which needs root (else a note). `kbrel sync` crashes are covered by
//! `tests/it/sync.rs` (`sigkill_at_random_points_never_leaves_a_mix`).
//!
//! Everything happens in temporary folders outside any git repository, and every publish passes
//! `--no-tag`, `--registry`, `--changelog` and `--date`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Kb, Rng, Run, cp_a, env_seed, env_u64, kbrel_unsigned, run_lossy};
use kbrel::verify::{Problem, ProblemKind, VerifyReport};

const NAME: &str = "synthetic-kb";
const PACKUMENT: &str = "synthetic-kb";

/// `kbrel publish VERSION` of the generation `content` (`v1`, `v2`) of a [`Kb::synth`] into
/// `registry`, not yet started.
fn publish_cmd(kb: &Kb, content: &str, registry: &Path, version: &str) -> Command {
    let mut cmd = kbrel_unsigned();
    cmd.arg("--config")
        .arg(kb.config())
        .arg("--content")
        .arg(kb.path(content))
        .arg("--registry")
        .arg(registry)
        .args(["publish", version, "--no-tag", "--quiet", "--date"])
        .arg(if version == "1.0.0" {
            "2026-11-01"
        } else {
            "2026-11-25"
        })
        .arg("--changelog")
        .arg(kb.path("CHANGELOG.md"))
        .current_dir(kb.root());
    cmd
}

fn publish(kb: &Kb, content: &str, registry: &Path, version: &str) -> Run {
    run_lossy(&mut publish_cmd(kb, content, registry, version))
}

/// The run and, when verify could check the registry, its `--json` report, typed.
fn verify(registry: &Path, repair: bool) -> (Run, Option<VerifyReport>) {
    let mut cmd = kbrel_unsigned();
    cmd.arg("verify").arg(registry).arg("--json");
    if repair {
        cmd.arg("--repair");
    }
    let run = run_lossy(&mut cmd);
    let report = serde_json::from_str(&run.stdout).ok();
    (run, report)
}

/// Every problem verify reports (none when it could not report).
fn problems(report: &Option<VerifyReport>) -> Vec<Problem> {
    report
        .as_ref()
        .map(|r| r.problems.clone())
        .unwrap_or_default()
}

/// Verify ran and found nothing wrong.
fn clean(run: &Run, report: &Option<VerifyReport>) -> bool {
    run.code == 0 && report.as_ref().is_some_and(VerifyReport::ok)
}

fn assert_verifies_clean(registry: &Path, context: &str) {
    let (run, report) = verify(registry, false);
    assert!(
        clean(&run, &report),
        "{context}: verify is not clean\n{run}"
    );
}

fn listed_versions(registry: &Path) -> Vec<String> {
    let bytes = match fs::read(registry.join("index.json")) {
        Ok(b) => b,
        Err(_) => return Vec::new(),
    };
    let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    index["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect()
}

/// Every file and symlink below `dir`: relative path → its bytes (or `-> target`).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(root, &p, out);
            } else if ft.is_symlink() {
                let target = fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", target.display()).into_bytes());
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    context: &str,
) {
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "{context}: the registry changed\n  added: {added:?}\n  removed: {removed:?}\n  changed: {changed:?}"
    );
}

fn reset_dir(pristine: &Path, dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    cp_a(pristine, dir);
}

// --- SIGKILL at random moments --------------------------------------------------------------

/// What a kill interrupted, judged from what it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Nothing was written yet (loading, linting, diffing).
    Nothing,
    /// Blobs (or their temporary files) were written.
    Blobs,
    /// A staging directory was left.
    Staging,
    /// The version directory or tarball was renamed into place, the index not yet.
    Renamed,
    /// The index lists the version; the static npm packument is not rewritten yet.
    IndexBeforePackument,
    /// The index and the packument are written (killed during the changelog or exit).
    Committed,
    /// The publish had finished before the kill.
    Finished,
}

/// The stage a kill left the registry in, after checking that verify reports nothing but garbage
/// (or, once the index lists the new version, at most the packument that follows it).
fn judge(registry: &Path, context: &str) -> Stage {
    let (run, report) = verify(registry, false);
    assert!(
        run.code == 0 || run.code == 1,
        "{context}: verify could not run\n{run}"
    );
    let listed = listed_versions(registry);
    assert!(
        listed == ["1.0.0"] || listed == ["1.0.0", "1.1.0"],
        "{context}: index lists {listed:?}"
    );
    let found = problems(&report);
    let indexed = listed.len() == 2;
    let mut packument_lag = false;
    for Problem {
        path,
        kind,
        message,
    } in &found
    {
        if *kind == ProblemKind::Garbage {
            continue;
        }
        // The packument is replaced right after the index (registry.rs: "Derived files follow
        // the index"); a kill between the two renames leaves the previous packument, which the
        // rerun of the same publish rewrites.
        if indexed && path == PACKUMENT && *kind == ProblemKind::Corrupt {
            packument_lag = true;
            continue;
        }
        panic!("{context}: verify reports `{path}`: {kind:?}: {message}\n{run}");
    }
    if indexed {
        return if packument_lag {
            Stage::IndexBeforePackument
        } else {
            Stage::Committed
        };
    }
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    if paths
        .iter()
        .any(|p| *p == "v/1.1.0" || p.ends_with("-1.1.0.tgz"))
    {
        Stage::Renamed
    } else if paths.iter().any(|p| p.starts_with(".staging-")) {
        Stage::Staging
    } else if paths.iter().any(|p| p.starts_with("blobs/")) {
        Stage::Blobs
    } else {
        Stage::Nothing
    }
}

/// Whether a staging directory exists in `registry` (the commit has begun).
fn staging_exists(registry: &Path) -> bool {
    fs::read_dir(registry).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".staging-"))
    })
}

/// Poll (about every 0.2 ms) until `done` or `limit`; returns the time waited.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !done() && t0.elapsed() < limit {
        std::thread::sleep(Duration::from_micros(200));
    }
    t0.elapsed()
}

#[test]
fn sigkill_during_publish_leaves_only_garbage() {
    let iterations = env_u64("KBREL_FAULT_ITERATIONS").unwrap_or(12);
    let seed = env_seed("KBREL_FAULT_SEED");
    eprintln!("fault test: {iterations} iterations, KBREL_FAULT_SEED={seed}");
    let mut rng = Rng(seed | 1);

    let kb = Kb::synth(150);
    let pristine = kb.path("pristine");
    let run = publish(&kb, "v1", &pristine, "1.0.0");
    assert_eq!(run.code, 0, "publish 1.0.0\n{run}");
    let changelog_v1 = fs::read(kb.path("CHANGELOG.md")).unwrap();
    let registry = kb.path("registry");

    // One complete publish, to spread the kills over its whole duration: how long it takes, and
    // when its commit (the staging directory) begins.
    reset_dir(&pristine, &registry);
    let t0 = Instant::now();
    let mut child = publish_cmd(&kb, "v2", &registry, "1.1.0")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let version_dir = registry.join("v/1.1.0");
    let mut exited = false;
    let mut running = |child: &mut std::process::Child| {
        exited = exited || child.try_wait().unwrap().is_some();
        !exited
    };
    let commit_starts = wait_for(Duration::from_secs(120), || {
        staging_exists(&registry) || !running(&mut child)
    });
    let renames_start = commit_starts
        + wait_for(Duration::from_secs(120), || {
            version_dir.exists() || !running(&mut child)
        });
    let status = child.wait().unwrap();
    let full = t0.elapsed();
    assert!(status.success(), "publish 1.1.0: {status}");
    assert_verifies_clean(&registry, "after an uninterrupted publish");
    let complete = snapshot(&registry);
    eprintln!(
        "fault test: one publish of 1.1.0 takes {full:?}; its commit starts after {commit_starts:?}, its renames after {renames_start:?}"
    );

    let mut stages: BTreeMap<Stage, u32> = BTreeMap::new();
    for i in 0..iterations {
        reset_dir(&pristine, &registry);
        fs::write(kb.path("CHANGELOG.md"), &changelog_v1).unwrap();
        let mut child = publish_cmd(&kb, "v2", &registry, "1.1.0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A random moment anywhere in the publish; or, every third time each, in its commit
        // (from the staging directory on) and in its renames (from `v/1.1.0` on): those last
        // a few milliseconds, which a uniform delay rarely hits.
        let (anchor, from): (Option<&dyn Fn() -> bool>, Duration) = match i % 3 {
            0 => (None, Duration::ZERO),
            1 => (Some(&|| staging_exists(&registry)), commit_starts),
            _ => (Some(&|| version_dir.exists()), renames_start),
        };
        let waited = match anchor {
            Some(seen) => wait_for(full * 3, seen),
            None => Duration::ZERO,
        };
        let span = full.saturating_sub(from).mul_f64(1.05);
        let extra = Duration::from_micros(rng.below(span.as_micros() as u64));
        std::thread::sleep(extra);
        let delay = waited + extra;
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let status = child.wait().unwrap();
        let context =
            format!("iteration {i} (KBREL_FAULT_SEED={seed}, killed after {delay:?}, {status})");
        if finished {
            assert!(status.success(), "{context}: the publish failed on its own");
        }
        let stage = judge(&registry, &context);
        *stages
            .entry(if finished { Stage::Finished } else { stage })
            .or_default() += 1;

        // The same publish again completes and removes what the killed one left.
        let run = publish(&kb, "v2", &registry, "1.1.0");
        assert_eq!(run.code, 0, "{context}: the rerun failed\n{run}");
        assert_verifies_clean(&registry, &format!("{context}, after the rerun"));
        // The same bytes as the uninterrupted publish (same content, same date).
        let now = snapshot(&registry);
        let differs: Vec<&String> = complete
            .keys()
            .chain(now.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| complete.get(*k) != now.get(*k))
            .collect();
        assert!(
            differs.is_empty(),
            "{context}: the rerun left a registry that differs from an uninterrupted publish: {differs:?}"
        );
        let changelog = fs::read_to_string(kb.path("CHANGELOG.md")).unwrap();
        assert_eq!(
            changelog.matches("## [1.1.0]").count(),
            1,
            "{context}: the changelog has no or two 1.1.0 sections"
        );
    }
    eprintln!("fault test: kills by stage reached: {stages:?}");
}

// --- injected I/O errors --------------------------------------------------------------------

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Makes a path unmodifiable (`chattr +i` as root, else read-only permission bits) and undoes
/// it on drop, so the temporary folder can always be removed.
struct Frozen {
    path: PathBuf,
    chattr: bool,
}

impl Frozen {
    /// `None` when neither works here (the case is skipped with a note).
    fn new(path: &Path) -> Option<Frozen> {
        if is_root() {
            let ok = Command::new("chattr")
                .arg("+i")
                .arg(path)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!(
                    "note: `chattr +i {}` failed (no chattr, or the filesystem has no immutable flag); skipping",
                    path.display()
                );
                return None;
            }
            return Some(Frozen {
                path: path.to_path_buf(),
                chattr: true,
            });
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() { 0o555 } else { 0o444 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).ok()?;
        if path.is_file() {
            // A read-only file can still be replaced by rename: only a read-only parent stops it.
            eprintln!(
                "note: not root, so `{}` cannot be made unreplaceable; skipping",
                path.display()
            );
            fs::set_permissions(path, fs::Permissions::from_mode(0o644)).ok()?;
            return None;
        }
        Some(Frozen {
            path: path.to_path_buf(),
            chattr: false,
        })
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.chattr {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let mode = if self.path.is_dir() { 0o755 } else { 0o644 };
            let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(mode));
        }
    }
}

/// A small knowledge base with 1.0.0 published, for the I/O error cases.
fn small_published() -> (Kb, PathBuf) {
    let kb = Kb::synth(12);
    let registry = kb.path("registry");
    let run = publish(&kb, "v1", &registry, "1.0.0");
    assert_eq!(run.code, 0, "publish 1.0.0\n{run}");
    (kb, registry)
}

/// Publish 1.1.0 with `fault` in place: exit 2 naming `needle`, the registry unchanged; after
/// `fault` is undone, verify is clean and the publish succeeds.
fn refused_cleanly<F>(what: &str, needle: &str, fault: impl FnOnce(&Path) -> Option<F>) {
    let (kb, registry) = small_published();
    let Some(guard) = fault(&registry) else {
        return;
    };
    let before = snapshot(&registry);
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(run.code, 2, "{what}: expected exit 2\n{run}");
    assert!(
        run.stderr.contains(needle),
        "{what}: the error does not name `{needle}`\n{run}"
    );
    assert!(!run.stderr.contains("panicked"), "{what}\n{run}");
    assert_same(&before, &snapshot(&registry), what);
    assert_eq!(listed_versions(&registry), ["1.0.0"], "{what}");
    drop(guard);
    let (run, report) = verify(&registry, true);
    assert!(
        clean(&run, &report),
        "{what}: verify after the failure\n{run}"
    );
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(
        run.code, 0,
        "{what}: publish after the fault is gone\n{run}"
    );
    assert_verifies_clean(&registry, what);
}

#[test]
fn unwritable_version_folder_changes_nothing() {
    refused_cleanly("unwritable v/", "v/1.1.0", |reg| {
        Frozen::new(&reg.join("v"))
    });
}

#[test]
fn unwritable_blob_folder_changes_nothing() {
    // The fan-out folder of a document that 1.1.0 adds.
    refused_cleanly("unwritable blob folder", "blobs/sha256/", |reg| {
        let kb_new = new_blob_folder(reg);
        Frozen::new(&kb_new)
    });
}

#[test]
fn unwritable_blob_store_changes_nothing() {
    // Blobs whose fan-out folder does not exist yet are written into a folder staged whole,
    // then renamed into `blobs/sha256/`: that rename is what fails here.
    refused_cleanly("unwritable blob store", "blobs/sha256/", |reg| {
        let store = reg.join("blobs/sha256");
        let fresh_folders = new_blobs(reg)
            .iter()
            .filter(|sha| !store.join(&sha[..2]).exists())
            .count();
        assert!(
            fresh_folders > 0,
            "1.1.0 adds no blob in a new fan-out folder"
        );
        Frozen::new(&store)
    });
}

/// The fan-out folder (existing, so it can be frozen) of some blob that 1.1.0 adds.
fn new_blob_folder(registry: &Path) -> PathBuf {
    let fresh = new_blobs(registry);
    let dir = registry.join("blobs/sha256").join(&fresh[0][..2]);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The blobs (sha256) that publishing 1.1.0 adds. The names come from the evolved content
/// itself, hashed as kbrel hashes documents.
fn new_blobs(registry: &Path) -> Vec<String> {
    let existing: BTreeSet<String> = snapshot(&registry.join("blobs/sha256"))
        .keys()
        .map(|k| k.replace('/', ""))
        .collect();
    let kb_dir = registry.parent().unwrap();
    let cfg = kbrel::config::Config::load(&kb_dir.join("kbrel.toml")).unwrap();
    let kb = kbrel::content::load_dir(&cfg, &kb_dir.join("v2")).unwrap();
    let fresh: Vec<String> = kb
        .documents
        .iter()
        .map(|d| d.sha256.clone())
        .filter(|s| !existing.contains(s))
        .collect();
    assert!(!fresh.is_empty(), "1.1.0 adds no document");
    fresh
}

#[test]
fn unreplaceable_index_changes_nothing() {
    refused_cleanly("unreplaceable index.json", "index.json", |reg| {
        Frozen::new(&reg.join("index.json"))
    });
}

#[test]
fn a_folder_where_the_tarball_goes_changes_nothing() {
    let (kb, registry) = small_published();
    let squatter = registry.join(format!("{NAME}-1.1.0.tgz"));
    fs::create_dir_all(squatter.join("inside")).unwrap();
    let before = snapshot(&registry);
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&format!("{NAME}-1.1.0.tgz")), "{run}");
    assert_same(
        &before,
        &snapshot(&registry),
        "tarball destination is a folder",
    );
    assert_eq!(listed_versions(&registry), ["1.0.0"]);
    // The squatting folder is an unreferenced tarball name: garbage that --repair removes.
    let (run, report) = verify(&registry, false);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        problems(&report)
            .iter()
            .all(|p| p.kind == ProblemKind::Garbage && p.path.ends_with("-1.1.0.tgz")),
        "{run}"
    );
    let (run, _) = verify(&registry, true);
    assert_eq!(run.code, 0, "{run}");
    assert!(!squatter.exists());
    assert_eq!(publish(&kb, "v2", &registry, "1.1.0").code, 0);
    assert_verifies_clean(&registry, "after the rerun");
}

#[test]
fn a_folder_where_the_packument_goes_changes_nothing() {
    let (kb, registry) = small_published();
    let packument = registry.join(PACKUMENT);
    fs::remove_file(&packument).unwrap();
    fs::create_dir_all(packument.join("inside")).unwrap();
    let before = snapshot(&registry);
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains(&format!("registry/{PACKUMENT}`")) && run.stderr.contains("directory"),
        "{run}"
    );
    assert_same(
        &before,
        &snapshot(&registry),
        "packument destination is a folder",
    );
    assert_eq!(listed_versions(&registry), ["1.0.0"]);
}

#[test]
fn index_json_replaced_by_a_folder_is_refused() {
    let (kb, registry) = small_published();
    let index = registry.join("index.json");
    fs::remove_file(&index).unwrap();
    fs::create_dir_all(index.join("inside")).unwrap();
    let before = snapshot(&registry);
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("index.json"), "{run}");
    assert_same(&before, &snapshot(&registry), "index.json is a folder");
    let (run, _) = verify(&registry, false);
    assert_eq!(
        run.code, 2,
        "verify of a registry whose index is a folder\n{run}"
    );
    assert!(run.stderr.contains("index.json"), "{run}");
    let (run, _) = verify(&registry, true);
    assert_eq!(
        run.code, 2,
        "--repair must not touch a registry without a readable index\n{run}"
    );
    assert_same(&before, &snapshot(&registry), "verify --repair");
}

/// The packument cannot be replaced after the index was written: the version is published and
/// complete (its blobs must survive), the error says so, and rerunning the publish repairs the
/// packument.
#[test]
fn a_failure_after_the_index_keeps_the_release_complete() {
    let (kb, registry) = small_published();
    let Some(guard) = Frozen::new(&registry.join(PACKUMENT)) else {
        return;
    };
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(PACKUMENT), "{run}");
    // The message says the version is published and that a rerun completes it.
    assert!(run.stderr.contains("1.1.0 is published"), "{run}");
    assert!(run.stderr.contains("re-run the same publish"), "{run}");
    assert_eq!(listed_versions(&registry), ["1.0.0", "1.1.0"]);
    let (run, report) = verify(&registry, false);
    for p in problems(&report) {
        assert!(
            p.path == PACKUMENT && p.kind == ProblemKind::Corrupt,
            "only the packument may lag behind the index: {p:?}\n{run}"
        );
    }
    drop(guard);
    let run = publish(&kb, "v2", &registry, "1.1.0");
    assert_eq!(run.code, 0, "{run}");
    assert_verifies_clean(&registry, "after the rerun");
}

/// A tmpfs mount that is unmounted (lazily) on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        fs::create_dir_all(dir).unwrap();
        let ok = is_root()
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "note: cannot mount a tmpfs at {} (needs root); skipping",
                dir.display()
            );
            return None;
        }
        Some(Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_filesystem_changes_nothing() {
    // 1.0.0 is small and fits; 1.1.0 is the 300-document knowledge base (about 2.5 MB of blobs
    // and tarball) and does not fit into 2 MiB.
    let small = Kb::synth(4);
    let big = Kb::synth(150);
    let Some(_mount) = Mount::tmpfs(&small.path("small-fs"), "2m") else {
        return;
    };
    let registry = small.path("small-fs/registry");
    let run = publish(&small, "v1", &registry, "1.0.0");
    assert_eq!(run.code, 0, "{run}");
    let before = snapshot(&registry);
    let run = publish(&big, "v1", &registry, "1.1.0");
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("No space left on device"),
        "the error should say why\n{run}"
    );
    assert!(
        run.stderr.contains(&registry.display().to_string()),
        "{run}"
    );
    assert_eq!(listed_versions(&registry), ["1.0.0"]);
    assert_same(&before, &snapshot(&registry), "full filesystem");
    assert_verifies_clean(&registry, "after ENOSPC");
    let (run, _) = verify(&registry, true);
    assert_eq!(run.code, 0, "{run}");
}

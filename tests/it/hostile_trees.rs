//! Hostile trees (issue #21, classes 1, 2, 4 and 7): links planted in a registry or a sync
//! cache, folders that are not registries, and special files (FIFOs) where kbrel reads.
//!
//! Every case asserts that nothing outside the root changed (a snapshot of the `outside/`
//! folder and of the content tree, links included, before and after), the exit code, and that
//! the message names the offending path. Runs that could hang run under a deadline and fail
//! the test when they exceed it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The `kbrel` binary, without the environment kbrel reads.
fn kbrel_unsigned() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kbrel"));
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("KBREL_SIGN_KEY")
        .stdin(Stdio::null());
    cmd
}

const CONFIG: &str = r#"[package]
name = "trees-kb"
description = "Knowledge base of tests/hostile_trees.rs."
license = "MIT"

[content]
root = "content"
languages = ["en", "zh"]
source_language = "en"
pairing = "path"
required_fields = []

[registry]
dir = "registry"
"#;

/// The outcome of one bounded run.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    fn brief(&self) -> String {
        let cut = |s: &str| s.chars().take(3000).collect::<String>();
        format!(
            "exit {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.took,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

/// Run `cmd` with a deadline: a run that exceeds it is killed and reported as exit -1.
fn run_within(cmd: &mut Command, deadline: Duration) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-2);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code,
        stdout: String::from_utf8_lossy(&fs::read(&o).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&e).unwrap()).into_owned(),
        took: started.elapsed(),
    }
}

/// Every folder, file and link below `dir` (links as `-> target`, never followed).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = fs::read_link(&p).unwrap_or_default();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &p, out);
            } else if ft.is_file() {
                out.insert(rel, fs::read(&p).unwrap());
            } else {
                out.insert(rel, b"(special)".to_vec());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>, what: &str) {
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "{what}: changed {changed:?}");
}

fn doc(title: &str, extra: &str) -> String {
    format!("---\ntitle: {title}\n---\n\n# {title}\n\nText.{extra}\n")
}

/// `tmp/kb` (kbrel.toml, content, registry with 1.0.0 published) and `tmp/outside`, a folder
/// of files shaped like kbrel's garbage that no command may touch.
struct Project {
    _tmp: TempDir,
    kb: PathBuf,
    outside: PathBuf,
}

/// 62 hex digits: the name a blob has inside its fan-out folder.
const BLOB_REST: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddee";

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let kb = tmp.path().join("kb");
        let outside = tmp.path().join("outside");
        for d in ["content/en", "content/zh"] {
            fs::create_dir_all(kb.join(d)).unwrap();
        }
        fs::write(kb.join("kbrel.toml"), CONFIG).unwrap();
        fs::write(kb.join("content/en/ok.md"), doc("Ok", "")).unwrap();
        fs::write(kb.join("content/zh/ok.md"), doc("好", "")).unwrap();
        // The outside world: a fan-out-like folder, a store-like folder, files named like
        // tarballs, temporary blobs, versions and staging folders.
        for d in [
            "fan",
            "store/ab",
            "blobsdir/sha256/ab",
            "vdir",
            "staging/v",
            "v/9.9.9",
        ] {
            fs::create_dir_all(outside.join(d)).unwrap();
        }
        for f in [
            format!("fan/{BLOB_REST}"),
            "fan/.0011.tmp-1".to_string(),
            format!("store/ab/{BLOB_REST}"),
            format!("blobsdir/sha256/ab/{BLOB_REST}"),
            "file.tgz".into(),
            "victim.txt".into(),
            "vdir/manifest.json".into(),
            "staging/v/manifest.json".into(),
            "v/9.9.9/manifest.json".into(),
        ] {
            fs::write(outside.join(f), b"not kbrel's").unwrap();
        }
        let p = Project {
            _tmp: tmp,
            kb,
            outside,
        };
        let out = p.publish("1.0.0");
        assert_eq!(out.code, 0, "publish 1.0.0\n{}", out.brief());
        p
    }

    fn reg(&self) -> PathBuf {
        self.kb.join("registry")
    }

    fn cmd(&self) -> Command {
        let mut cmd = kbrel_unsigned();
        cmd.current_dir(&self.kb)
            .arg("--config")
            .arg(self.kb.join("kbrel.toml"));
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        run_within(self.cmd().args(args), Duration::from_secs(60))
    }

    fn publish(&self, version: &str) -> Out {
        self.run(&[
            "publish",
            version,
            "--no-tag",
            "--date",
            "2026-11-25",
            "--quiet",
        ])
    }

    fn edit_content(&self) {
        fs::write(self.kb.join("content/en/ok.md"), doc("Ok", "\n\nEdited.")).unwrap();
        fs::write(self.kb.join("content/en/new.md"), doc("New", "")).unwrap();
        fs::write(self.kb.join("content/zh/new.md"), doc("新", "")).unwrap();
    }

    /// The world outside the registry: `outside/` and the content tree.
    fn world(&self) -> BTreeMap<String, Vec<u8>> {
        let mut w = snapshot(&self.outside);
        for (k, v) in snapshot(&self.kb.join("content")) {
            w.insert(format!("content/{k}"), v);
        }
        w
    }
}

/// A fan-out folder that exists in the registry (the first blob's).
fn some_fanout(reg: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(reg.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.remove(0)
}

/// Move a real folder of the registry out to `outside/<name>` and leave a link in its place.
fn move_out(reg: &Path, rel: &str, outside: &Path, name: &str) {
    let to = outside.join(name);
    fs::rename(reg.join(rel), &to).unwrap();
    symlink(&to, reg.join(rel)).unwrap();
}

/// A link shape: its name, the path (relative to the registry) the message must name, and
/// how to plant it.
type Plant = fn(&Project) -> String;

fn link_shapes() -> Vec<(&'static str, Plant)> {
    vec![
        ("fan-out folder linked to an outside folder", |p| {
            symlink(p.outside.join("fan"), p.reg().join("blobs/sha256/zz")).unwrap();
            "blobs/sha256/zz".into()
        }),
        ("fan-out folder linked relatively to content/en", |p| {
            symlink("../../../content/en", p.reg().join("blobs/sha256/cc")).unwrap();
            "blobs/sha256/cc".into()
        }),
        ("blobs/sha256 linked to an outside store", |p| {
            // The real store moves out (with an outside file beside the real blobs).
            let aa = some_fanout(&p.reg());
            fs::write(p.reg().join(format!("blobs/sha256/{aa}/{BLOB_REST}")), b"x").unwrap();
            move_out(&p.reg(), "blobs/sha256", &p.outside, "moved-store");
            "blobs/sha256".into()
        }),
        ("blobs linked to an outside folder", |p| {
            move_out(&p.reg(), "blobs", &p.outside, "moved-blobs");
            "blobs".into()
        }),
        ("v linked to an outside folder", |p| {
            fs::create_dir_all(p.reg().join("v/9.9.9")).unwrap();
            move_out(&p.reg(), "v", &p.outside, "moved-v");
            "v".into()
        }),
        ("unlisted version linked to an outside folder", |p| {
            symlink(p.outside.join("vdir"), p.reg().join("v/9.9.9")).unwrap();
            "v/9.9.9".into()
        }),
        ("unreferenced tarball linked to an outside file", |p| {
            symlink(p.outside.join("file.tgz"), p.reg().join("old-0.1.0.tgz")).unwrap();
            "old-0.1.0.tgz".into()
        }),
        ("blob-shaped entry linked to an outside file", |p| {
            let aa = some_fanout(&p.reg());
            let rel = format!("blobs/sha256/{aa}/{BLOB_REST}");
            symlink(p.outside.join("victim.txt"), p.reg().join(&rel)).unwrap();
            rel
        }),
        (
            "temporary-blob-shaped entry linked to an outside file",
            |p| {
                let aa = some_fanout(&p.reg());
                let rel = format!("blobs/sha256/{aa}/.0011.tmp-1");
                symlink(p.outside.join("victim.txt"), p.reg().join(&rel)).unwrap();
                rel
            },
        ),
        ("staging folder linked to an outside folder", |p| {
            symlink(p.outside.join("staging"), p.reg().join(".staging-1")).unwrap();
            ".staging-1".into()
        }),
    ]
}

/// `verify --repair` and publish's leftover clean-up, for every link shape: nothing outside
/// the registry is removed, and the link is reported by path.
#[test]
fn no_removal_follows_a_link_out_of_the_registry() {
    let mut failures = Vec::new();
    for (what, plant) in link_shapes() {
        for removal in ["verify --repair", "publish"] {
            let p = Project::new();
            let named = plant(&p);
            let before = p.world();
            let out = match removal {
                "verify --repair" => p.run(&["verify", "--repair", "--json"]),
                _ => {
                    p.edit_content();
                    let b = p.world();
                    let out = p.publish("1.1.0");
                    // The edit is ours: compare from after it.
                    let after = p.world();
                    let changed: Vec<&String> = b
                        .keys()
                        .chain(after.keys())
                        .filter(|k| b.get(*k) != after.get(*k))
                        .collect();
                    if !changed.is_empty() {
                        failures.push(format!(
                            "[{what}] publish changed {changed:?}\n{}",
                            out.brief()
                        ));
                    }
                    out
                }
            };
            if removal == "verify --repair" {
                let after = p.world();
                let changed: Vec<&String> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|k| before.get(*k) != after.get(*k))
                    .collect();
                if !changed.is_empty() {
                    failures.push(format!(
                        "[{what}] verify --repair changed {changed:?}\n{}",
                        out.brief()
                    ));
                }
                // The link is reported (exit 1), by path, as something to fix by hand.
                let reported = serde_json::from_str::<kbrel::verify::VerifyReport>(&out.stdout)
                    .is_ok_and(|r| {
                        r.problems.iter().any(|p| {
                            p.path == named
                                && p.kind == kbrel::verify::ProblemKind::Foreign
                                && p.message.contains("symbolic link")
                        })
                    });
                if out.code != 1 || !reported {
                    failures.push(format!(
                        "[{what}] verify --repair must report `{named}` as a symbolic link\n{}",
                        out.brief()
                    ));
                }
            } else if !(out.code == 0 || out.code == 2 && out.all().contains(&named)) {
                failures.push(format!(
                    "[{what}] publish: exit 0, or exit 2 naming `{named}`\n{}",
                    out.brief()
                ));
            }
            // The link itself is still there (nobody removed it either).
            if fs::symlink_metadata(p.reg().join(&named)).is_err() {
                failures.push(format!("[{what}] {removal} removed the link `{named}`"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A publish refuses to write through a linked store before it writes anything.
#[test]
fn publish_refuses_a_linked_blob_store_before_writing() {
    let p = Project::new();
    move_out(&p.reg(), "blobs/sha256", &p.outside, "moved-store");
    p.edit_content();
    let reg_before = snapshot(&p.reg());
    let world = p.world();
    let out = p.publish("1.1.0");
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(
        out.stderr.contains("blobs/sha256") && out.stderr.contains("symbolic link"),
        "{}",
        out.brief()
    );
    assert_same(&world, &p.world(), "outside");
    let mut after = snapshot(&p.reg());
    after.remove(".lock");
    let mut before = reg_before;
    before.remove(".lock");
    assert_same(&before, &after, "the registry");
}

// --- class 2: a registry is recognised before anything in it is changed ---------------------

/// A folder that is not a registry (no index.json) but holds look-alikes: `verify` and
/// `verify --repair` refuse it with exit 2 and change nothing (not even a lock file).
#[test]
fn a_folder_without_index_json_is_not_a_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not-a-registry");
    for d in ["v/1.0.0", "blobs/sha256/ab", ".staging-7"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::write(dir.join("photos.tgz"), b"my backup").unwrap();
    fs::write(dir.join("v/1.0.0/notes.txt"), b"mine").unwrap();
    fs::write(dir.join(format!("blobs/sha256/ab/{BLOB_REST}")), b"mine").unwrap();
    let before = snapshot(&dir);
    for args in [
        &["verify"][..],
        &["verify", "--repair"],
        &["verify", "--repair", "--json"],
    ] {
        let mut cmd = kbrel_unsigned();
        cmd.current_dir(tmp.path()).args(args).arg(&dir);
        let out = run_within(&mut cmd, Duration::from_secs(60));
        assert_eq!(out.code, 2, "{args:?}\n{}", out.brief());
        assert!(
            out.stderr.contains("no index.json") && out.stderr.contains("not-a-registry"),
            "{args:?}\n{}",
            out.brief()
        );
        // A refusal prints no report, not even an empty one a script could take for "ok".
        assert_eq!(out.stdout, "", "{args:?}");
        assert_same(&before, &snapshot(&dir), &format!("{args:?}"));
    }
}

/// `--repair` refuses a registry whose index does not parse, or names another package than
/// kbrel.toml, and writes nothing (not even the lock file); plain verify reports it.
#[test]
fn repair_refuses_an_unrecognised_registry() {
    type Edit = (&'static str, fn(&Path), &'static str);
    let edits: [Edit; 2] = [
        (
            "index names another package",
            |reg| {
                let p = reg.join("index.json");
                let t = fs::read_to_string(&p)
                    .unwrap()
                    .replace("\"trees-kb\"", "\"other-kb\"");
                fs::write(p, t).unwrap();
            },
            "other-kb",
        ),
        (
            "index is not JSON",
            |reg| fs::write(reg.join("index.json"), b"{").unwrap(),
            "index.json",
        ),
    ];
    for (what, edit, needle) in edits {
        let p = Project::new();
        fs::remove_file(p.reg().join(".lock")).unwrap();
        fs::write(p.reg().join("stray-0.0.1.tgz"), b"x").unwrap();
        edit(&p.reg());
        let before = snapshot(&p.reg());
        let out = p.run(&["verify", "--repair"]);
        assert_eq!(out.code, 2, "[{what}]\n{}", out.brief());
        assert!(
            out.stderr.contains("refusing to repair") && out.all().contains(needle),
            "[{what}]\n{}",
            out.brief()
        );
        assert_same(&before, &snapshot(&p.reg()), what);
        let out = p.run(&["verify"]);
        assert_eq!(
            out.code,
            1,
            "[{what}] plain verify reports it\n{}",
            out.brief()
        );
        assert!(out.all().contains(needle), "[{what}]\n{}", out.brief());
    }
}

/// `registry.dir` can be neither the project root nor a folder holding the content.
#[test]
fn registry_dir_must_be_a_folder_of_its_own() {
    let p = Project::new();
    let root_before = snapshot(&p.kb);
    for (dir, needle) in [
        (".", "project root"),
        ("./", "project root"),
        ("", "project root"),
        ("content/..", "project root"),
        ("content", "contains content.root"),
        ("content/../content", "contains content.root"),
    ] {
        let cfg = CONFIG.replace("dir = \"registry\"", &format!("dir = \"{dir}\""));
        fs::write(p.kb.join("kbrel.toml"), cfg).unwrap();
        for args in [
            &["verify", "--repair"][..],
            &["publish", "2.0.0", "--no-tag"],
            &["check"],
        ] {
            let out = p.run(args);
            assert_eq!(
                out.code,
                2,
                "registry.dir = {dir:?}: {args:?}\n{}",
                out.brief()
            );
            assert!(
                out.stderr.contains("registry.dir") && out.stderr.contains(needle),
                "registry.dir = {dir:?}: {args:?}\n{}",
                out.brief()
            );
        }
    }
    fs::write(p.kb.join("kbrel.toml"), CONFIG).unwrap();
    assert_same(&root_before, &snapshot(&p.kb), "the project");
}

// --- class 7: the same in consumers' caches ------------------------------------------------

fn sync_into(p: &Project, cache: &Path) -> Out {
    p.run(&[
        "sync",
        "--from",
        p.reg().to_str().unwrap(),
        "--into",
        cache.to_str().unwrap(),
        "--quiet",
    ])
}

#[test]
fn sync_never_collects_garbage_through_a_link() {
    type CachePlant = fn(&Path, &Path) -> String;
    let shapes: Vec<(&str, CachePlant)> = vec![
        ("object fan-out folder linked outside", |cache, outside| {
            symlink(outside.join("fan"), cache.join(".kbrel/objects/zz")).unwrap();
            ".kbrel/objects/zz".into()
        }),
        ("objects linked outside", |cache, outside| {
            let to = outside.join("moved-objects");
            fs::rename(cache.join(".kbrel/objects"), &to).unwrap();
            fs::create_dir_all(to.join("ab")).unwrap();
            fs::write(to.join(format!("ab/{BLOB_REST}")), b"mine").unwrap();
            symlink(&to, cache.join(".kbrel/objects")).unwrap();
            ".kbrel/objects".into()
        }),
        ("trees linked outside", |cache, outside| {
            let to = outside.join("moved-trees");
            fs::rename(cache.join(".kbrel/trees"), &to).unwrap();
            symlink(&to, cache.join(".kbrel/trees")).unwrap();
            ".kbrel/trees".into()
        }),
        ("a tree linked relatively to content", |cache, _| {
            symlink(
                "../../../kb/content",
                cache.join(".kbrel/trees/0000000000000000"),
            )
            .unwrap();
            ".kbrel/trees/0000000000000000".into()
        }),
        (
            "object fan-out folder linked relatively to content/en",
            |cache, _| {
                symlink("../../../kb/content/en", cache.join(".kbrel/objects/cc")).unwrap();
                ".kbrel/objects/cc".into()
            },
        ),
    ];
    let mut failures = Vec::new();
    for (what, plant) in shapes {
        let p = Project::new();
        let cache = p.kb.parent().unwrap().join("cache");
        let out = sync_into(&p, &cache);
        assert_eq!(out.code, 0, "first sync\n{}", out.brief());
        p.edit_content();
        let out = p.publish("1.1.0");
        assert_eq!(out.code, 0, "{}", out.brief());
        let named = plant(&cache, &p.outside);
        let before = p.world();
        let out = sync_into(&p, &cache);
        let after = p.world();
        let changed: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        if !changed.is_empty() {
            failures.push(format!(
                "[{what}] sync changed {changed:?} outside the cache\n{}",
                out.brief()
            ));
        }
        if out.code != 2 || !out.stderr.contains(&named) || !out.stderr.contains("symbolic link") {
            failures.push(format!(
                "[{what}] sync must refuse, naming `{named}`\n{}",
                out.brief()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// --- class 4: special files never hang a command -------------------------------------------

fn mkfifo(p: &Path) {
    let _ = fs::remove_file(p);
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {}",
        p.display()
    );
}

/// Where a FIFO goes (relative to the project) and the name the message must contain.
fn fifo_positions(p: &Project) -> Vec<(&'static str, String)> {
    let index: kbrel::manifest::Index = crate::common::read_as(&p.reg().join("index.json"));
    let v = &index.versions[0];
    let manifest: kbrel::manifest::Manifest =
        crate::common::read_as(&p.reg().join(&v.manifest.path));
    let sha = &manifest.documents[0].sha256;
    vec![
        ("index.json", "registry/index.json".into()),
        ("manifest", format!("registry/{}", v.manifest.path)),
        (
            "blob",
            format!("registry/blobs/sha256/{}/{}", &sha[..2], &sha[2..]),
        ),
        ("tarball", format!("registry/{}", v.tarball.path)),
        ("content file", "content/en/ok.md".into()),
        ("changelog", "CHANGELOG.md".into()),
    ]
}

/// Every command that reads a position, with a FIFO there, ends within seconds (not blocked
/// in `open()`), exits 1 or 2 and names the FIFO.
#[test]
fn a_fifo_in_any_position_fails_every_command_fast_naming_it() {
    let commands: Vec<(&str, Vec<&str>, &[&str])> = vec![
        (
            "verify",
            vec!["verify"],
            &["index.json", "manifest", "blob", "tarball"],
        ),
        (
            "diff",
            vec!["diff", "1.0.0"],
            &["index.json", "manifest", "blob", "content file"],
        ),
        (
            "publish",
            vec!["publish", "1.1.0", "--no-tag", "--date", "2026-11-25"],
            &["index.json", "manifest", "content file", "changelog"],
        ),
        ("status", vec!["status"], &["index.json", "content file"]),
        ("changelog", vec!["changelog"], &["index.json", "manifest"]),
        (
            "sync",
            vec!["sync", "--from", "registry", "--into", "../cache"],
            &["index.json", "manifest", "blob"],
        ),
        ("check", vec!["check"], &["content file"]),
    ];
    let mut failures = Vec::new();
    let mut cases = 0;
    for (name, args, positions) in &commands {
        for (pos, rel) in fifo_positions(&Project::new()) {
            if !positions.contains(&pos) {
                continue;
            }
            cases += 1;
            let p = Project::new();
            if *name == "publish" || *name == "diff" {
                // Changed documents: the previous version's blobs are read to count lines.
                p.edit_content();
            }
            fs::write(p.kb.join("CHANGELOG.md"), b"# Changelog\n").unwrap();
            mkfifo(&p.kb.join(&rel));
            let out = run_within(p.cmd().args(args), Duration::from_secs(20));
            let file = Path::new(&rel)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if out.code == -1 {
                failures.push(format!(
                    "[{name} / FIFO as {pos}] still running after 20 s\n{}",
                    out.brief()
                ));
            } else if !(out.code == 1 || out.code == 2)
                || !out.all().contains(&file)
                || !out.all().contains("FIFO")
            {
                failures.push(format!(
                    "[{name} / FIFO as {pos}] must exit 1 or 2 naming `{file}` as a FIFO\n{}",
                    out.brief()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `serve` with a FIFO as a blob or tarball keeps answering (`/index.json` included) and
/// stops on SIGTERM within its grace period; with a FIFO as index.json it refuses to start,
/// naming it, instead of blocking before it binds.
#[test]
fn serve_survives_fifos_and_stops_on_sigterm() {
    use std::io::{Read, Write};
    let p = Project::new();
    let positions = fifo_positions(&p);
    for (pos, rel) in &positions {
        if *pos == "blob" || *pos == "tarball" {
            mkfifo(&p.kb.join(rel));
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = p
        .cmd()
        .args(["serve", "--addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let started = Instant::now();
    while get("/index.json").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pos, rel) in &positions {
        if *pos != "blob" && *pos != "tarball" {
            continue;
        }
        let url = format!("/{}", rel.trim_start_matches("registry/"));
        // Both workers' worth of requests at a FIFO, then the index must still answer.
        for _ in 0..4 {
            let r = get(&url).unwrap_or_default();
            assert!(
                r.starts_with("HTTP/1.1 404") || r.starts_with("HTTP/1.1 503"),
                "{pos}: {url}: {r}"
            );
        }
    }
    let r = get("/index.json").expect("serve still answers");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // SAGTERM: gone within the grace period.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("FIFO"), "the log names the FIFO: {err}");

    // index.json a FIFO: refuses to start, naming it, within seconds.
    mkfifo(&p.reg().join("index.json"));
    let out = run_within(
        p.cmd().args(["serve", "--addr", "127.0.0.1:0"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(
        out.stderr.contains("index.json") && out.stderr.contains("FIFO"),
        "{}",
        out.brief()
    );
}

/// A content tree holding a FIFO, a socket-like special file or a device link: `check`
/// names it instead of skipping it or blocking.
#[test]
fn special_files_in_the_content_tree_are_named() {
    let p = Project::new();
    mkfifo(&p.kb.join("content/en/pipe.md"));
    let out = p.run(&["check"]);
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(
        out.stderr.contains("pipe.md") && out.stderr.contains("FIFO"),
        "{}",
        out.brief()
    );
    fs::remove_file(p.kb.join("content/en/pipe.md")).unwrap();
    // A link to a device inside the content root resolves outside it: refused by the walk;
    // a blob linked to /dev/zero is refused as a device, not read until memory runs out.
    let aa = some_fanout(&p.reg());
    let name = fs::read_dir(p.reg().join(format!("blobs/sha256/{aa}")))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    fs::remove_file(&name).unwrap();
    symlink("/dev/zero", &name).unwrap();
    let out = p.run(&["verify"]);
    assert_eq!(out.code, 1, "{}", out.brief());
    assert!(out.all().contains("device"), "{}", out.brief());
}

// --- classes 3 and 6: names kbrel could not read back, or other systems refuse -------------

/// File names of every character class. `Some(code)`: refused by `check` and `publish` with
/// that lint code naming the file; `None`: published, and read back by verify and sync.
fn name_cases() -> Vec<(String, Option<&'static str>)> {
    let mut cases: Vec<(String, Option<&'static str>)> = vec![
        ("plain-Name_1.md".into(), None),
        ("with space.md".into(), None),
        ("中文 文档.md".into(), None),
        ("😀 emoji.md".into(), None),
        ("punct #%&'+,;=@[]^{}~!$.md".into(), None),
        ("01 第一章/02 小节.md".into(), None),
        ("colon:name.md".into(), Some("KB030")),
        ("back\\slash.md".into(), Some("KB030")),
        ("new\nline.md".into(), Some("KB030")),
        ("tab\tname.md".into(), Some("KB030")),
        ("esc\u{1b}[31m.md".into(), Some("KB030")),
        ("del\u{7f}.md".into(), Some("KB030")),
        ("c1\u{85}.md".into(), Some("KB030")),
        ("CON.md".into(), Some("KB030")),
        ("nul.md".into(), Some("KB030")),
        ("com1.md".into(), Some("KB030")),
        ("LPT9.md".into(), Some("KB030")),
        ("aux/inside.md".into(), Some("KB030")),
        ("trailing dot./x.md".into(), Some("KB030")),
        ("trailing space /x.md".into(), Some("KB030")),
    ];
    for c in ['<', '>', '"', '|', '?', '*'] {
        cases.push((format!("win{c}dows.md"), Some("KB030")));
    }
    cases
}

#[test]
fn every_name_class_is_refused_or_read_back() {
    let mut failures = Vec::new();
    for (name, refused) in name_cases() {
        let Some(code) = refused else { continue };
        let p = Project::new();
        let path = p.kb.join("content/en").join(&name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, doc("Odd", "")).unwrap();
        let file = format!("en/{name}");
        let out = p.run(&["check", "--json"]);
        let found = serde_json::from_str::<crate::common::CheckJson>(&out.stdout)
            .map(|v| v.findings)
            .unwrap_or_default()
            .iter()
            .any(|f| f.code.as_str() == code && f.file == file);
        if out.code != 1 && out.code != 2 || !found {
            failures.push(format!(
                "[{name:?}] check must report {code} for `{file}`\n{}",
                out.brief()
            ));
        }
        let reg_before = snapshot(&p.reg());
        let out = p.publish("1.1.0");
        if out.code != 2 || !out.all().contains(code) {
            failures.push(format!(
                "[{name:?}] publish must refuse with {code}\n{}",
                out.brief()
            ));
        }
        let mut after = snapshot(&p.reg());
        let mut before = reg_before;
        after.remove(".lock");
        before.remove(".lock");
        if before != after {
            failures.push(format!("[{name:?}] a refused publish changed the registry"));
        }
    }
    // Everything accepted at once: published, verified, and read back by sync byte for byte.
    let p = Project::new();
    let mut written = Vec::new();
    for (name, refused) in name_cases() {
        if refused.is_some() {
            continue;
        }
        for lang in ["en", "zh"] {
            let path = p.kb.join("content").join(lang).join(&name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = doc(
                &format!(
                    "{lang} {}",
                    name.replace(['#', '[', ']', '{', '}', '@', '&', '*', '!', '%', '\''], "")
                ),
                "",
            );
            fs::write(&path, &text).unwrap();
            written.push((format!("{lang}/{name}"), text));
        }
    }
    let out = p.publish("1.1.0");
    assert_eq!(out.code, 0, "{failures:?}\n{}", out.brief());
    let out = p.run(&["verify"]);
    assert_eq!(out.code, 0, "verify reads back every name\n{}", out.brief());
    let cache = p.kb.parent().unwrap().join("cache");
    let out = p.run(&[
        "sync",
        "--from",
        "registry",
        "--into",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.brief());
    for (rel, text) in &written {
        match fs::read_to_string(cache.join(rel)) {
            Ok(t) if t == *text => {}
            other => failures.push(format!("sync read back `{rel}` as {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Two names that collide on macOS or Windows (case, NFC/NFD): a KB031 error naming both.
#[test]
fn names_colliding_under_case_or_normalisation_are_errors_naming_both() {
    for (a, b) in [
        ("Guide.md", "guide.md"),
        ("caf\u{e9}.md", "cafe\u{301}.md"),
        ("Dir/x.md", "dir/x.md"),
    ] {
        let p = Project::new();
        for n in [a, b] {
            let path = p.kb.join("content/en").join(n);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, doc(n, "")).unwrap();
        }
        let out = p.run(&["check", "--json"]);
        let findings = serde_json::from_str::<crate::common::CheckJson>(&out.stdout)
            .map(|v| v.findings)
            .unwrap_or_default();
        let hits: Vec<&crate::common::CheckFinding> = findings
            .iter()
            .filter(|f| f.code.as_str() == "KB031")
            .collect();
        let both = |f: &crate::common::CheckFinding| {
            let m = f.message.as_str();
            m.contains(&format!("en/{a}").escape_debug().to_string())
                && m.contains(&format!("en/{b}").escape_debug().to_string())
        };
        assert!(
            hits.len() == 2 && hits.iter().all(|f| both(f)),
            "{a} / {b}\n{}",
            out.brief()
        );
        let out = p.publish("1.1.0");
        assert_eq!(out.code, 2, "{}", out.brief());
    }
}

/// Versions npm cannot read (a number part above 2^53-1) are refused naming the part; the
/// largest readable one is not.
#[test]
fn versions_beyond_javascript_numbers_are_refused() {
    let p = Project::new();
    p.edit_content();
    for v in [
        "9007199254740992.0.0",
        "1.0.9007199254740993",
        "2.0.0-beta.9007199254740992",
    ] {
        let before = snapshot(&p.reg());
        let out = p.publish(v);
        assert_eq!(out.code, 2, "{v}\n{}", out.brief());
        assert!(out.stderr.contains("2^53-1"), "{v}\n{}", out.brief());
        assert_same(&before, &snapshot(&p.reg()), v);
    }
    let out = p.publish("9007199254740991.0.0");
    assert_eq!(out.code, 0, "{}", out.brief());
}

/// Language tags are compared case-insensitively (BCP 47): `en` and `EN` are one language.
#[test]
fn languages_differing_only_in_case_are_one_language() {
    let p = Project::new();
    fs::create_dir_all(p.kb.join("content/EN")).unwrap();
    fs::write(p.kb.join("content/EN/ok.md"), doc("Ok", "")).unwrap();
    let cfg = CONFIG.replace(
        r#"languages = ["en", "zh"]"#,
        r#"languages = ["en", "zh", "EN"]"#,
    );
    fs::write(p.kb.join("kbrel.toml"), cfg).unwrap();
    let out = p.run(&["check"]);
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(
        out.stderr.contains("`en` and `EN`") && out.stderr.contains("case-insensitive"),
        "{}",
        out.brief()
    );
}

// --- class 8: memory chosen by someone else ------------------------------------------------

/// A hostile HTTP registry: the real index and manifest of `p`'s latest release, except that
/// every document claims `claim` bytes; blob requests get `stream` bytes (no length, or a
/// stall after the headers when `stream` is 0). When a blob connection has sent `measure`
/// bytes, the peak RSS (VmHWM) of the process in `pid` is recorded.
struct Hostile {
    addr: String,
    blob_requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    peak_kb: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pid: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

fn hostile_server(p: &Project, claim: u64, stream: u64, measure: u64) -> Hostile {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(p.reg().join("index.json")).unwrap()).unwrap();
    let last = index["versions"].as_array().unwrap().len() - 1;
    let mpath = index["versions"][last]["manifest"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(p.reg().join(&mpath)).unwrap()).unwrap();
    for d in manifest["documents"].as_array_mut().unwrap() {
        d["size"] = claim.into();
    }
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    index["versions"][last]["manifest"]["sha256"] = kbrel::hash::sha256_hex(&mbytes).into();
    index["versions"][last]["manifest"]["size"] = (mbytes.len() as u64).into();
    let ibytes = serde_json::to_vec(&index).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let blob_requests = Arc::new(AtomicUsize::new(0));
    let peak_kb = Arc::new(AtomicU64::new(0));
    let pid = Arc::new(AtomicU32::new(0));
    let (br, pk, pd) = (blob_requests.clone(), peak_kb.clone(), pid.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (ibytes, mbytes, mpath) = (ibytes.clone(), mbytes.clone(), mpath.clone());
            let (br, pk, pd) = (br.clone(), pk.clone(), pd.clone());
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut line = String::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                let ok = |body: &[u8]| {
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(body);
                    out
                };
                if path == "/index.json" {
                    let _ = conn.write_all(&ok(&ibytes));
                } else if path == format!("/{mpath}") {
                    let _ = conn.write_all(&ok(&mbytes));
                } else if path.starts_with("/blobs/sha256/") {
                    br.fetch_add(1, Ordering::SeqCst);
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/markdown\r\nConnection: close\r\n\r\n");
                    if stream == 0 {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                    let chunk = vec![b'x'; 64 << 10];
                    let mut sent = 0u64;
                    while sent < stream {
                        if conn.write_all(&chunk).is_err() {
                            return;
                        }
                        sent += chunk.len() as u64;
                        if sent >= measure && sent < measure + chunk.len() as u64 {
                            let status = fs::read_to_string(format!(
                                "/proc/{}/status",
                                pd.load(Ordering::SeqCst)
                            ))
                            .unwrap_or_default();
                            let kb = status
                                .lines()
                                .find_map(|l| l.strip_prefix("VmHWM:"))
                                .and_then(|v| {
                                    v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                                })
                                .unwrap_or(0);
                            pk.fetch_max(kb, Ordering::SeqCst);
                        }
                    }
                } else {
                    let _ = conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            });
        }
    });
    Hostile {
        addr,
        blob_requests,
        peak_kb,
        pid,
    }
}

fn sync_from(p: &Project, h: &Hostile, extra: &[&str]) -> Out {
    let cache = p.kb.parent().unwrap().join("cache");
    let mut cmd = p.cmd();
    cmd.args([
        "sync",
        "--from",
        &h.addr,
        "--into",
        cache.to_str().unwrap(),
        "--quiet",
    ])
    .args(extra);
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    h.pid.store(child.id(), std::sync::atomic::Ordering::SeqCst);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-2);
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code,
        stdout: String::from_utf8_lossy(&fs::read(&o).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&e).unwrap()).into_owned(),
        took: started.elapsed(),
    }
}

/// Endless bodies within the claimed size stream to disk: four parallel jobs, each 20 MiB into
/// its download, hold a few MB (measured by the server at that point: the client's VmHWM), and
/// the sync fails naming the oversized response.
#[test]
fn sync_memory_does_not_follow_what_a_server_sends() {
    let p = Project::new();
    p.edit_content();
    assert_eq!(p.publish("1.1.0").code, 0);
    let h = hostile_server(&p, 24 << 20, 40 << 20, 20 << 20);
    let out = sync_from(&p, &h, &["--jobs", "4"]);
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(
        out.stderr.contains("larger than the 25165824 bytes"),
        "{}",
        out.brief()
    );
    let peak = h.peak_kb.load(std::sync::atomic::Ordering::SeqCst);
    assert!(peak > 0, "the server measured the client");
    assert!(
        peak < 48 * 1024,
        "peak RSS {peak} kB while four downloads were 20 MiB in"
    );
}

/// An absurd claim is refused before any document is fetched; a stalled body gives up by the
/// documented deadline (`--timeout` per attempt, 4 attempts) naming the document's URL.
#[test]
fn sync_refuses_absurd_claims_and_stalls() {
    let p = Project::new();
    let h = hostile_server(&p, 600 << 20, 1 << 20, u64::MAX);
    let out = sync_from(&p, &h, &[]);
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(
        out.stderr.contains("--max-document-size") && out.stderr.contains("629145600"),
        "{}",
        out.brief()
    );
    assert_eq!(
        h.blob_requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing fetched"
    );
    let h = hostile_server(&p, 100, 0, u64::MAX);
    let out = sync_from(&p, &h, &["--timeout", "1"]);
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(out.took < Duration::from_secs(20), "{}", out.brief());
    assert!(out.stderr.contains("/blobs/sha256/"), "{}", out.brief());
}

// --- class 10: messages that lie or can be forged ------------------------------------------

/// A newline in a file name never starts a line of output of its own (check, verify, publish),
/// and a failed publish does not claim it left the registry untouched.
#[test]
fn untrusted_names_cannot_forge_output_lines() {
    let p = Project::new();
    let forged = "x\nFORGED.md:1: error[KB999]: forged line.md";
    fs::write(p.kb.join("content/en").join(forged), doc("X", "")).unwrap();
    fs::write(p.reg().join("junk\nFORGED: removed.tgz"), b"x").unwrap();
    fs::write(p.reg().join("tab\tname.tgz"), b"x").unwrap();
    let mut outs = vec![p.run(&["check"]), p.run(&["verify"])];
    p.edit_content();
    outs.push(p.publish("1.1.0"));
    for out in &outs {
        assert!(
            out.all().contains("FORGED"),
            "the name is shown\n{}",
            out.brief()
        );
        assert!(
            !out.all().lines().any(|l| l.starts_with("FORGED")),
            "a name started a line\n{}",
            out.brief()
        );
        assert!(!out.all().contains("tab\tname"), "{}", out.brief());
    }
    // A publish that fails after taking the lock (a planted staging link) does not say the
    // registry was not touched.
    fs::remove_file(p.kb.join("content/en").join(forged)).unwrap();
    symlink(p.outside.join("staging"), p.reg().join(".staging-1")).unwrap();
    let out = p.publish("1.1.0");
    assert_eq!(out.code, 2, "{}", out.brief());
    assert!(!out.all().contains("not touched"), "{}", out.brief());
}

/// The same through `--registry`: an absolute path to the project root, or a link to it, is
/// refused by publish before anything is written.
#[test]
fn publish_refuses_the_project_root_whatever_path_names_it() {
    let p = Project::new();
    symlink(&p.kb, p.kb.parent().unwrap().join("root-link")).unwrap();
    let before = snapshot(&p.kb);
    for reg in [
        p.kb.clone(),
        p.kb.parent().unwrap().join("root-link"),
        p.kb.join("content/.."),
    ] {
        let out = p.run(&[
            "--registry",
            reg.to_str().unwrap(),
            "publish",
            "2.0.0",
            "--no-tag",
        ]);
        assert_eq!(out.code, 2, "{}", out.brief());
        assert!(out.stderr.contains("project root"), "{}", out.brief());
    }
    assert_same(&before, &snapshot(&p.kb), "the project");
}

//! Assets are content (#23): images, PDFs and videos below the content root are classified,
//! linted, stored content-addressed, listed in the manifest, packed, diffed and synced.
//! Every file below a content root is a document, an asset, excluded, or reported (KB056).

use std::collections::BTreeSet;
use std::fs;

use crate::common::*;

/// A valid RGB PNG of `w`×`h` pixels whose colour follows `seed` (stored deflate blocks:
/// the bytes barely compress, like a real photograph).
pub fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = crc32fast::Hasher::new();
        c.update(kind);
        c.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&c.finalize().to_be_bytes());
    }
    let mut raw = Vec::new();
    let mut x = (seed as u32).wrapping_mul(2654435761);
    for _ in 0..h {
        // Filter type 0 (none) opens each row.
        raw.extend_from_slice(&[0u8]);
        for _ in 0..w {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            raw.extend_from_slice(&[seed, (x >> 16) as u8, (x >> 24) as u8]);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::none());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The fixture knowledge base with images: one shared folder image linked from both
/// languages (`images/arch.png`), one image per language with the same bytes
/// (`{en,zh}/guide/img/setup.png`, stored once), and a declared downloads folder.
pub fn kb_with_images() -> Kb {
    let kb = Kb::new();
    let cfg = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        cfg.replace("[registry]", "assets = [\"downloads\"]\n\n[registry]"),
    )
    .unwrap();
    kb.write("images/arch.png", png(40, 30, 1));
    kb.write("en/guide/img/setup.png", png(16, 16, 2));
    kb.write("zh/guide/img/setup.png", png(16, 16, 2));
    kb.write("downloads/agent.bin", b"\x7fELF binary payload\n");
    for lang in ["en", "zh"] {
        let intro = format!("{lang}/intro.md");
        let text = kb.read(&intro);
        kb.write(
            &intro,
            format!("{text}\n![architecture](../images/arch.png)\n"),
        );
        let setup = format!("{lang}/guide/setup.md");
        let text = kb.read(&setup);
        kb.write(
            &setup,
            format!(
                "{text}\n![setup](img/setup.png)\n\n<img src=\"../../images/arch.png\" alt=\"\">\n"
            ),
        );
    }
    kb
}

/// `(code, file)` of every finding of `check --json`, and the exit code.
fn check(kb: &Kb) -> (BTreeSet<(String, String)>, i32, CheckJson) {
    let run = run(kb.cmd().args(["check", "--json"]));
    let json: CheckJson = run.parse();
    let got = json
        .findings
        .iter()
        .map(|f| (f.code.to_string(), f.file.clone()))
        .collect();
    (got, run.code, json)
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(c, f)| (c.to_string(), f.to_string()))
        .collect()
}

#[test]
fn linked_and_declared_assets_are_clean() {
    let kb = kb_with_images();
    let (got, code, _) = check(&kb);
    assert_eq!(got, set(&[]));
    assert_eq!(code, 0);
}

/// Nothing is dropped silently: each file that is neither a document, an asset nor excluded
/// is reported once, with its extension; an asset nothing links to is a warning; a link to
/// an ignored file is an error (consumers would get a broken link).
#[test]
fn every_file_is_a_document_an_asset_excluded_or_reported() {
    let kb = kb_with_images();
    kb.write("en/notes.txt", "scratch\n");
    kb.write("zh/guide/Makefile", "all:\n");
    kb.write(
        "README.md",
        "# not a document: outside the language folders\n",
    );
    kb.write("en/img/unused.jpg", png(2, 2, 9));
    kb.write("en/drafts/wip.md", "---\ntitle: x\n---\n\nwip\n");
    kb.write("en/drafts/sketch.psd", "psd");
    let (got, code, json) = check(&kb);
    // en/drafts/wip.md is a document without its translation etc.: exclude the drafts.
    assert!(
        got.contains(&("KB056".into(), "en/drafts/sketch.psd".into())),
        "{got:?}"
    );
    let cfg = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        cfg.replace("[registry]", "exclude = [\"en/drafts/**\"]\n\n[registry]"),
    )
    .unwrap();
    let _ = (code, json);
    let (got, code, json) = check(&kb);
    assert_eq!(
        got,
        set(&[
            ("KB051", "en/img/unused.jpg"),
            ("KB056", "README.md"),
            ("KB056", "en/notes.txt"),
            ("KB056", "zh/guide/Makefile"),
        ])
    );
    assert_eq!(code, 0, "warnings only");
    let messages: Vec<&str> = json.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`.txt` is neither a document nor an asset extension")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("no extension")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("outside the language folders")),
        "{messages:?}"
    );
    // Declaring the extension makes the file an asset (then unreferenced: KB051, not KB056).
    let cfg = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        cfg.replace(
            "[registry]",
            "asset_extensions = [\"png\", \"jpg\", \"txt\"]\n\n[registry]",
        ),
    )
    .unwrap();
    let (got, _, _) = check(&kb);
    assert!(
        got.contains(&("KB051".into(), "en/notes.txt".into())),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|(c, f)| c == "KB056" && f == "en/notes.txt"),
        "{got:?}"
    );
    // A link to an ignored file: KB050, an error.
    kb.write(
        "zh/faq.md",
        format!("{}\n[makefile](guide/Makefile)\n", kb.read("zh/faq.md")),
    );
    let (got, code, _) = check(&kb);
    assert!(
        got.contains(&("KB050".into(), "zh/faq.md".into())),
        "{got:?}"
    );
    assert_eq!(code, 1);
}

/// The bad inputs of assets: a link climbing out of the content root, a symlinked asset, a
/// binary file with `.md`, an asset over `[content] max_asset_size` (a sparse 2 GiB file: its
/// size is read from its metadata and it is never read, so the check is instant).
#[test]
fn asset_bad_inputs_are_findings_naming_the_file() {
    let kb = kb_with_images();
    fs::write(kb.root().join("outside.png"), png(2, 2, 3)).unwrap();
    kb.write(
        "en/faq.md",
        format!("{}\n![out](../../outside.png)\n", kb.read("en/faq.md")),
    );
    std::os::unix::fs::symlink("arch.png", kb.content().join("images/linked.png")).unwrap();
    kb.write(
        "zh/faq.md",
        format!(
            "{}\n![linked](../images/linked.png)\n",
            kb.read("zh/faq.md")
        ),
    );
    let mut binary = b"---\ntitle: x\n---\n".to_vec();
    binary.extend_from_slice(&[0, 1, 2, 0xff, 0]);
    kb.write("en/blob.md", binary);
    let big = fs::File::create(kb.content().join("downloads/video.mp4")).unwrap();
    big.set_len(2 << 30).unwrap();
    let cfg = fs::read_to_string(kb.config()).unwrap();
    fs::write(
        kb.config(),
        cfg.replace("[registry]", "max_asset_size = 1000000\n\n[registry]"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (got, code, json) = check(&kb);
    assert!(started.elapsed().as_secs() < 20, "the 2 GiB file was read");
    for want in [
        ("KB053", "en/faq.md"),
        ("KB054", "images/linked.png"),
        ("KB055", "en/blob.md"),
        ("KB052", "downloads/video.mp4"),
    ] {
        assert!(
            got.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {got:?}"
        );
    }
    assert!(
        !got.iter().any(|(c, _)| c == "KB014"),
        "a binary .md is KB055, not KB014: {got:?}"
    );
    assert_eq!(code, 1);
    assert!(
        json.findings.iter().any(|f| f
            .message
            .contains("2147483648 bytes, more than `[content] max_asset_size` (1000000)")),
        "{json:#?}"
    );
}

fn manifest(kb: &Kb, version: &str) -> kbrel::manifest::Manifest {
    read_as(&kb.reg(&format!("v/{version}/manifest.json")))
}

fn tarball(kb: &Kb, version: &str) -> Vec<u8> {
    fs::read(kb.reg(&format!("{NAME}-{version}.tgz"))).unwrap()
}

fn blob_files(kb: &Kb) -> BTreeSet<String> {
    list_files(&kb.reg("blobs/sha256"))
}

/// Publish: assets are listed in the manifest (path, sha256, size, the documents linking to
/// them), stored once per content in the blob store (the image both languages hold is one
/// blob), shipped under `docs/` with their relative paths, already-compressed formats as
/// stored deflate blocks (their bytes appear verbatim in the `.tgz`); a second release with
/// one changed image writes exactly one new asset blob and leaves the others untouched.
#[test]
fn assets_are_published_content_addressed_and_packed() {
    let kb = kb_with_images();
    kb.publish(&["1.0.0"]).success();
    let m = manifest(&kb, "1.0.0");
    assert_eq!(m.package_format, 4);
    let assets = &m.assets;
    let paths: Vec<&str> = assets.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "downloads/agent.bin",
            "en/guide/img/setup.png",
            "images/arch.png",
            "zh/guide/img/setup.png"
        ]
    );
    let arch = png(40, 30, 1);
    let arch_entry = &assets[2];
    assert_eq!(arch_entry.sha256, sha256_hex(&arch));
    assert_eq!(arch_entry.size, arch.len() as u64);
    assert_eq!(
        arch_entry.referenced_by,
        [
            "en/guide/setup.md",
            "en/intro.md",
            "zh/guide/setup.md",
            "zh/intro.md"
        ]
    );
    assert!(
        assets[0].referenced_by.is_empty(),
        "declared, linked by none"
    );
    assert_eq!(assets[1].sha256, assets[3].sha256);
    for a in assets {
        let sha = a.sha256.as_str();
        let blob = fs::read(kb.reg(&blob_rel(sha))).expect("asset blob stored");
        assert_eq!(sha256_hex(&blob), sha);
    }
    // The tarball: every asset under docs/, byte for byte; the PNGs stored, not recompressed.
    let tgz = tarball(&kb, "1.0.0");
    let entries = tar_entries(&tgz);
    for (path, bytes) in [
        ("images/arch.png", arch.clone()),
        ("en/guide/img/setup.png", png(16, 16, 2)),
        ("zh/guide/img/setup.png", png(16, 16, 2)),
        ("downloads/agent.bin", b"\x7fELF binary payload\n".to_vec()),
    ] {
        let (_, _, data) = entries
            .iter()
            .find(|(p, _, _)| *p == format!("package/docs/{path}"))
            .unwrap_or_else(|| panic!("{path} not in the tarball"));
        assert_eq!(*data, bytes, "{path}");
    }
    assert!(
        tgz.windows(arch.len()).any(|w| w == arch.as_slice()),
        "a PNG is stored in the gzip stream as it is"
    );
    let pj: kbrel::manifest::Manifest = serde_json::from_slice(
        &entries
            .iter()
            .find(|(p, _, _)| p == "package/manifest.json")
            .unwrap()
            .2,
    )
    .unwrap();
    assert_eq!(pj.assets, m.assets);

    // Release 2: one image changed (en only), the rest unchanged.
    let blobs_before = blob_files(&kb);
    let arch_blob = kb.reg(&blob_rel(&sha256_hex(&arch)));
    let mtime = fs::metadata(&arch_blob).unwrap().modified().unwrap();
    let changed = png(16, 24, 7);
    kb.write("en/guide/img/setup.png", &changed);
    kb.publish(&["1.1.0"]).success();
    let added: Vec<String> = blob_files(&kb).difference(&blobs_before).cloned().collect();
    assert_eq!(
        added,
        [blob_rel(&sha256_hex(&changed))
            .trim_start_matches("blobs/sha256/")
            .to_string()]
    );
    assert_eq!(
        fs::metadata(&arch_blob).unwrap().modified().unwrap(),
        mtime,
        "unchanged asset not rewritten"
    );
    let m2 = manifest(&kb, "1.1.0");
    assert_eq!(m2.assets[1].sha256, sha256_hex(&changed));
    assert_eq!(m2.assets[3].sha256, assets[3].sha256);
    assert_ne!(m2.content_digest, m.content_digest, "an asset is content");
    // Diffed: the stored diff.json, `kbrel diff` in every format, and the changelog.
    let (old_size, new_size) = (png(16, 16, 2).len(), changed.len());
    let want = [kbrel::manifest::AssetChange {
        path: "en/guide/img/setup.png".into(),
        status: kbrel::manifest::ChangeStatus::Modified,
        old_sha256: Some(sha256_hex(&png(16, 16, 2))),
        new_sha256: Some(sha256_hex(&changed)),
        old_size: Some(old_size as u64),
        new_size: Some(new_size as u64),
    }];
    let stored: kbrel::manifest::DiffFile = read_as(&kb.reg("v/1.1.0/diff.json"));
    assert_eq!(stored.assets, want);
    let json: kbrel::manifest::DiffFile = run(kb.cmd().args(["diff", "1.0.0", "1.1.0", "--json"]))
        .success()
        .parse();
    assert_eq!(json.assets, want);
    run(kb.cmd().args(["diff", "1.0.0", "1.1.0", "--stat"]))
        .success()
        .stdout_has(&[&format!(
            " en/guide/img/setup.png | Bin {old_size} -> {new_size} bytes"
        )]);
    run(kb.cmd().args(["diff", "1.0.0", "1.1.0", "--name-status"]))
        .success()
        .stdout_has(&["M\ten/guide/img/setup.png"]);
    let changelog = fs::read_to_string(kb.changelog()).unwrap();
    assert!(
        changelog.contains(&format!(
            "### Assets (1 changed)\n\n- Changed `en/guide/img/setup.png` ({old_size} → {new_size} bytes)"
        )),
        "{changelog}"
    );
    // The working tree against a release: an added and a removed asset.
    kb.write("en/img/new.png", png(3, 3, 5));
    fs::remove_file(kb.content().join("downloads/agent.bin")).unwrap();
    run(kb.cmd().args(["diff", "1.1.0", ".", "--name-status"]))
        .success()
        .stdout_has(&["D\tdownloads/agent.bin", "A\ten/img/new.png"]);
    kb.remove("en/img/new.png");
    kb.write("downloads/agent.bin", b"\x7fELF binary payload\n");
    // Publishing the same content again is "already published", not a conflict.
    kb.publish(&["1.1.0"]).success();
    // verify checks the asset blobs and tarball entries; --repair keeps them (referenced).
    run(kb.cmd().arg("verify")).success();
    run(kb.cmd().args(["verify", "--repair"])).success();
    assert!(kb.reg(&blob_rel(&sha256_hex(&arch))).is_file());
    // A corrupted asset blob is found.
    fs::write(kb.reg(&blob_rel(&sha256_hex(&changed))), b"not the image").unwrap();
    let bad = run(kb.cmd().arg("verify"));
    assert_ne!(bad.code, 0, "{bad}");
    assert!(
        bad.stdout.contains(&sha256_hex(&changed)[2..])
            || bad.stderr.contains(&sha256_hex(&changed)[2..]),
        "{bad}"
    );
}

/// Format 3 (the releases made before assets) ships no assets and lists none: a rebuild of
/// an older release is unchanged by them.
#[test]
fn format_3_ships_no_assets() {
    let kb = kb_with_images();
    kb.publish(&["1.0.0", "--package-format", "3"]).success();
    let text = fs::read_to_string(kb.reg("v/1.0.0/manifest.json")).unwrap();
    assert!(manifest(&kb, "1.0.0").assets.is_empty());
    assert!(!text.contains("\"assets\""), "format 3 lists no assets");
    let entries = tar_entries(&tarball(&kb, "1.0.0"));
    assert!(!entries.iter().any(|(p, _, _)| p.ends_with(".png")));
}

/// A publish keeps the sha256 of every asset file with its stat (size, times, inode, device) in
/// `.kbrel-cache/asset-hashes` beside `kbrel.toml` (git-ignored by its own `.gitignore`), and
/// the next publish takes the hash of a file whose stat is unchanged instead of reading it.
/// The cache is a hint the tarball's writer checks: a cache that vouches for itself (its sum
/// line recomputed) but records other bytes for `images/arch.png` under the file's own stat is
/// believed by the load and then caught when the image is packed — the publish fails naming
/// the file, the registry is exactly as it was, the cache is gone — and the next publish reads
/// every file again and releases the true bytes. A cut or edited cache is ignored whole. A
/// publish that packs nothing (the version is there already) hashes the cached files again
/// before it answers.
#[test]
fn publish_reuses_recorded_asset_hashes_and_a_stale_one_never_ships() {
    let kb = kb_with_images();
    kb.publish(&["1.0.0"]).success();
    let cache = kb.path(".kbrel-cache/asset-hashes");
    let text = fs::read_to_string(&cache).expect("the cache is written");
    assert_eq!(
        fs::read_to_string(kb.path(".kbrel-cache/.gitignore")).unwrap(),
        "*\n"
    );
    let arch = sha256_hex(&png(40, 30, 1));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "kbrel asset hashes 1");
    assert_eq!(lines.len(), 1 + 4 + 1, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&arch) && l.ends_with(" images/arch.png")),
        "{text}"
    );
    let body_end = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    let with_sum = |body: &str| format!("{body}sha256 {}\n", sha256_hex(body.as_bytes()));
    assert_eq!(with_sum(&text[..body_end]), text);

    // A lie about the image: other bytes recorded under the file's own stat.
    let lie = sha256_hex(&png(40, 30, 9));
    let lying = |text: &str| {
        let end = text[..text.len() - 1].rfind('\n').unwrap() + 1;
        text[..end].replace(&arch, &lie)
    };
    let arch_in = |version: &str| {
        let m = manifest(&kb, version);
        assert!(!m.assets.iter().any(|a| a.sha256 == lie), "{m:#?}");
        let arch = m.assets.into_iter().find(|a| a.path == "images/arch.png");
        arch.unwrap().sha256
    };

    // Without its sum line the cache is not believed: the files are read, the truth released.
    kb.append("en/intro.md", "\nMore.\n");
    fs::write(&cache, lying(&text)).unwrap();
    kb.publish(&["1.1.0"]).success();
    assert_eq!(arch_in("1.1.0"), arch);

    // With its sum the lie is believed by the load, and caught by the tarball's writer.
    let text = fs::read_to_string(&cache).unwrap();
    kb.append("en/intro.md", "\nMore again.\n");
    fs::write(&cache, with_sum(&lying(&text))).unwrap();
    let before = snapshot(&kb.registry());
    kb.publish(&["1.2.0"])
        .code(2)
        .stderr_has(&["arch.png", "changed while it was published"]);
    assert_same_tree(&before, &snapshot(&kb.registry()), "a refused publish");
    assert!(
        !cache.exists(),
        "a failed publish forgets the recorded hashes"
    );

    kb.publish(&["1.2.0"]).success();
    assert_eq!(arch_in("1.2.0"), arch);
    assert!(fs::read_to_string(&cache).unwrap().contains(&arch));

    // A lie that the image still holds what 1.2.0 released, while the file holds other bytes
    // (its new stat recorded by a dry run): publishing 1.2.0 again packs nothing, so the files
    // taken from the cache are hashed again before it could say "already published".
    kb.write("images/arch.png", png(40, 30, 9));
    kb.publish(&["1.3.0", "--dry-run"]).success();
    let text = fs::read_to_string(&cache).unwrap();
    assert!(text.contains(&lie), "{text}");
    let end = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    fs::write(&cache, with_sum(&text[..end].replace(&lie, &arch))).unwrap();
    let before = snapshot(&kb.registry());
    kb.publish(&["1.2.0"])
        .code(2)
        .stderr_has(&["arch.png", "asset hash cache"]);
    assert_same_tree(&before, &snapshot(&kb.registry()), "a refused republish");
    assert!(!cache.exists());
    // The refusal names what differs: the image, not "package metadata".
    kb.publish(&["1.2.0"]).code(2).stderr_has(&[
        "already published with different content",
        "asset images/arch.png changed",
    ]);
    kb.write("images/new.png", png(8, 8, 3));
    kb.remove("downloads/agent.bin");
    let before = snapshot(&kb.registry());
    let out = kb.publish(&["1.2.0"]).code(2).stderr_has(&[
        "asset images/arch.png changed",
        "asset images/new.png added",
        "asset downloads/agent.bin removed",
    ]);
    assert!(!out.stderr.contains("package metadata"), "{out}");
    assert_same_tree(&before, &snapshot(&kb.registry()), "a refused republish");
}

/// Both consumers (`kbrel sync` and the JavaScript client, `clients/js`) fetch the assets
/// (content-addressed, verified): each at its content-root path in the tree and reachable from
/// the cache as documents link to it (`<cache>/images/…` beside `<cache>/en/…`); the image
/// both languages hold is fetched once; `--lang zh` leaves out the English-only image. An
/// update where one image changed fetches the index, the delta and that image, nothing else,
/// and builds the tree a fresh sync builds — the same `tree.json`, byte for byte, whichever
/// client wrote it. A tampered image blob is refused, naming the asset and its sha256, and
/// the cache keeps showing the old version.
#[test]
fn both_consumers_fetch_assets_and_then_only_the_changed_image() {
    let js = crate::common::tools::require_node().map(|node| {
        move |url: &str, cache: &std::path::Path, args: &[&str]| {
            run_lossy(
                std::process::Command::new(&node)
                    .arg(manifest_dir().join("clients/js/bin/kbrel-js-sync.mjs"))
                    .args(["--from", url, "--into"])
                    .arg(cache)
                    .args(args),
            )
        }
    });
    let rust = |url: &str, cache: &std::path::Path, args: &[&str]| {
        crate::common::sync::sync(url, cache, args)
    };
    // kbrel's report is the library's `SyncReport`; the JavaScript client's is its own JSON.
    let rust_counts = |r: &Run| {
        let report: kbrel::sync::SyncReport = r.parse();
        (
            report.assets_fetched,
            report.documents_fetched,
            report.delta,
        )
    };
    let js_counts = |r: &Run| {
        let report = r.json();
        let count = |name: &str| {
            report[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {r:?}"))
        };
        (
            count("assetsFetched"),
            count("documentsFetched"),
            report["delta"].as_bool().expect("delta"),
        )
    };
    let kbrel_tree = consumer_fetches_assets(&rust, &rust_counts);
    if let Some(js) = js {
        let js_tree = consumer_fetches_assets(&js, &js_counts);
        assert_eq!(
            String::from_utf8(js_tree).unwrap(),
            String::from_utf8(kbrel_tree).unwrap()
        );
    }
}

/// The scenario of [`both_consumers_fetch_assets_and_then_only_the_changed_image`] for one
/// consumer (`sync(url, cache, args)`, and `counts` reading its `--json` report as assets
/// fetched, documents fetched, delta); returns the `tree.json` of 1.1.0.
fn consumer_fetches_assets(
    sync: &dyn Fn(&str, &std::path::Path, &[&str]) -> Run,
    counts: &dyn Fn(&Run) -> (u64, u64, bool),
) -> Vec<u8> {
    use crate::common::sync::TestServer;
    let kb = kb_with_images();
    kb.publish(&["1.0.0"]).success();
    let server = TestServer::start(&kb.registry());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let r = sync(&server.url, &cache, &["--json"]).success();
    assert_eq!(counts(&r).0, 3, "setup.png is one blob: {r:?}");
    assert_eq!(
        fs::read(cache.join("images/arch.png")).unwrap(),
        png(40, 30, 1)
    );
    for lang in ["en", "zh"] {
        let img = cache.join(format!("{lang}/guide/img/setup.png"));
        assert_eq!(fs::read(img).unwrap(), png(16, 16, 2));
    }
    assert_eq!(
        fs::read(cache.join("downloads/agent.bin")).unwrap(),
        b"\x7fELF binary payload\n"
    );
    let only_zh = tmp.path().join("zh-only");
    sync(&server.url, &only_zh, &["--lang", "zh"]).success();
    assert!(only_zh.join("zh/guide/img/setup.png").is_file());
    assert!(only_zh.join("images/arch.png").is_file());
    assert!(!only_zh.join("en").exists());
    assert!(!only_zh.join(".kbrel/current/en").exists());

    // One image changes: the update fetches it alone.
    kb.write("images/arch.png", png(40, 30, 9));
    kb.publish(&["1.1.0"]).success();
    server.take_log();
    let r = sync(&server.url, &cache, &["--json"]).success();
    let blob = blob_rel(&sha256_hex(&png(40, 30, 9)));
    let mut log: Vec<String> = server.take_log().into_iter().map(|l| l.path).collect();
    log.sort();
    assert_eq!(log, [blob.as_str(), "index.json", "v/1.1.0/diff.json"]);
    assert_eq!(counts(&r), (1, 0, true), "{r:?}");
    assert_eq!(
        fs::read(cache.join("images/arch.png")).unwrap(),
        png(40, 30, 9)
    );
    let fresh = tmp.path().join("fresh");
    sync(&server.url, &fresh, &[]).success();
    let tree = |c: &std::path::Path| fs::read(c.join(".kbrel/current/tree.json")).unwrap();
    assert_eq!(tree(&cache), tree(&fresh));
    let tree_v11 = tree(&cache);
    assert!(
        String::from_utf8(tree_v11.clone())
            .unwrap()
            .contains("\"assets\"")
    );

    // A tampered image blob: refused, and the cache shows 1.1.0 exactly as before.
    kb.write("images/arch.png", png(40, 30, 10));
    kb.publish(&["1.2.0"]).success();
    let sha = sha256_hex(&png(40, 30, 10));
    fs::write(kb.reg(&blob_rel(&sha)), png(40, 30, 11)).unwrap();
    let current = fs::read_link(cache.join(".kbrel/current")).unwrap();
    let before = snapshot(&cache.join(".kbrel/current"));
    let r = sync(&server.url, &cache, &[]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("asset images/arch.png")
            && r.stderr.contains(&format!("expected sha256 {sha}")),
        "{r:?}"
    );
    assert_eq!(
        fs::read_link(cache.join(".kbrel/current")).unwrap(),
        current
    );
    assert_same_tree(
        &before,
        &snapshot(&cache.join(".kbrel/current")),
        "the cache",
    );
    assert_eq!(
        fs::read(cache.join("images/arch.png")).unwrap(),
        png(40, 30, 9)
    );
    assert!(
        !list_files(&cache.join(".kbrel/objects"))
            .iter()
            .any(|f| f.ends_with(&sha[2..])),
        "the tampered bytes were stored"
    );
    tree_v11
}

/// `git` in `kb`'s folder, with a fixed identity and date.
fn git(kb: &Kb, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(kb.root())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "1790000000 +0000")
        .env("GIT_COMMITTER_DATE", "1790000000 +0000")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "tag.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// `check --json` findings (code, file) with `extra` global arguments (`--from-git HEAD`).
fn findings_with(kb: &Kb, extra: &[&str]) -> BTreeSet<(String, String)> {
    let r = run(kb.cmd().args(extra).args(["check", "--json"]));
    r.parse::<CheckJson>()
        .findings
        .iter()
        .map(|f| (f.code.to_string(), f.file.clone()))
        .collect()
}

/// Assets from git: a tree read at a revision classifies and lints its files as the working
/// tree does (the same findings, bad input included: a symlinked asset is KB054, a binary
/// `.md` the same finding as from the folder), `--from-git REV publish` and
/// `import --from-git` read each asset from its blob (the working tree no longer has the image),
/// and the release lists and ships the same assets, byte for byte, as one published from the
/// working tree.
#[test]
fn assets_are_read_from_git_trees_like_the_working_tree() {
    let kb = kb_with_images();
    std::os::unix::fs::symlink("arch.png", kb.content().join("images/link.png")).unwrap();
    kb.write("en/blob.md", b"\x00\x01\x02binary\xff\xfe");
    git(&kb, &["init", "-q"]);
    git(&kb, &["add", "kbrel.toml", "content"]);
    git(&kb, &["commit", "-qm", "with bad input"]);
    let work = findings_with(&kb, &[]);
    assert!(
        work.contains(&("KB054".to_string(), "images/link.png".to_string())),
        "{work:?}"
    );
    assert!(work.iter().any(|(_, f)| f == "en/blob.md"), "{work:?}");
    assert_eq!(findings_with(&kb, &["--from-git", "HEAD"]), work);

    fs::remove_file(kb.content().join("images/link.png")).unwrap();
    kb.remove("en/blob.md");
    git(&kb, &["add", "-A", "content"]);
    git(&kb, &["commit", "-qm", "clean"]);
    git(&kb, &["tag", "v1.0.0"]);
    kb.publish(&["1.0.0"]).success();
    // From here on only git has the image.
    fs::remove_file(kb.content().join("images/arch.png")).unwrap();
    let from_git = kb.root().join("from-git");
    run(kb
        .cmd_with(&from_git)
        .args(["--from-git", "HEAD", "publish", "1.0.0", "--date", DATE])
        .arg("--changelog")
        .arg(kb.root().join("CHANGELOG-git.md")))
    .success();
    let imported = kb.root().join("imported");
    run(kb.cmd_with(&imported).args(["import", "--from-git"])).success();
    let assets = |reg: &std::path::Path| {
        read_as::<kbrel::manifest::Manifest>(&reg.join("v/1.0.0/manifest.json")).assets
    };
    let docs_entries = |reg: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let tgz = fs::read(reg.join(format!("{NAME}-1.0.0.tgz"))).unwrap();
        tar_entries(&tgz)
            .into_iter()
            .filter(|(p, _, _)| p.starts_with("package/docs/"))
            .map(|(p, _, b)| (p, b))
            .collect()
    };
    let want = assets(&kb.registry());
    assert_eq!(want.len(), 4, "{want:#?}");
    for reg in [&from_git, &imported] {
        assert_eq!(assets(reg), want, "{}", reg.display());
        assert_eq!(
            docs_entries(reg),
            docs_entries(&kb.registry()),
            "{}",
            reg.display()
        );
        for a in &want {
            let blob = fs::read(reg.join(blob_rel(&a.sha256))).unwrap();
            assert_eq!(sha256_hex(&blob), a.sha256);
        }
    }
    assert!(
        docs_entries(&from_git)
            .iter()
            .any(|(p, b)| p == "package/docs/images/arch.png" && *b == png(40, 30, 1))
    );
}

/// A large asset streams everywhere, never held whole. One release holding a 128 MiB asset (a
/// sparse file: cheap to make), then:
/// - `kbrel verify` passes under a data limit of 160 MiB (`RLIMIT_DATA` counts the heap and
///   anonymous mappings; the binary's heap grows in 64 MiB steps), which holding the tarball
///   and its asset entry in memory (256 MiB) would exceed;
/// - `kbrel serve` serves it above the old 64 MiB limit, at `/v/<version>/<path>` and as its
///   blob, streamed with its Content-Length and ETag (HEAD: the headers alone);
/// - the JavaScript client syncs it into a folder store under `node --test`
///   (`clients/js/test-large`): streamed into a staged file while hashed, peak memory growing
///   by under half the asset, refused early by `maxAssetSize`, a larger Content-Length or an
///   endless body;
/// - byte ranges of it are read from the file at their offset once it was verified whole
///   (206, 416, `If-Range`);
/// - a changed byte inside the asset's blob is found by `verify`, and the server, which hashes
///   what it streams, cuts the response short rather than complete it with the wrong bytes,
///   and sends no byte of a range before the changed file is hashed whole again.
#[test]
fn a_large_asset_streams_through_verify_the_viewer_and_the_javascript_client() {
    const SIZE: u64 = 128 << 20;
    let kb = kb_with_images();
    let cfg = fs::read_to_string(kb.config()).unwrap();
    let cfg = cfg.replace("[registry]", "max_asset_size = 1073741824\n\n[registry]");
    fs::write(kb.config(), cfg).unwrap();
    let big = kb.content().join("downloads/big.bin");
    fs::File::create(&big).unwrap().set_len(SIZE).unwrap();
    kb.publish(&["1.0.0"]).success();
    const LIMIT: u64 = 160 << 20;
    let verify = || {
        let mut cmd = kb.cmd();
        cmd.args(["verify", "--json"]);
        run(with_data_limit(&mut cmd, LIMIT))
    };
    let r = verify();
    assert_eq!(r.code, 0, "{r:?}");
    let report: kbrel::verify::VerifyReport = r.parse();
    assert!(report.ok() && report.blobs > 0, "{report:?}");
    // The limit bites: a process holding 192 MiB fails under it.
    let mut hold = std::process::Command::new("sh");
    hold.args([
        "-c",
        "v=$(head -c 201326592 /dev/zero | tr '\\0' a); echo ${#v}",
    ]);
    let held = with_data_limit(&mut hold, LIMIT).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&held.stdout).contains("201326592"),
        "RLIMIT_DATA is not enforced here: {held:?}"
    );
    let sha = manifest(&kb, "1.0.0")
        .assets
        .into_iter()
        .find(|a| a.path == "downloads/big.bin")
        .unwrap()
        .sha256;

    // The viewer and the blob route stream it, with its length and ETag.
    let server = serve::Serve::start(&kb.registry(), &[]);
    let get = |method: &str, target: &str| {
        serve::request_within(
            server.addr,
            method,
            target,
            &[],
            std::time::Duration::from_secs(120),
        )
    };
    let etag = format!("\"{sha}\"");
    for target in [
        "/v/1.0.0/downloads/big.bin".to_string(),
        format!("/{}", blob_rel(&sha)),
    ] {
        let target = target.as_str();
        let head = get("HEAD", target);
        assert_eq!(head.status, 200, "{target}: {head:?}");
        assert_eq!(
            head.header("content-length"),
            Some(SIZE.to_string().as_str())
        );
        assert_eq!(head.header("etag"), Some(etag.as_str()));
        assert_eq!(
            head.header("content-type"),
            Some("application/octet-stream")
        );
        assert!(head.body.is_empty());
        let r = get("GET", target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.header("content-length"), Some(SIZE.to_string().as_str()));
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.body.len() as u64, SIZE, "{target}");
        assert_eq!(sha256_hex(&r.body), sha, "{target}");
    }

    // The JavaScript client, under node --test, against this server.
    if let Some(node) = tools::require_node() {
        let out = run(std::process::Command::new(&node)
            .args(["--test", "--test-reporter=spec"])
            .arg("test-large/")
            .current_dir(manifest_dir().join("clients/js"))
            .env("KBREL_LARGE_URL", server.url())
            .env("KBREL_LARGE_PATH", "downloads/big.bin")
            .env("KBREL_LARGE_SHA", &sha)
            .env("KBREL_LARGE_SIZE", SIZE.to_string())
            .env("CI", "true"));
        assert_eq!(out.code, 0, "node --test test-large/ failed\n{out:?}");
        assert!(out.stdout.contains("ℹ pass 3"), "{out:?}");
    }

    let big = "/v/1.0.0/downloads/big.bin";
    let ranged = |method: &str, headers: &[(&str, &str)]| {
        serve::request_within(
            server.addr,
            method,
            big,
            headers,
            std::time::Duration::from_secs(120),
        )
    };
    ranges_of_a_zero_filled_file(ranged, SIZE, &etag);

    let blob = kb.reg(&blob_rel(&sha));
    let f = fs::OpenOptions::new().write(true).open(&blob).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"x", 50 << 20).unwrap();
    // Changed since it was verified: hashed whole again before a range is sent, and refused,
    // even a range far from the changed byte.
    let r = ranged("GET", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206);
    assert!(
        r.body.is_empty(),
        "{} bytes of a changed file",
        r.body.len()
    );
    let r = verify();
    assert_eq!(r.code, 1, "{r:?}");
    let problems = r.verify_problems();
    assert_eq!(
        problems,
        [(blob_rel(&sha), kbrel::verify::ProblemKind::Corrupt)],
        "{r:?}"
    );
    // Served as it is streamed, the changed blob is cut short: never a complete wrong body.
    let r = get("GET", "/v/1.0.0/downloads/big.bin");
    assert_eq!(r.header("content-length"), Some(SIZE.to_string().as_str()));
    assert!((r.body.len() as u64) < SIZE, "{} bytes", r.body.len());
    assert!(
        server.log().contains("does not match its sha256"),
        "{}",
        server.log()
    );
    // Put back as it was (a new state of the file, never verified): a range is served again,
    // after the whole file is hashed and found to match.
    std::os::unix::fs::FileExt::write_at(&f, b"\0", 50 << 20).unwrap();
    let at = 50u64 << 20;
    let r = ranged("GET", &[("Range", &format!("bytes={at}-{}", at + 9))]);
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.body, vec![0u8; 10]);
}

/// `cmd` run with its heap and anonymous mappings limited to `limit` bytes (`RLIMIT_DATA`); a
/// limit that cannot be set fails the spawn.
fn with_data_limit(cmd: &mut std::process::Command, limit: u64) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Byte ranges of a streamed file of `size` zero bytes, verified whole before (`get` sends a
/// request for it with these headers): read from the file at the offset; `If-Range` as for
/// files held whole; HEAD tells without a body; past the end, 416.
fn ranges_of_a_zero_filled_file(
    get: impl Fn(&str, &[(&str, &str)]) -> serve::Resp,
    size: u64,
    etag: &str,
) {
    let last = size - 1;
    for (range, from, to) in [
        ("bytes=100-199", 100, 199),
        ("bytes=-10", size - 10, last),
        (&*format!("bytes={}-", size - 3), size - 3, last),
    ] {
        let r = get("GET", &[("Range", range), ("If-Range", etag)]);
        assert_eq!(r.status, 206, "{range}: {r:?}");
        let want = format!("bytes {from}-{to}/{size}");
        assert_eq!(r.header("content-range"), Some(want.as_str()), "{range}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.body, vec![0u8; (to - from + 1) as usize], "{range}");
    }
    let r = get("HEAD", &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    let r = get("GET", &[("Range", &format!("bytes={size}-"))]);
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
}

/// URL-encoded traversal (`%2e%2e`, `..%2f`, double encoding) through the viewer's asset route
/// and the blob route, with and without a byte range, never reads outside what the index lists:
/// 400 or 404, and the planted file's bytes never sent.
#[test]
fn encoded_traversal_through_the_asset_routes_never_leaves_the_registry() {
    let kb = kb_with_images();
    kb.publish(&["1.0.0"]).success();
    let secret = format!("SECRET-ASSET-{}", std::process::id());
    fs::write(kb.root().join("secret.png"), &secret).unwrap();
    fs::write(kb.content().join("images/secret.png"), &secret).unwrap();
    fs::write(kb.registry().join("secret.png"), &secret).unwrap();
    let server = serve::Serve::start(&kb.registry(), &[]);
    for target in [
        "/v/1.0.0/%2e%2e/%2e%2e/secret.png",
        "/v/1.0.0/%2E%2E/secret.png",
        "/v/1.0.0/images/%2e%2e/%2e%2e/%2e%2e/secret.png",
        "/v/1.0.0/images/..%2f..%2f..%2fsecret.png",
        "/v/1.0.0/images%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.png",
        "/v/1.0.0/images/%252e%252e/%252e%252e/secret.png",
        "/v/1.0.0/images/secret.png",
        "/v/1.0.0/images/arch.png%00/../../../secret.png",
        "/v/%2e%2e/%2e%2e/secret.png",
        "/v/1.0.0/%2e%2e%5c%2e%2e%5csecret.png",
        "/blobs/sha256/%2e%2e/%2e%2e/secret.png",
        "/%2e%2e/secret.png",
        "/secret.png",
    ] {
        for headers in [&[][..], &[("Range", "bytes=0-")][..]] {
            let r = server.get_with(target, headers);
            assert!(
                r.status == 400 || r.status == 404,
                "{target} {headers:?}: {}",
                r.status
            );
            assert!(
                !String::from_utf8_lossy(&r.body).contains(&secret),
                "{target} leaked the planted file"
            );
        }
    }
    assert_eq!(server.get("/v/1.0.0/images/arch.png").status, 200);
}

/// A changed image between two git revisions, or between a revision and the work tree, shows
/// in `diff` exactly as it does between the two published releases: the fast paths that read
/// only the documents that differ hand over to whole loads when an asset differs.
#[test]
fn git_sides_show_a_changed_image_like_published_releases() {
    let kb = kb_with_images();
    git(&kb, &["init", "-q"]);
    git(&kb, &["add", "kbrel.toml", "content"]);
    git(&kb, &["commit", "-qm", "one"]);
    git(&kb, &["tag", "v1"]);
    kb.publish(&["1.0.0", "--no-tag"]).success();
    fs::write(kb.content().join("images/arch.png"), png(40, 30, 9)).unwrap();
    git(&kb, &["commit", "-qam", "two"]);
    git(&kb, &["tag", "v2"]);
    kb.publish(&["1.1.0", "--no-tag"]).success();
    let out = |args: &[&str]| run(kb.cmd().arg("diff").args(args)).success().stdout;
    let published = out(&["1.0.0", "1.1.0", "--name-status"]);
    assert!(published.contains("images/arch.png"), "{published}");
    assert_eq!(out(&["git:v1", "git:v2", "--name-status"]), published);
    assert_eq!(out(&["git:v1", ".", "--name-status"]), published);
    assert_eq!(
        out(&["git:v1", "git:v2", "--stat"]),
        out(&["1.0.0", "1.1.0", "--stat"])
    );
    // Documents only: the fast path, and still no asset row.
    kb.append("en/intro.md", "\nEdited.\n");
    git(&kb, &["commit", "-qam", "three"]);
    let docs_only = out(&["git:v2", "git:HEAD", "--name-status"]);
    assert!(!docs_only.contains("arch.png"), "{docs_only}");
}

/// Bad input read from git is found as in the working tree, and refused the same way: a link
/// climbing out of the content root (KB053), unbalanced JSX in an `.mdx` document (KB060), an
/// asset named with a backslash. `check --from-git` gives the working tree's findings;
/// `publish --from-git` refuses, naming each file, and writes no registry; `import --from-git`
/// records them as the release's warnings (history is recorded as it was); a `git:` diff side
/// reads the same tree and shows the new files.
#[test]
fn bad_input_from_git_is_found_and_refused_as_in_the_working_tree() {
    let kb = kb_with_images();
    git(&kb, &["init", "-q"]);
    git(&kb, &["add", "kbrel.toml", "content"]);
    git(&kb, &["commit", "-qm", "clean"]);
    git(&kb, &["tag", "v1.0.0"]);
    fs::write(kb.root().join("outside.png"), png(2, 2, 3)).unwrap();
    kb.write(
        "en/faq.md",
        format!("{}\n![out](../../outside.png)\n", kb.read("en/faq.md")),
    );
    kb.write(
        "en/tabs.mdx",
        "---\ntitle: Tabs\n---\n\n# Tabs\n\n<Tabs>\n<Tab label=\"a\">\n\nText.\n\n</Tabs>\n",
    );
    kb.write("images/back\\slash.png", png(3, 3, 4));
    git(&kb, &["add", "-A", "content"]);
    git(&kb, &["commit", "-qm", "bad input"]);
    git(&kb, &["tag", "v1.1.0"]);
    let work = findings_with(&kb, &[]);
    eprintln!("WORK {work:?}");
    for want in [("KB053", "en/faq.md"), ("KB060", "en/tabs.mdx")] {
        assert!(
            work.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {work:?}"
        );
    }
    // An asset named with a backslash is refused by KB030 before anything is built (the
    // registry's reader would refuse the manifest holding it).
    assert!(
        work.contains(&("KB030".to_string(), "images/back\\slash.png".to_string())),
        "{work:?}"
    );
    assert_eq!(findings_with(&kb, &["--from-git", "HEAD"]), work);

    // publish from git: refused like the working tree, naming the files; nothing written.
    let from_git = kb.root().join("from-git");
    let r = run(kb.cmd_with(&from_git).args([
        "--from-git",
        "HEAD",
        "publish",
        "1.0.0",
        "--date",
        DATE,
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    for file in [
        "en/faq.md:20: error[KB053]",
        "en/tabs.mdx:12: error[KB060]",
        "images/back\\slash.png:1: error[KB030]",
    ] {
        assert!(
            r.stderr.contains(file) || r.stdout.contains(file),
            "{file}: {r:?}"
        );
    }
    assert!(!from_git.join("index.json").exists(), "{r:?}");

    // import records history as it was (findings become warnings), but a manifest cannot hold
    // the backslash name: the tags are vetted before anything is written, so 1.1.0 is refused
    // naming the file and the registry is not created.
    let imported = kb.root().join("imported");
    let r = run(kb.cmd_with(&imported).args(["import", "--from-git"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("tag v1.1.0 cannot be released"), "{r:?}");
    assert!(r.stderr.contains("images/back\\slash.png:1"), "{r:?}");
    assert!(!imported.join("index.json").exists(), "{r:?}");
    // Without it, 1.1.0 is imported with the other bad input as its warnings.
    git(&kb, &["rm", "-q", "content/images/back\\slash.png"]);
    git(&kb, &["commit", "-qm", "portable"]);
    git(&kb, &["tag", "-f", "v1.1.0"]);
    let imported = kb.root().join("imported-2");
    run(kb.cmd_with(&imported).args(["import", "--from-git"])).success();
    let m = read_json(&imported.join("v/1.1.0/manifest.json"));
    let warnings = m["warnings"].to_string();
    for want in ["KB053", "KB060", "en/faq.md", "en/tabs.mdx"] {
        assert!(warnings.contains(want), "{want} in {warnings}");
    }

    // A git: side reads the same tree: the new document and asset show, nothing breaks.
    let r = run(kb
        .cmd()
        .args(["diff", "git:v1.0.0", "git:v1.1.0", "--name-status"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("en/tabs.mdx"), "{r:?}");
}

/// `git:A git:B` where an image and one document changed: the asset row comes from the two
/// blobs of the image, and no unchanged document is read (no hand-over to whole loads); the
/// report is what the two trees loaded whole give.
#[test]
fn a_git_range_with_a_changed_asset_reads_no_unchanged_document() {
    use kbrel::snapshot::{self, Snapshot};
    let kb = kb_with_images();
    git(&kb, &["init", "-q"]);
    git(&kb, &["add", "kbrel.toml", "content"]);
    git(&kb, &["commit", "-qm", "one"]);
    fs::write(kb.content().join("images/arch.png"), png(40, 30, 9)).unwrap();
    kb.append("en/intro.md", "\nEdited.\n");
    git(&kb, &["commit", "-qam", "two"]);
    let cfg = kbrel::config::Config::load(&kb.config()).unwrap();
    let repo = kbrel::git::Repo::discover(kb.root()).unwrap();
    let langs = &cfg.content.languages;
    let (a, b) = snapshot::git_pair(&cfg, &repo, "HEAD~1", "HEAD", false).unwrap();
    let docs = |s: &Snapshot| s.docs.iter().map(|d| d.path.clone()).collect::<Vec<_>>();
    assert_eq!(
        (docs(&a), docs(&b)),
        (vec!["intro.md".into()], vec!["intro.md".into()])
    );
    let assets = |s: &Snapshot| {
        (s.assets.iter())
            .map(|x| (x.path.clone(), x.sha256.clone(), x.size))
            .collect::<Vec<_>>()
    };
    let (old, new) = (png(40, 30, 1), png(40, 30, 9));
    assert_eq!(
        (assets(&a), assets(&b)),
        (
            vec![("images/arch.png".into(), sha256_hex(&old), old.len() as u64)],
            vec![("images/arch.png".into(), sha256_hex(&new), new.len() as u64)],
        )
    );
    let fast = snapshot::compare("kb", langs, &a, &b).unwrap();
    let whole = |rev: &str| {
        let (kb, _) = kbrel::git::load_kb(&cfg, &repo, rev).unwrap();
        Snapshot::working(&cfg, &kb)
    };
    let report = snapshot::compare("kb", langs, &whole("HEAD~1"), &whole("HEAD")).unwrap();
    assert_eq!(fast.changes, report.changes);
    assert_eq!(fast.assets, report.assets);
    assert_eq!(fast.assets.len(), 1);

    // `git:HEAD .` with the image changed again in the work tree, and a new one: git's index
    // says which files differ; no document is read, the image rows are what whole loads give.
    let again = png(40, 30, 5);
    fs::write(kb.content().join("images/arch.png"), &again).unwrap();
    kb.write("images/new.png", png(8, 8, 3));
    let (a, b) = snapshot::git_worktree_pair(&cfg, &repo, "HEAD", false)
        .unwrap()
        .expect("git's index tells what changed");
    assert_eq!((a.docs.len(), b.docs.len()), (0, 0));
    assert_eq!(
        assets(&a),
        vec![("images/arch.png".into(), sha256_hex(&new), new.len() as u64)]
    );
    assert_eq!(
        assets(&b)[0],
        (
            "images/arch.png".into(),
            sha256_hex(&again),
            again.len() as u64
        )
    );
    let fast = snapshot::compare("kb", langs, &a, &b).unwrap();
    let work = kbrel::content::load_dir(&cfg, &cfg.content_root()).unwrap();
    let whole =
        snapshot::compare("kb", langs, &whole("HEAD"), &Snapshot::working(&cfg, &work)).unwrap();
    assert_eq!(fast.assets, whole.assets);
    assert_eq!(fast.assets.len(), 2);
}

/// The viewer answers one byte range of an asset it holds whole (verified bytes): 206 with
/// Content-Range, 416 past the end, the whole file for anything it does not read as one range;
/// documents and JSON (compressible) are always sent whole.
#[test]
fn the_viewer_answers_a_byte_range_of_an_asset() {
    let kb = kb_with_images();
    kb.publish(&["1.0.0"]).success();
    let server = serve::Serve::start(&kb.registry(), &[]);
    let png = png(40, 30, 1);
    let len = png.len();
    let whole = server.get("/v/1.0.0/images/arch.png");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.body, png);
    for (range, from, to) in [
        ("bytes=0-9", 0, 9),
        ("bytes=-5", len - 5, len - 1),
        ("bytes=10-", 10, len - 1),
    ] {
        let r = server.get_with("/v/1.0.0/images/arch.png", &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        let want = format!("bytes {from}-{to}/{len}");
        assert_eq!(r.header("content-range"), Some(want.as_str()), "{range}");
        assert_eq!(r.body, png[from..=to], "{range}");
        assert_eq!(r.header("etag"), whole.header("etag"));
    }
    let r = server.get_with(
        "/v/1.0.0/images/arch.png",
        &[("Range", &format!("bytes={len}-"))],
    );
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let r = server.get_with("/v/1.0.0/images/arch.png", &[("Range", "bytes=0-1,4-5")]);
    assert_eq!((r.status, r.body.len()), (200, len));
    // If-Range (RFC 9110 13.1.5): the range only while the ETag is the one named (a strong
    // comparison); another ETag, a weak one or a date brings the whole file.
    let etag = whole.header("etag").unwrap().to_string();
    let ranged = |if_range: &str| {
        server.get_with(
            "/v/1.0.0/images/arch.png",
            &[("Range", "bytes=0-9"), ("If-Range", if_range)],
        )
    };
    let r = ranged(&etag);
    assert_eq!((r.status, r.body.as_slice()), (206, &png[..10]));
    for other in [
        "\"0000\"".to_string(),
        format!("W/{etag}"),
        "Mon, 07 Dec 2026 10:00:00 GMT".to_string(),
    ] {
        let r = ranged(&other);
        assert_eq!((r.status, r.body.len()), (200, len), "If-Range: {other}");
    }
    let r = server.get_with("/index.json", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("accept-ranges"), None);
}

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
fn check(kb: &Kb) -> (BTreeSet<(String, String)>, i32, serde_json::Value) {
    let run = run(kb.cmd().args(["check", "--json"]));
    let json = run.json();
    let got = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
            )
        })
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
    let messages: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
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
    let text = json.to_string();
    assert!(
        text.contains("2147483648 bytes, more than `[content] max_asset_size` (1000000)"),
        "{text}"
    );
}

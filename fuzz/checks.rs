//! The properties the fuzz targets check, one function per target. Shared with
//! `tests/it/hostile.rs` (`fuzz_regressions_still_pass`), which feeds the inputs kept in
//! `tests/hostile/fuzz-regressions/<target>/` through the same functions. Each function panics
//! when a property fails; returning means the input was handled.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

const CONFIG: &str = "[package]\nname = \"fuzz-kb\"\n[content]\nlanguages = [\"en\", \"zh\"]\npairing = \"front-matter:url\"\nbase_url = \"https://docs.example.com/{lang}/\"\n";

/// `content::build` with the input as one document (plus a normal translation), then `lint`:
/// never panics, and a built document is consistent (hash of its normalised text, body offset
/// on a character boundary, front-matter helpers agree).
pub fn front_matter(data: &[u8]) {
    let cfg = kbrel::config::Config::parse(CONFIG, Path::new("/fuzz/kbrel.toml")).expect("config");
    let files = vec![
        kbrel::content::SourceFile {
            path: "en/doc.md".into(),
            bytes: data.to_vec(),
        },
        kbrel::content::SourceFile {
            path: "zh/doc.md".into(),
            bytes: b"---\ntitle: t\nurl: /zh/doc\n---\n\n[a](../en/doc.md)\n".to_vec(),
        },
    ];
    let all: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let Ok(kb) = kbrel::content::build(&cfg, files, all, &Default::default()) else {
        return;
    };
    for d in &kb.documents {
        assert_eq!(d.sha256, kbrel::hash::sha256_hex(d.text.as_bytes()));
        assert!(d.body_start <= d.text.len() && d.text.is_char_boundary(d.body_start));
        let _ = d.body();
        let _ = kbrel::content::raw_front_matter(&d.text);
        let _ = kbrel::content::body_of(&d.text);
    }
    let _ = kbrel::lint::lint(&kb, &cfg);
}

/// `parse_index`, `parse_manifest` and `parse_diff`: never panic; what parses re-parses from
/// its canonical bytes to an equal value, and a parsed index or manifest only names safe paths.
pub fn registry_json(data: &[u8]) {
    use kbrel::manifest::{
        is_safe_relative_path, parse_diff, parse_index, parse_manifest, to_json_bytes,
    };
    let p = Path::new("fuzz.json");
    if let Ok(i) = parse_index(data, p) {
        let again = parse_index(&to_json_bytes(&i), p).expect("a parsed index re-parses");
        assert_eq!(again, i);
        for v in &i.versions {
            for f in [
                &v.manifest.path,
                &v.diff.path,
                &v.package_json.path,
                &v.tarball.path,
            ] {
                assert!(is_safe_relative_path(f), "{f}");
            }
        }
        let _ = i.known_versions();
    }
    if let Ok(m) = parse_manifest(data, p) {
        let again = parse_manifest(&to_json_bytes(&m), p).expect("a parsed manifest re-parses");
        assert_eq!(again, m);
        for d in &m.documents {
            assert!(is_safe_relative_path(&format!("{}/{}", d.lang, d.path)));
            assert!(kbrel::manifest::is_sha256_hex(&d.sha256));
            let _ = kbrel::registry::blob_path(&d.sha256);
        }
    }
    if let Ok(d) = parse_diff(data, p) {
        let again = parse_diff(&to_json_bytes(&d), p).expect("a parsed diff re-parses");
        assert_eq!(again, d);
    }
}

/// `package::unpack` with small limits: never panics; what it returns respects the limits and
/// holds only unique, safe paths. An input that is not gzip is also gzipped first, so the tar
/// layer is reached (mutated gzip rarely gets past its header and CRC).
pub fn unpack(data: &[u8]) {
    unpack_one(data);
    if !data.starts_with(&[0x1f, 0x8b]) {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip into memory");
        unpack_one(&e.finish().expect("gzip into memory"));
    }
}

fn unpack_one(data: &[u8]) {
    let limits = kbrel::package::UnpackLimits {
        max_unpacked: 1 << 22,
        max_entries: 256,
    };
    let Ok(files) = kbrel::package::unpack(data, "fuzz.tgz", limits) else {
        return;
    };
    assert!(files.len() <= limits.max_entries);
    let total: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    assert!(total <= limits.max_unpacked);
    let mut seen = BTreeSet::new();
    for (path, _) in &files {
        assert!(kbrel::manifest::is_safe_relative_path(path), "{path}");
        assert!(seen.insert(path.clone()), "{path} twice");
    }
}

/// `diff::word::word_diff` of the two halves of the input (as lossy UTF-8): never panics; the
/// equal and inserted pieces rebuild the new text (less its leading whitespace), and the equal
/// and deleted pieces hold exactly the old text's non-whitespace characters.
pub fn word_diff(data: &[u8]) {
    use kbrel::diff::word::{Piece, render_plain, word_diff};
    let text = String::from_utf8_lossy(data);
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let (old, new) = text.split_at(mid);
    let pieces = word_diff(old, new);
    let mut rebuilt_new = String::new();
    let mut rebuilt_old = String::new();
    for p in &pieces {
        match p {
            Piece::Equal(t) => {
                assert!(!t.is_empty());
                rebuilt_new.push_str(t);
                rebuilt_old.push_str(t);
            }
            Piece::Insert(t) => {
                assert!(!t.is_empty());
                rebuilt_new.push_str(t);
            }
            Piece::Delete(t) => {
                assert!(!t.is_empty());
                rebuilt_old.push_str(t);
            }
        }
    }
    assert!(
        new.ends_with(&rebuilt_new),
        "the pieces do not rebuild the new text: {new:?} vs {rebuilt_new:?}"
    );
    let dropped = &new[..new.len() - rebuilt_new.len()];
    assert!(
        dropped.chars().all(char::is_whitespace),
        "dropped {dropped:?}"
    );
    let non_ws = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(
        non_ws(&rebuilt_old),
        non_ws(old),
        "the pieces do not hold the old text"
    );
    let _ = render_plain(&pieces);
}

/// The bundle key and global emitter: the input, split at NUL bytes (lossy UTF-8), gives a
/// global name and the keys of three documents (the first key of each its primary key, the
/// rest aliases). Properties: a global `js::global_name_problem` accepts is an identifier, no
/// reserved word and no platform global; the bundle object, read as JSON once its computed
/// `["__proto__"]` names are written plain, holds every primary key (`__proto__` included) with
/// its document's text and nothing else, never a raw `"__proto__":` (a prototype setter) nor a
/// `</script` or U+2028 that would break an inline script; the alias list is a JSON array of
/// exactly the aliases, in order.
pub fn bundle_keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let global = parts.next().unwrap_or("");
    if kbrel::js::global_name_problem(global).is_none() {
        assert!(kbrel::js::is_identifier(global), "{global:?}");
        assert!(!kbrel::js::RESERVED_WORDS.contains(&global), "{global:?}");
        assert!(!kbrel::js::PLATFORM_GLOBALS.contains(&global), "{global:?}");
    }
    let mut seen = BTreeSet::new();
    let mut docs: Vec<kbrel::content::Document> = Vec::new();
    for (i, key) in parts.enumerate() {
        if !seen.insert(key.to_string()) {
            continue;
        }
        if docs.len() < 3 {
            docs.push(kbrel::content::Document {
                lang: "en".into(),
                path: format!("d{i}.md"),
                id: format!("d{i}"),
                key: key.to_string(),
                aliases: Vec::new(),
                keyed: true,
                title: None,
                description: None,
                date: None,
                url: None,
                slug: None,
                has_front_matter: false,
                fields: Default::default(),
                text: format!("{key}</script>\u{2028}<!--{i}"),
                body_start: 0,
                body_line: 1,
                sha256: String::new(),
            });
        } else {
            let n = docs.len();
            docs[i % n].aliases.push(key.to_string());
        }
    }
    for d in &mut docs {
        d.aliases.sort();
    }
    let refs: Vec<&kbrel::content::Document> = docs.iter().collect();
    let object = kbrel::package::bundle_object(&refs).expect("distinct keys");
    assert!(!object.contains("\"__proto__\":"), "{object}");
    assert!(
        !object.contains("</") && !object.contains('\u{2028}'),
        "{object}"
    );
    let mut plain = object.replace("\n  [\"__proto__\"]: ", "\n  \"__proto__\": ");
    // Every entry ends with a comma (JavaScript allows the last one, JSON does not).
    if let Some(body) = plain.strip_suffix(",\n}") {
        plain = format!("{body}\n}}");
    }
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&plain).unwrap_or_else(|e| panic!("{e}: {plain}"));
    assert_eq!(parsed.len(), docs.len(), "{plain}");
    for d in &docs {
        assert_eq!(parsed[&d.key], serde_json::Value::String(d.text.clone()));
    }
    let aliases: Vec<(String, String)> = docs
        .iter()
        .flat_map(|d| d.aliases.iter().map(|a| (a.clone(), d.key.clone())))
        .collect();
    let statements = kbrel::package::alias_statements("d", &aliases, "  ");
    if aliases.is_empty() {
        assert!(statements.is_empty());
        return;
    }
    let list =
        &statements[statements.find('[').unwrap()..statements.find("].forEach").unwrap() + 1];
    let got: Vec<(String, String)> =
        serde_json::from_str(list).unwrap_or_else(|e| panic!("{e}: {list}"));
    assert_eq!(got, aliases);
    assert!(!statements.contains("</") && !statements.contains('\u{2028}'));
}

/// A registry (one published release, made once) with a tree planted from the input: each
/// 2-byte step creates, at one of kbrel's own paths, a folder, a file, a socket, or a link to
/// a folder or file outside the registry (absolute or relative) or inside it. Then
/// `verify --repair` and publish's leftover clean-up run. Property: never a panic, and nothing
/// outside the registry changes (links there are reported, never followed).
pub fn registry_tree(data: &[u8]) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir().join(format!(
        "kbrel-fuzz-tree-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    let template = template_registry();
    let reg = base.join("registry");
    let outside = base.join("outside");
    copy_tree(template, &reg);
    std::fs::create_dir_all(outside.join("dir/sub")).expect("outside");
    std::fs::write(outside.join("file"), b"keep").expect("outside");
    std::fs::write(outside.join("dir/sub/.x.tmp-1"), b"keep").expect("outside");
    let aa = std::fs::read_dir(reg.join("blobs/sha256"))
        .expect("blobs")
        .flatten()
        .next()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("a fan-out folder");
    let places = [
        "blobs".to_string(),
        "blobs/sha256".into(),
        "blobs/sha256/zz".into(),
        format!("blobs/sha256/{aa}"),
        format!("blobs/sha256/{aa}/{}", "0".repeat(62)),
        format!("blobs/sha256/{aa}/.0.tmp-1"),
        "blobs/sha256/zz/.1.tmp-2".into(),
        "v".into(),
        "v/9.9.9".into(),
        "v/9.9.9/manifest.json".into(),
        ".staging-1".into(),
        ".staging-1/blobs".into(),
        "old-0.0.1.tgz".into(),
        "index.json.sig".into(),
    ];
    for step in data.chunks(2).take(16) {
        let place = reg.join(&places[step[0] as usize % places.len()]);
        let how = step.get(1).copied().unwrap_or(0);
        if place.parent().is_some_and(|p| !p.starts_with(&reg)) {
            continue;
        }
        // Replace whatever is there (never through a link: remove the entry itself).
        match std::fs::symlink_metadata(&place) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(&place);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&place);
            }
            Err(_) => {}
        }
        let _ = match how % 7 {
            0 => std::fs::create_dir_all(&place),
            1 => std::fs::write(&place, b"planted"),
            2 => std::os::unix::fs::symlink(outside.join("dir"), &place),
            3 => std::os::unix::fs::symlink(outside.join("file"), &place),
            4 => {
                let depth = place
                    .strip_prefix(&base)
                    .map_or(1, |p| p.components().count());
                let up = "../".repeat(depth.saturating_sub(1));
                std::os::unix::fs::symlink(format!("{up}outside/dir"), &place)
            }
            5 => std::os::unix::net::UnixListener::bind(&place).map(|_| ()),
            _ => std::os::unix::fs::symlink(reg.join("v"), &place),
        };
    }
    let before = snapshot_tree(&outside);
    let registry = kbrel::registry::Registry::new(&reg);
    let _ = kbrel::verify::verify(&registry, true, Some("fuzz-tree"));
    if let Ok(lock) = registry.lock(std::time::Duration::from_secs(5)) {
        let _ = registry.remove_leftovers(&lock);
    }
    assert_eq!(
        before,
        snapshot_tree(&outside),
        "something outside the registry changed"
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// A registry with one release of a two-document knowledge base, published once per process.
fn template_registry() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kbrel-fuzz-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let toml = "[package]\nname = \"fuzz-tree\"\n[content]\nrequired_fields = []\n";
        let cfg = kbrel::config::Config::parse(toml, &dir.join("kbrel.toml")).expect("config");
        let files = vec![
            kbrel::content::SourceFile {
                path: "en/a.md".into(),
                bytes: b"# A\n\nText.\n".to_vec(),
            },
            kbrel::content::SourceFile {
                path: "zh/a.md".into(),
                bytes: "# 甲\n\n文字。\n".into(),
            },
        ];
        let all = files.iter().map(|f| f.path.clone()).collect();
        let kb = kbrel::content::build(&cfg, files, all, &Default::default()).expect("kb");
        let reg = kbrel::registry::Registry::new(dir.join("registry"));
        kbrel::publish::publish(
            &cfg,
            &kb,
            &reg,
            &kbrel::publish::PublishOptions {
                version: kbrel::publish::VersionSpec::Exact("1.0.0".into()),
                date: kbrel::date::Timestamp::parse("2026-11-25").expect("date"),
                dry_run: false,
                tag: None,
                git: None,
                lock_wait: std::time::Duration::from_secs(5),
                require_translations: false,
                guard: None,
                sign: None,
                package_format: kbrel::package::FORMAT,
                lint: kbrel::publish::LintGate::Block(None),
            },
        )
        .expect("publish");
        dir.join("registry")
    })
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

/// Every entry below `dir` (links as their target, never followed).
fn snapshot_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let ft = e.file_type().expect("type");
            if ft.is_symlink() {
                out.push((
                    rel,
                    std::fs::read_link(&p)
                        .unwrap_or_default()
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else if ft.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(root, &p, out);
            } else {
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The codec's contract, tokens in, bytes out: tokens derived from the input (literals, and
/// matches of any length 3..=258 at any distance the output so far allows) are coded by
/// `kbrel_deflate::encode::encode` into blocks that zlib inflates to exactly the bytes they
/// expand to, the same bytes every time, and `kbrel_deflate::decode::tokens` reads back tokens
/// that expand to those bytes.
pub fn deflate_tokens(data: &[u8]) {
    use kbrel_deflate::Token;
    let mut tokens = Vec::new();
    let mut expanded: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        i += 1;
        if b >= 0xE0 && !expanded.is_empty() && i + 2 < data.len() {
            let len = 3 + u16::from(data[i]);
            let back = u16::from_le_bytes([data[i + 1], data[i + 2]]);
            i += 3;
            let dist = 1 + back % expanded.len().min(32_768) as u16;
            for _ in 0..len {
                expanded.push(expanded[expanded.len() - usize::from(dist)]);
            }
            tokens.push(Token::Match { len, dist });
        } else {
            expanded.push(b);
            tokens.push(Token::Literal(b));
        }
    }
    let mut coded = Vec::new();
    kbrel_deflate::encode::encode(&tokens, &expanded, &mut coded);
    let mut again = Vec::new();
    kbrel_deflate::encode::encode(&tokens, &expanded, &mut again);
    assert_eq!(coded, again, "same tokens, same bytes");

    let mut read_back = Vec::new();
    let n = kbrel_deflate::decode::tokens(&coded, &mut read_back).expect("reads its own output");
    assert_eq!(n, expanded.len(), "decoded length");
    let mut re_expanded: Vec<u8> = Vec::with_capacity(n);
    for t in &read_back {
        match *t {
            Token::Literal(b) => re_expanded.push(b),
            Token::Match { len, dist } => {
                for _ in 0..len {
                    re_expanded.push(re_expanded[re_expanded.len() - usize::from(dist)]);
                }
            }
        }
    }
    assert!(
        re_expanded == expanded,
        "decoded tokens expand to the input"
    );

    // zlib agrees: the blocks, closed by an empty final fixed block, inflate to the bytes.
    coded.extend_from_slice(&[0x03, 0x00]);
    let mut z = flate2::Decompress::new(false);
    let mut inflated = Vec::with_capacity(expanded.len() + 16);
    let status = z.decompress_vec(&coded, &mut inflated, flate2::FlushDecompress::Finish);
    assert_eq!(status.expect("zlib inflates it"), flate2::Status::StreamEnd);
    assert!(inflated == expanded, "zlib inflates to the expanded tokens");
}

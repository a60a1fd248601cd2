//! `kbrel serve` over real sockets: caching headers, gzip, HEAD, the npm read API routes, hot
//! index reload, path traversal with a raw TCP client, and hostile or broken clients (slowloris,
//! oversized headers, malformed request lines, disconnects mid-transfer), port conflicts and
//! graceful shutdown. Every test publishes a generated knowledge base into its own temp dir and
//! runs its own `kbrel serve --addr 127.0.0.1:0` child, killed on drop.

use crate::common::npm::*;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// A knowledge base published as 1.0.0 and 1.1.0, served.
fn published(name: &str, args: &[&str]) -> (Kb, Serve) {
    let kb = Kb::small(name, None);
    kb.release("1.0.0");
    kb.append_both("faq", "\nMore answers.\n", "\n更多答案。\n");
    kb.release("1.1.0");
    let serve = Serve::start(&kb.registry(), args);
    (kb, serve)
}

/// Status, Content-Length, Content-Type, Cache-Control and ETag of a 200, then the 304 for
/// `If-None-Match` with that ETag (also weakened, and `*`). Returns the response.
fn check_cached(serve: &Serve, path: &str, content_type: &str, cache: &str) -> Resp {
    let r = serve.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some(content_type), "GET {path}");
    assert_eq!(r.header("cache-control"), Some(cache), "GET {path}");
    assert_eq!(
        r.header("content-length")
            .map(|l| l.parse::<usize>().unwrap()),
        Some(r.body.len()),
        "GET {path}: Content-Length"
    );
    assert!(
        r.header("content-encoding").is_none(),
        "GET {path} without Accept-Encoding"
    );
    let etag = r
        .header("etag")
        .unwrap_or_else(|| panic!("GET {path}: no ETag"))
        .to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "strong ETag: {etag}"
    );
    for candidate in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let nm = serve.get_with(path, &[("If-None-Match", &candidate)]);
        assert_eq!(nm.status, 304, "GET {path} If-None-Match: {candidate}");
        assert!(nm.body.is_empty(), "304 has no body");
        assert_eq!(nm.header("etag"), Some(etag.as_str()));
        assert_eq!(nm.header("cache-control"), Some(cache));
    }
    let other = serve.get_with(path, &[("If-None-Match", "\"not-the-etag\"")]);
    assert_eq!(other.status, 200, "a different ETag gets the body");
    assert_eq!(other.body, r.body);
    r
}

#[test]
fn etags_cache_control_content_types_and_lengths() {
    let (kb, serve) = published("acme-kb", &[]);
    let index = kb.index();

    // index.json: short cache, the file's bytes, ETag = its sha256.
    let r = check_cached(&serve, "/index.json", "application/json", SHORT);
    let on_disk = std::fs::read(kb.registry().join("index.json")).unwrap();
    assert_eq!(r.body, on_disk);
    assert_eq!(
        r.header("etag").unwrap(),
        format!("\"{}\"", sha256_hex(&on_disk))
    );

    // v/<version>/{manifest,diff,package}.json: immutable, the files' bytes.
    for (file, what) in [
        ("manifest.json", "manifest"),
        ("diff.json", "diff"),
        ("package.json", "package_json"),
    ] {
        let (rel, sha) = index_file(&index, "1.0.0", what);
        assert_eq!(rel, format!("v/1.0.0/{file}"));
        let r = check_cached(&serve, &format!("/{rel}"), "application/json", IMMUTABLE);
        assert_eq!(r.body, std::fs::read(kb.registry().join(&rel)).unwrap());
        assert_eq!(r.header("etag").unwrap(), format!("\"{sha}\""));
    }

    // Every blob of the manifest: immutable markdown, ETag = sha256 = the document.
    let manifest = read_json(&kb.registry().join("v/1.1.0/manifest.json"));
    let docs = manifest["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 6);
    for d in docs {
        let sha = d["sha256"].as_str().unwrap();
        let path = format!("/blobs/sha256/{}/{}", &sha[..2], &sha[2..]);
        let r = check_cached(&serve, &path, "text/markdown; charset=utf-8", IMMUTABLE);
        assert_eq!(sha256_hex(&r.body), sha);
        assert_eq!(r.header("etag").unwrap(), format!("\"{sha}\""));
    }

    // Tarballs at the registry root and at npm's /<name>/-/<file>: immutable octet-stream.
    for version in ["1.0.0", "1.1.0"] {
        let (file, sha) = index_file(&index, version, "tarball");
        assert_eq!(file, format!("acme-kb-{version}.tgz"));
        let bytes = std::fs::read(kb.registry().join(&file)).unwrap();
        for path in [format!("/{file}"), format!("/acme-kb/-/{file}")] {
            let r = check_cached(&serve, &path, "application/octet-stream", IMMUTABLE);
            assert_eq!(r.body, bytes, "GET {path}");
            assert_eq!(r.header("etag").unwrap(), format!("\"{sha}\""));
            // Never gzip-encoded again, even when the client accepts it.
            let gz = serve.get_with(&path, &[("Accept-Encoding", "gzip")]);
            assert!(gz.header("content-encoding").is_none());
            assert_eq!(gz.body, bytes);
        }
    }

    // Packuments and version documents.
    let p = check_cached(&serve, "/acme-kb", "application/json", SHORT);
    assert_eq!(p.json()["dist-tags"]["latest"], "1.1.0");
    check_cached(&serve, "/acme-kb/latest", "application/json", SHORT);
    check_cached(&serve, "/acme-kb/1.0.0", "application/json", IMMUTABLE);
    let a = serve.get_with("/acme-kb", &[("Accept", ABBREVIATED)]);
    assert_eq!(a.header("content-type"), Some(ABBREVIATED));
    assert_ne!(
        a.header("etag"),
        p.header("etag"),
        "each representation has its own ETag"
    );

    // A stale ETag of another file does not validate this one.
    let idx_etag = serve.get("/index.json").header("etag").unwrap().to_string();
    let r = serve.get_with("/acme-kb/1.0.0", &[("If-None-Match", &idx_etag)]);
    assert_eq!(r.status, 200);
}

#[test]
fn gzip_when_accepted() {
    let (kb, serve) = published("acme-kb", &[]);
    let index_bytes = std::fs::read(kb.registry().join("index.json")).unwrap();
    assert!(
        index_bytes.len() > 860,
        "index.json is large enough to be compressed"
    );
    let plain = serve.get("/acme-kb");
    for (path, identity) in [
        ("/index.json", index_bytes.clone()),
        ("/acme-kb", plain.body.clone()),
    ] {
        for accept in ["gzip", "br, gzip;q=0.8, deflate", "GZIP"] {
            let r = serve.get_with(path, &[("Accept-Encoding", accept)]);
            assert_eq!(r.status, 200);
            if accept == "GZIP" {
                // Content codings are case-insensitive, but plain bytes are always acceptable.
                assert_eq!(r.decoded(), identity);
                continue;
            }
            assert_eq!(
                r.header("content-encoding"),
                Some("gzip"),
                "{path} {accept}"
            );
            assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            assert_eq!(
                r.header("content-length")
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
                r.body.len()
            );
            assert!(r.body.len() < identity.len(), "compressed is smaller");
            assert_eq!(
                r.decoded(),
                identity,
                "{path}: gunzipped body = identity body"
            );
            // The gzip representation's ETag is weak and revalidates.
            let etag = r.header("etag").unwrap().to_string();
            assert!(etag.starts_with("W/\""), "weak ETag for gzip: {etag}");
            let nm = serve.get_with(
                path,
                &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
            );
            assert_eq!(nm.status, 304);
        }
        let no = serve.get_with(path, &[("Accept-Encoding", "identity")]);
        assert!(no.header("content-encoding").is_none());
        assert_eq!(no.body, identity);
        let refused = serve.get_with(path, &[("Accept-Encoding", "gzip;q=0")]);
        assert_eq!(refused.decoded(), identity);
    }
    // Small bodies are not compressed.
    let small = serve.get_with("/nope", &[("Accept-Encoding", "gzip")]);
    assert_eq!(small.status, 404);
    assert!(small.header("content-encoding").is_none());
}

/// With `[registry] precompress = true`, a client that accepts gzip gets the registry's `.gz`
/// sibling as it is (index, version files, document blobs: no compression per request), with
/// the headers of an on-the-fly gzip (weak ETag that revalidates, `Vary`, `Content-Encoding`,
/// `Content-Length`); a sibling that does not decode to its file is never sent.
#[test]
fn precompressed_siblings_are_sent_as_they_are() {
    use std::io::Write as _;
    let kb = Kb::small("acme-gz", None);
    let cfg = std::fs::read_to_string(kb.config()).unwrap();
    std::fs::write(
        kb.config(),
        cfg.replace(
            "dir = \"registry\"\n",
            "dir = \"registry\"\nprecompress = true\n",
        ),
    )
    .unwrap();
    kb.release("1.0.0");
    let m: kbrel::manifest::Manifest = crate::common::read_as(&kb.reg("v/1.0.0/manifest.json"));
    let blob = m
        .documents
        .iter()
        .map(|d| kbrel::registry::blob_path(&d.sha256))
        .find(|rel| kb.reg(&format!("{rel}.gz")).is_file())
        .expect("a document blob with a sibling");
    // Each sibling replaced by another gzip of the same bytes (a file name in its header): what
    // is sent is the file's bytes, not a compression of the body.
    let regzip = |rel: &str| {
        let plain = std::fs::read(kb.reg(rel)).unwrap();
        let mut e = flate2::GzBuilder::new()
            .filename("alt")
            .write(Vec::new(), flate2::Compression::fast());
        e.write_all(&plain).unwrap();
        let gz = e.finish().unwrap();
        std::fs::write(kb.reg(&format!("{rel}.gz")), &gz).unwrap();
        (plain, gz)
    };
    let files =
        ["index.json", "v/1.0.0/manifest.json", blob.as_str()].map(|rel| (rel, regzip(rel)));
    // A sibling of other bytes is not sent.
    std::fs::write(
        kb.reg("v/1.0.0/diff.json.gz"),
        kbrel::registry::gzip_static(b"{}"),
    )
    .unwrap();
    let serve = Serve::start(&kb.registry(), &[]);
    for (rel, (plain, gz)) in &files {
        let path = format!("/{rel}");
        let r = serve.get_with(&path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.status, 200, "{rel}");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{rel}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{rel}");
        assert_eq!(r.body, *gz, "{rel}: the .gz file as it is");
        assert_eq!(
            r.header("content-length"),
            Some(gz.len().to_string().as_str())
        );
        let etag = format!("W/\"{}\"", kbrel::hash::sha256_hex(plain));
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{rel}");
        let nm = serve.get_with(
            &path,
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
        );
        assert_eq!(nm.status, 304, "{rel}");
        let identity = serve.get(&path);
        assert_eq!(identity.header("content-encoding"), None, "{rel}");
        assert_eq!(identity.body, *plain, "{rel}");
    }
    let plain = std::fs::read(kb.reg("v/1.0.0/diff.json")).unwrap();
    let r = serve.get_with("/v/1.0.0/diff.json", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.decoded(), plain);
    assert_ne!(r.body, kbrel::registry::gzip_static(b"{}"));
    assert!(
        serve
            .log()
            .contains("v/1.0.0/diff.json.gz does not decompress to v/1.0.0/diff.json"),
        "{}",
        serve.log()
    );
}

#[test]
fn head_returns_headers_only() {
    let (kb, serve) = published("acme-kb", &[]);
    let (file, _) = index_file(&kb.index(), "1.0.0", "tarball");
    for path in [
        "/index.json".to_string(),
        "/acme-kb".into(),
        format!("/{file}"),
        "/v/1.0.0/manifest.json".into(),
    ] {
        let g = serve.get(&path);
        let h = request(serve.addr, "HEAD", &path, &[]);
        assert_eq!(h.status, 200, "HEAD {path}");
        assert!(
            h.body.is_empty(),
            "HEAD {path} sent {} body bytes",
            h.body.len()
        );
        for name in ["content-type", "content-length", "etag", "cache-control"] {
            assert_eq!(h.header(name), g.header(name), "HEAD {path}: {name}");
        }
        assert_eq!(
            h.header("content-length").unwrap(),
            g.body.len().to_string()
        );
        let nm = request(
            serve.addr,
            "HEAD",
            &path,
            &[("If-None-Match", g.header("etag").unwrap())],
        );
        assert_eq!(nm.status, 304);
    }
    let h = request(serve.addr, "HEAD", "/missing", &[]);
    assert_eq!(h.status, 404);
    assert!(h.body.is_empty());
}

#[test]
fn npm_read_api_routes() {
    let (kb, serve) = published("acme-kb", &[]);
    let index = kb.index();
    let base = format!("http://{}", serve.addr);

    let p = serve.get("/acme-kb").json();
    assert_eq!(p["name"], "acme-kb");
    assert_eq!(p["_id"], "acme-kb");
    let dist_tags = serde_json::to_value(&index.dist_tags).unwrap();
    assert_eq!(p["dist-tags"], dist_tags);
    let versions: BTreeSet<&str> = p["versions"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(versions, BTreeSet::from(["1.0.0", "1.1.0"]));
    for v in ["1.0.0", "1.1.0"] {
        let doc = &p["versions"][v];
        let (file, _) = index_file(&index, v, "tarball");
        let entry = index
            .versions
            .iter()
            .find(|e| e.version.to_string() == v)
            .unwrap();
        assert_eq!(doc["name"], "acme-kb");
        assert_eq!(doc["version"], v);
        assert_eq!(
            doc["dist"]["tarball"],
            format!("{base}/acme-kb/-/{file}"),
            "absolute tarball URL from Host"
        );
        assert_eq!(doc["dist"]["integrity"], entry.tarball.integrity.as_str());
        assert_eq!(doc["dist"]["shasum"], entry.tarball.shasum.as_str());
        assert!(p["time"][v].is_string());
        // The version document is the packument's entry; exports come from package.json.
        let vd = serve.get(&format!("/acme-kb/{v}")).json();
        assert_eq!(&vd, doc);
        assert_eq!(vd["exports"]["./en"]["default"], "./dist/esm/en.js");
        assert_eq!(vd["exports"]["./zh"]["types"], "./dist/esm/zh.d.ts");
        // The tarball URL of the packument answers with the tarball.
        let path = doc["dist"]["tarball"]
            .as_str()
            .unwrap()
            .strip_prefix(&base)
            .unwrap();
        assert_eq!(
            serve.get(path).body,
            std::fs::read(kb.registry().join(&file)).unwrap()
        );
    }
    assert_eq!(serve.get("/acme-kb/latest").json()["version"], "1.1.0");
    assert_eq!(
        serve.get("/acme-kb/latest").json(),
        serve.get("/acme-kb/1.1.0").json()
    );

    // Abbreviated packument: only what installs need.
    let a = serve.get_with(
        "/acme-kb",
        &[(
            "Accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        )],
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some(ABBREVIATED));
    let a = a.json();
    assert_eq!(a["name"], "acme-kb");
    assert_eq!(a["dist-tags"], dist_tags);
    assert!(a["modified"].is_string());
    assert!(a.get("time").is_none() && a.get("description").is_none());
    for v in ["1.0.0", "1.1.0"] {
        let keys: BTreeSet<&str> = a["versions"][v]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert!(
            keys.is_subset(&BTreeSet::from([
                "name",
                "version",
                "dist",
                "dependencies",
                "engines",
                "bin"
            ])),
            "{keys:?}"
        );
        assert_eq!(a["versions"][v]["dist"], p["versions"][v]["dist"]);
    }

    // The Host header decides the tarball base when --base-url is not given.
    let h = get(serve.addr, "/acme-kb/1.0.0", &[]);
    assert!(
        h.json()["dist"]["tarball"]
            .as_str()
            .unwrap()
            .starts_with(&base)
    );
    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.write_all(
        b"GET /acme-kb/1.0.0 HTTP/1.1\r\nHost: docs.example.test:8443\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let r = parse_response(&read_to_close(&mut s, Duration::from_secs(10))).unwrap();
    assert_eq!(
        r.json()["dist"]["tarball"],
        "http://docs.example.test:8443/acme-kb/-/acme-kb-1.0.0.tgz"
    );

    // Unknown names, versions, tags and files: npm's 404 JSON.
    for path in [
        "/other-package",
        "/acme-kbx",
        "/acme-kb/9.9.9",
        "/acme-kb/nightly",
        "/acme-kb/-/acme-kb-9.9.9.tgz",
        "/acme-kb-9.9.9.tgz",
        "/v/9.9.9/manifest.json",
        "/v/1.0.0/other.json",
        "/blobs/sha256/00/0000",
        &format!("/blobs/sha256/00/{}", "0".repeat(62)),
        "/favicon.ico",
        "/-/v1/search?text=x",
    ] {
        let r = serve.get(path);
        assert_eq!(r.status, 404, "GET {path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.json(),
            serde_json::json!({"error": "Not found"}),
            "GET {path}"
        );
    }

    // Writes are refused.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for path in ["/acme-kb", "/index.json", "/-/user/org.couchdb.user:x"] {
            let r = request(serve.addr, method, path, &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
            assert!(r.json()["error"].is_string());
        }
    }
    // The registry is unchanged by all of that.
    assert_eq!(kb.index(), index);
}

#[test]
fn scoped_name_and_base_url() {
    let kb = Kb::small("@acme/docs", None);
    kb.release("1.0.0");
    let serve = Serve::start(
        &kb.registry(),
        &["--base-url", "https://cdn.example.test/npm/"],
    );
    let (file, _) = index_file(&kb.index(), "1.0.0", "tarball");
    let bytes = std::fs::read(kb.registry().join(&file)).unwrap();
    for path in ["/@acme%2fdocs", "/@acme%2Fdocs", "/@acme/docs"] {
        let p = serve.get(path);
        assert_eq!(p.status, 200, "GET {path}");
        let p = p.json();
        assert_eq!(p["name"], "@acme/docs");
        assert_eq!(
            p["versions"]["1.0.0"]["dist"]["tarball"],
            format!("https://cdn.example.test/npm/@acme/docs/-/{file}"),
            "--base-url decides the tarball URL"
        );
    }
    assert_eq!(serve.get("/@acme%2fdocs/1.0.0").json()["version"], "1.0.0");
    assert_eq!(serve.get("/@acme%2fdocs/latest").json()["version"], "1.0.0");
    for path in [
        format!("/@acme/docs/-/{file}"),
        format!("/@acme%2fdocs/-/{file}"),
        format!("/{file}"),
    ] {
        let r = serve.get(&path);
        assert_eq!(r.status, 200, "GET {path}");
        assert_eq!(r.body, bytes);
    }
    assert_eq!(serve.get("/@acme%2fother").status, 404);
    assert_eq!(serve.get("/@acme").status, 404);
}

#[test]
fn index_changes_are_picked_up_and_garbage_is_ignored() {
    let kb = Kb::small("acme-kb", None);
    kb.release("1.0.0");
    let serve = Serve::start(&kb.registry(), &[]);
    let first = serve.get("/index.json");
    assert_eq!(index_versions(&first.parse()), ["1.0.0"]);
    let etag1 = first.header("etag").unwrap().to_string();
    assert_eq!(serve.get("/acme-kb/1.1.0").status, 404);
    let packument_etag1 = serve.get("/acme-kb").header("etag").unwrap().to_string();

    // A publish while serving: seen on the next request, no restart.
    kb.append_both("faq", "\nNew.\n", "\n新的。\n");
    kb.release("1.1.0");
    let second = serve.get_with("/index.json", &[("If-None-Match", &etag1)]);
    assert_eq!(second.status, 200, "the old ETag no longer matches");
    assert_eq!(index_versions(&second.parse()), ["1.0.0", "1.1.0"]);
    assert_eq!(
        second.body,
        std::fs::read(kb.registry().join("index.json")).unwrap()
    );
    let p = serve.get_with("/acme-kb", &[("If-None-Match", &packument_etag1)]);
    assert_eq!(p.status, 200);
    assert_eq!(p.json()["dist-tags"]["latest"], "1.1.0");
    assert_eq!(serve.get("/acme-kb/1.1.0").json()["version"], "1.1.0");
    assert_eq!(serve.get("/acme-kb-1.1.0.tgz").status, 200);

    // index.json replaced by garbage: the last good index is still served, and an error logged.
    let good = second.body.clone();
    std::fs::write(kb.registry().join("index.json"), b"{ this is not an index").unwrap();
    for _ in 0..3 {
        let r = serve.get("/index.json");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, good, "still the last good index");
        assert_eq!(serve.get("/acme-kb/1.1.0").status, 200);
        assert_eq!(serve.get("/acme-kb").json()["dist-tags"]["latest"], "1.1.0");
    }
    let logged = serve.proc.output.wait_for(Duration::from_secs(5), |l| {
        l.contains("error") && l.contains("last good index")
    });
    assert!(logged.is_some(), "an error on stderr:\n{}", serve.log());
    let errors = serve
        .log()
        .lines()
        .filter(|l| l.contains("last good index"))
        .count();
    assert_eq!(
        errors,
        1,
        "logged once per bad index, not per request:\n{}",
        serve.log()
    );

    // An empty index.json (a truncated write) likewise.
    std::fs::write(kb.registry().join("index.json"), b"").unwrap();
    assert_eq!(serve.get("/index.json").body, good);

    // A good index again: served again.
    std::fs::write(kb.registry().join("index.json"), &good).unwrap();
    let r = serve.get("/index.json");
    assert_eq!(r.body, good);
    assert_eq!(r.header("etag"), second.header("etag"));
}

#[test]
fn path_traversal_never_leaks_a_byte() {
    let (kb, mut serve) = published("acme-kb", &[]);
    let secret = format!("TOP-SECRET-{}", std::process::id());
    // Planted next to the registry, inside it but unlisted, and with names routes accept.
    std::fs::write(kb.root().join("secret.txt"), &secret).unwrap();
    std::fs::write(kb.root().join("secret.tgz"), &secret).unwrap();
    std::fs::write(kb.root().join("secret.json"), &secret).unwrap();
    std::fs::write(kb.registry().join("unlisted.tgz"), &secret).unwrap();
    std::fs::write(kb.registry().join("unlisted.txt"), &secret).unwrap();
    std::fs::create_dir_all(kb.registry().join("v/9.9.9")).unwrap();
    std::fs::write(kb.registry().join("v/9.9.9/manifest.json"), &secret).unwrap();
    let blob = "ab".to_string() + &"c".repeat(62);
    std::fs::create_dir_all(kb.registry().join("blobs/sha256/ab")).unwrap();
    std::fs::write(
        kb.registry()
            .join(format!("blobs/sha256/ab/{}", &blob[2..])),
        &secret,
    )
    .unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let passwd_line = passwd.lines().next().unwrap_or("root:x:0:0").to_string();

    let targets: Vec<String> = [
        "/../secret.txt",
        "/../../../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.tgz",
        "/%2e%2e%2fsecret.tgz",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.tgz",
        "/%25252e%25252e/secret.txt",
        "//etc/passwd",
        "//secret.txt",
        "///../secret.txt",
        "/..\\..\\secret.txt",
        "/..\\secret.tgz",
        "/%5c..%5c..%5csecret.txt",
        "/..%5csecret.tgz",
        "/secret.txt%00",
        "/%00/../secret.txt",
        "/index.json%00",
        "/acme-kb-1.0.0.tgz%00.txt",
        "/%2e/index.json",
        "/./secret.txt",
        "/.%2e/secret.txt",
        "/..;/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%ff",
        "/%zz/secret.txt",
        "/%",
        "/blobs/sha256/../../../secret.txt",
        "/blobs/sha256/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/blobs/sha256/ab/../../../../secret.txt",
        "/v/../../secret.json",
        "/v/..%2f..%2fsecret.json/manifest.json",
        "/v/1.0.0/../../../secret.json",
        "/v/9.9.9/manifest.json",
        "/acme-kb/-/../../../secret.tgz",
        "/acme-kb/-/..%2f..%2f..%2fsecret.tgz",
        "/acme-kb/-/%2e%2e%2fsecret.tgz",
        "/acme-kb/-/..\\..\\secret.tgz",
        "/acme-kb/..%2f..%2fsecret.txt",
        "/acme-kb/../../secret.txt",
        "/-/../secret.tgz",
        "/unlisted.tgz",
        "/unlisted.txt",
        "/acme-kb/-/unlisted.tgz",
        "/.lock",
        "/registry/index.json",
        "/v/1.0.0/en/../../../../secret.txt",
        "/v/1.0.0/en/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/v/1.0.0/en/..%2f..%2f..%2f..%2fsecret.txt",
        "/v/1.0.0/en/..%5c..%5c..%5c..%5csecret.txt",
        "/v/1.0.0/en/%252e%252e/secret",
        "/v/1.0.0/%2e%2e/%2e%2e/secret.txt",
        "/assets/../../secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..\\..\\secret.txt",
        "/diff/..%2f..%2fsecret.txt",
        "/diff/1.0.0/../../../secret.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("/blobs/sha256/ab/{}", &blob[2..])])
    .collect();

    // Requests as npm sends them, and as a browser does (HTML pages may answer those).
    let accepts = ["", "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"];
    for target in &targets {
        for (method, accept) in [
            ("GET", accepts[0]),
            ("GET", accepts[1]),
            ("HEAD", accepts[0]),
        ] {
            let raw = exchange(
                serve.addr,
                format!(
                    "{method} {target} HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n"
                )
                .as_bytes(),
                Duration::from_secs(10),
            );
            let text = String::from_utf8_lossy(&raw);
            assert!(
                !text.contains(&secret),
                "{method} {target} leaked the secret:\n{text}"
            );
            assert!(
                !text.contains(&passwd_line),
                "{method} {target} leaked /etc/passwd:\n{text}"
            );
            if let Some(r) = parse_response(&raw) {
                assert!(
                    r.status == 400 || r.status == 404,
                    "{method} {target}: status {} (expected 400 or 404)\n{text}",
                    r.status
                );
            }
        }
    }
    // Traversal in query strings (which pages may read): whatever the status, no leak.
    for target in [
        "/?path=../secret.txt",
        "/?file=..%2f..%2fsecret.txt",
        "/status?doc=../../secret.txt",
        "/diff/1.0.0..1.1.0?path=../../../secret.txt",
        "/v/1.0.0/en/intro?raw=../../../secret.txt",
        "/acme-kb?write=../secret.txt",
        "/index.json?../secret.txt",
    ] {
        for accept in accepts {
            let raw = exchange(
                serve.addr,
                format!("GET {target} HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n")
                    .as_bytes(),
                Duration::from_secs(10),
            );
            let text = String::from_utf8_lossy(&raw);
            assert!(
                !text.contains(&secret),
                "GET {target} leaked the secret:\n{text}"
            );
            assert!(parse_response(&raw).is_some(), "GET {target}: no response");
        }
    }
    // Absolute-form and origin-less request targets.
    for target in [
        "http://127.0.0.1/../secret.txt",
        "http://x/%2e%2e/secret.txt",
        "../secret.txt",
        "secret.txt",
        "*",
        "\\..\\secret.txt",
    ] {
        let raw = exchange(
            serve.addr,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains(&secret),
            "GET {target} leaked the secret:\n{text}"
        );
        if let Some(r) = parse_response(&raw) {
            assert!(r.status == 400 || r.status == 404, "GET {target}: {text}");
        }
    }
    // The server is still up and serving.
    assert!(serve.alive());
    assert_eq!(serve.get("/index.json").status, 200);
    assert!(!serve.log().contains(&secret));
}

#[test]
fn push_to_a_read_only_kbrel_serve_is_refused() {
    let (_kb, serve) = published("acme-kb", &[]);
    let other = Kb::small("other-kb", None);
    other.release("1.0.0");
    let r = run(other.cmd().args(["push", "1.0.0", "--to", &serve.url()])).code(2);
    assert!(
        r.stderr.contains("405") && r.stderr.contains("read-only"),
        "{r}"
    );
    // Pushing what it already serves is "already present".
    let r = run(_kb.cmd().args(["push", "1.0.0", "--to", &serve.url()])).success();
    assert!(r.stdout.contains("already present"), "{r}");
}

#[test]
fn port_in_use_and_not_a_registry() {
    let kb = Kb::small("acme-kb", None);
    kb.release("1.0.0");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let started = Instant::now();
    let r = run(kbrel()
        .arg("serve")
        .arg(kb.registry())
        .args(["--addr", &addr]))
    .code(2);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(r.stderr.contains(&addr), "names the address\n{r}");
    assert!(r.stderr.contains("--addr"), "suggests --addr\n{r}");
    assert!(r.stderr.contains("in use"), "{r}");

    // Not a registry: an empty folder, a folder of other files, a missing folder, a bad index.
    let empty = tempfile::tempdir().unwrap();
    let r = run(kbrel()
        .arg("serve")
        .arg(empty.path())
        .args(["--addr", "127.0.0.1:0"]))
    .code(2);
    assert!(r.stderr.contains("not a registry"), "{r}");
    let r = run(kbrel()
        .arg("serve")
        .arg(kb.content())
        .args(["--addr", "127.0.0.1:0"]))
    .code(2);
    assert!(r.stderr.contains("not a registry"), "{r}");
    let r = run(kbrel()
        .arg("serve")
        .arg(kb.root().join("missing"))
        .args(["--addr", "127.0.0.1:0"]))
    .code(2);
    assert!(!r.stderr.is_empty());
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("index.json"), "[1, 2").unwrap();
    run(kbrel()
        .arg("serve")
        .arg(bad.path())
        .args(["--addr", "127.0.0.1:0"]))
    .code(2);
    // Not an address.
    let r = run(kbrel()
        .arg("serve")
        .arg(kb.registry())
        .args(["--addr", "not-an-address"]))
    .code(2);
    assert!(r.stderr.contains("not-an-address"), "{r}");
    drop(taken);
}

#[test]
fn client_disconnecting_mid_transfer_does_not_hurt() {
    let kb = Kb::small("acme-kb", None);
    // A large, poorly compressible document in both languages: a tarball of several MB.
    kb.write_doc(
        "big",
        "Big",
        ("Big", &format!("# Big\n\n{}", noise(1_500_000, 1))),
        ("大", &format!("# 大\n\n{}", noise(1_500_000, 2))),
    );
    kb.release("1.0.0");
    let mut serve = Serve::start(&kb.registry(), &[]);
    let (file, sha) = index_file(&kb.index(), "1.0.0", "tarball");
    let size = std::fs::metadata(kb.registry().join(&file)).unwrap().len();
    assert!(size > 4_000_000, "tarball of {size} bytes");

    for i in 0..6 {
        let mut s = TcpStream::connect(serve.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let path = if i % 2 == 0 {
            format!("/{file}")
        } else {
            format!("/acme-kb/-/{file}")
        };
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = vec![0u8; 32 * 1024];
        let mut got = 0;
        while got < 64 * 1024 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed early");
            got += n;
        }
        if i == 5 {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        drop(s); // unread data: the kernel resets the connection
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(serve.alive(), "kbrel serve died:\n{}", serve.log());
    let r = serve.get(&format!("/{file}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len() as u64, size);
    assert_eq!(sha256_hex(&r.body), sha);
    assert_eq!(serve.get("/index.json").status, 200);
}

/// Whether the peer closed `s` (EOF or reset) within `timeout`; reads and discards data.
fn closed_within(s: &mut TcpStream, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < timeout {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn slowloris_is_cut_off_while_others_are_served() {
    let (_kb, mut serve) = published("acme-kb", &["--header-timeout", "1"]);
    // A partial header, then silence.
    let mut stalled = TcpStream::connect(serve.addr).unwrap();
    stalled
        .write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(serve.addr).unwrap();
    // A header sent one byte at a time, forever.
    let mut trickle = TcpStream::connect(serve.addr).unwrap();
    trickle.write_all(b"GET /index.json HTTP/1.1\r\n").unwrap();
    let trickler = {
        let mut t = trickle.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..50 {
                if t.write_all(b"X").is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
    };
    // Meanwhile other clients are served promptly.
    let started = Instant::now();
    for _ in 0..5 {
        let t0 = Instant::now();
        assert_eq!(serve.get("/index.json").status, 200);
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "served in {:?}",
            t0.elapsed()
        );
    }
    let closed = closed_within(&mut stalled, Duration::from_secs(5));
    assert!(
        closed.is_some(),
        "a stalled header was not cut off within 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stalled connection closed after {:?}",
        started.elapsed()
    );
    let t = closed_within(&mut silent, Duration::from_secs(5));
    assert!(t.is_some(), "a silent connection was not closed within 5 s");
    let t = closed_within(&mut trickle, Duration::from_secs(5));
    assert!(t.is_some(), "a trickled header was not cut off within 5 s");
    assert!(
        trickler.join().unwrap(),
        "writes to the trickled connection fail once it is closed"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(serve.alive());
    assert_eq!(serve.get("/index.json").status, 200);
}

#[test]
fn oversized_and_malformed_requests() {
    let (_kb, mut serve) = published("acme-kb", &[]);
    // 100 KB of header: 431 or a closed connection, never a crash.
    let mut req = b"GET /index.json HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 100 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    let raw = exchange(serve.addr, &req, Duration::from_secs(10));
    if let Some(r) = parse_response(&raw) {
        assert_eq!(r.status, 431, "{}", String::from_utf8_lossy(&raw));
    }
    // Many header lines adding up to 100 KB.
    let mut req = b"GET /index.json HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..2000 {
        req.extend_from_slice(format!("X-H{i}: {}\r\n", "b".repeat(40)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let raw = exchange(serve.addr, &req, Duration::from_secs(10));
    if let Some(r) = parse_response(&raw) {
        assert!(
            r.status == 431 || r.status == 400,
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }
    assert!(serve.alive());
    assert_eq!(serve.get("/index.json").status, 200);

    // Malformed request lines: 400.
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /index.json\r\n\r\n",
        b"GET /index.json HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G<T /index.json HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET /index.json HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let raw = exchange(serve.addr, bad, Duration::from_secs(10));
        let r = parse_response(&raw).unwrap_or_else(|| {
            panic!(
                "no response to {:?}: {:?}",
                String::from_utf8_lossy(bad),
                String::from_utf8_lossy(&raw)
            )
        });
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(bad));
    }
    // Unsupported HTTP version and a connection closed half-way through a request line.
    let raw = exchange(
        serve.addr,
        b"GET /index.json HTTP/9.9\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    if let Some(r) = parse_response(&raw) {
        assert!(r.status >= 400, "{}", String::from_utf8_lossy(&raw));
    }
    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.write_all(b"GET /ind").unwrap();
    drop(s);
    assert!(serve.alive());
    assert_eq!(serve.get("/index.json").status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (_kb, serve) = published("acme-kb", &[]);
    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\nHEAD /acme-kb HTTP/1.1\r\nHost: x\r\n\r\nGET /acme-kb/latest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let raw = read_to_close(&mut s, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
}

#[test]
fn sigterm_exits_zero_promptly() {
    let (_kb, mut serve) = published("acme-kb", &[]);
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(serve.addr).unwrap();
    idle.write_all(b"GET /index.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).unwrap() > 0);
    let started = Instant::now();
    serve.proc.signal("TERM");
    let status = serve.proc.wait_timeout(Duration::from_secs(5));
    let Some(status) = status else {
        panic!(
            "kbrel serve still running 5 s after SIGTERM:\n{}",
            serve.log()
        );
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM\n{}",
        serve.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        TcpStream::connect(serve.addr).is_err(),
        "the listener is closed"
    );
}

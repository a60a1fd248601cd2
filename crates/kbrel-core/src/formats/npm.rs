//! npm's registry formats: the packument (full and abbreviated) built from the index and each
//! version's `package.json`, and the publish document for `PUT /<name>`. The only module that
//! knows npm's JSON shapes.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::manifest::{Index, IndexVersion};

/// Where the static packument of a package lives in the registry directory: the URL path npm
/// requests (`/name`, or `/@scope%2fname` which static servers decode to `@scope/name`).
pub fn packument_path(name: &str) -> String {
    name.to_string()
}

/// Node.js core module names, which npm refuses for new packages (the list of
/// validate-npm-package-name 8.0.0, `lib/builtin-modules.json`).
const NODE_BUILTINS: &[&str] = &[
    "_http_agent",
    "_http_client",
    "_http_common",
    "_http_incoming",
    "_http_outgoing",
    "_http_server",
    "_stream_duplex",
    "_stream_passthrough",
    "_stream_readable",
    "_stream_transform",
    "_stream_wrap",
    "_stream_writable",
    "_tls_common",
    "_tls_wrap",
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "inspector/promises",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "readline/promises",
    "repl",
    "stream",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
    "node:sea",
    "node:sqlite",
    "node:test",
    "node:test/reporters",
];

/// The characters `encodeURIComponent` leaves alone.
fn url_friendly(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
    })
}

/// npm's package-name rules for new packages, exactly those of validate-npm-package-name
/// 8.0.0 (`validForNewPackages`; `tests/it/npm_names.rs` compares the two in Node), plus the
/// names that would collide with the registry's own files.
pub fn validate_package_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.starts_with('.') {
        return Err("must not start with a period".into());
    }
    if name.starts_with('-') {
        return Err("must not start with a hyphen".into());
    }
    if name.starts_with('_') {
        return Err("must not start with an underscore".into());
    }
    if name.trim() != name {
        return Err("must not have leading or trailing spaces".into());
    }
    let lower = name.to_lowercase();
    if lower == "node_modules" || lower == "favicon.ico" {
        return Err(format!("`{name}` is a name npm refuses"));
    }
    if NODE_BUILTINS.contains(&lower.as_str()) {
        return Err(format!(
            "`{name}` is a Node.js core module name, which npm refuses for new packages"
        ));
    }
    if name.encode_utf16().count() > 214 {
        return Err("must be at most 214 characters".into());
    }
    if lower != name {
        return Err("must not contain capital letters".into());
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if let Some(c) = last.chars().find(|c| "~'!()*".contains(*c)) {
        return Err(format!(
            "character `{c}` is not allowed in the name (npm refuses ~'!()* there)"
        ));
    }
    if !url_friendly(name) {
        let scoped = name
            .strip_prefix('@')
            .and_then(|r| r.split_once('/'))
            .filter(|(user, pkg)| !user.is_empty() && !pkg.is_empty() && !pkg.contains('/'));
        match scoped {
            Some((_, pkg)) if pkg.starts_with('.') => {
                return Err("the name after the scope must not start with a period".into());
            }
            Some((user, pkg)) if url_friendly(user) && url_friendly(pkg) => {}
            _ => {
                let c = name
                    .chars()
                    .find(|c| !url_friendly(&c.to_string()) && *c != '@' && *c != '/')
                    .map(|c| format!(" (`{}`)", c.escape_debug()))
                    .unwrap_or_default();
                return Err(format!(
                    "can only contain URL-friendly characters: lowercase letters, digits, - . _, and one @scope/ prefix{c}"
                ));
            }
        }
    }
    if matches!(name, "v" | "blobs" | "index.json" | "index.json.sig") || name.ends_with(".tgz") {
        return Err(format!(
            "`{name}` collides with a file of the registry layout"
        ));
    }
    Ok(())
}

pub fn is_js_identifier(s: &str) -> bool {
    crate::js::is_identifier(s)
}

/// `@scope/name` + `1.0.0` → `scope-name-1.0.0.tgz`, as `npm pack` names it.
pub fn tarball_file_name(name: &str, version: &str) -> String {
    format!(
        "{}-{version}.tgz",
        name.trim_start_matches('@').replace('/', "-")
    )
}

fn version_doc(
    name: &str,
    v: &IndexVersion,
    package_json: Option<&Value>,
    tarball_url: &str,
) -> Value {
    let mut doc = match package_json {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    doc.insert("name".into(), json!(name));
    doc.insert("version".into(), json!(v.version));
    doc.insert("_id".into(), json!(format!("{name}@{}", v.version)));
    doc.insert(
        "dist".into(),
        json!({
            "tarball": tarball_url,
            "integrity": v.tarball.integrity,
            "shasum": v.tarball.shasum,
            "fileCount": v.tarball.file_count,
            "unpackedSize": v.tarball.unpacked_size,
        }),
    );
    Value::Object(doc)
}

/// The full packument (`GET /<name>`). `tarball_url` maps a tarball file name to its URL.
pub fn packument(
    index: &Index,
    docs: &BTreeMap<String, Value>,
    tarball_url: &dyn Fn(&str) -> String,
) -> Value {
    let mut versions = Map::new();
    let mut time = Map::new();
    for v in &index.versions {
        let version = v.version.to_string();
        versions.insert(
            version.clone(),
            version_doc(
                &index.name,
                v,
                docs.get(&version),
                &tarball_url(&v.tarball.path),
            ),
        );
        time.insert(version, json!(v.published));
    }
    let created = index
        .versions
        .iter()
        .map(|v| v.published.as_str())
        .min()
        .unwrap_or("");
    let modified = index
        .versions
        .iter()
        .map(|v| v.published.as_str())
        .max()
        .unwrap_or("");
    time.insert("created".into(), json!(created));
    time.insert("modified".into(), json!(modified));
    let latest_doc = index
        .dist_tags
        .get("latest")
        .and_then(|l| docs.get(&l.to_string()));
    let description = latest_doc
        .and_then(|d| d.get("description"))
        .cloned()
        .unwrap_or(json!(""));
    let license = latest_doc
        .and_then(|d| d.get("license"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "_id": index.name,
        "name": index.name,
        "description": description,
        "license": license,
        "dist-tags": index.dist_tags,
        "versions": versions,
        "time": time,
    })
}

/// The abbreviated packument (`Accept: application/vnd.npm.install-v1+json`).
pub fn abbreviated(
    index: &Index,
    docs: &BTreeMap<String, Value>,
    tarball_url: &dyn Fn(&str) -> String,
) -> Value {
    let mut versions = Map::new();
    for v in &index.versions {
        let version = v.version.to_string();
        let full = version_doc(
            &index.name,
            v,
            docs.get(&version),
            &tarball_url(&v.tarball.path),
        );
        let mut doc = Map::new();
        for key in ["name", "version", "dist", "dependencies", "engines", "bin"] {
            if let Some(x) = full.get(key) {
                doc.insert(key.into(), x.clone());
            }
        }
        versions.insert(version, Value::Object(doc));
    }
    let modified = index
        .versions
        .iter()
        .map(|v| v.published.as_str())
        .max()
        .unwrap_or("");
    json!({
        "name": index.name,
        "modified": modified,
        "dist-tags": index.dist_tags,
        "versions": versions,
    })
}

/// One version document (`GET /<name>/<version>`).
pub fn version(
    index: &Index,
    docs: &BTreeMap<String, Value>,
    version: &str,
    tarball_url: &dyn Fn(&str) -> String,
) -> Option<Value> {
    let v = index.get(version)?;
    Some(version_doc(
        &index.name,
        v,
        docs.get(version),
        &tarball_url(&v.tarball.path),
    ))
}

/// The body of `PUT /<name>` that publishes one version (npm's publish API).
pub fn publish_document(
    index: &Index,
    v: &IndexVersion,
    package_json: &Value,
    tgz: &[u8],
    tarball_url: &str,
    tag: &str,
) -> Value {
    let file = tarball_file_name(&index.name, &v.version.to_string());
    let doc = version_doc(&index.name, v, Some(package_json), tarball_url);
    json!({
        "_id": index.name,
        "name": index.name,
        "description": package_json.get("description").cloned().unwrap_or(json!("")),
        "dist-tags": { tag: v.version },
        "versions": { v.version.to_string(): doc },
        "access": null,
        "_attachments": {
            file: {
                "content_type": "application/octet-stream",
                "data": base64::engine::general_purpose::STANDARD.encode(tgz),
                "length": tgz.len(),
            }
        }
    })
}

/// npm's 404 body.
pub fn not_found() -> Value {
    json!({ "error": "Not found" })
}

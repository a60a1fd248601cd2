//! The JSON Schemas in `schema/` against real published files and against kbrel's serde types.
//!
//! A small validator for the subset of draft 2020-12 the schemas use lives below; it panics on
//! any keyword it does not implement, so a schema can never silently rely on one. `pattern`s are
//! checked by Rust stand-ins (kbrel has no regex engine); a node test checks that each stand-in
//! agrees with the real ECMAScript regex on a list of samples.
//!
//! "Match the serde types exactly" is checked by mutation: every field of every object of real
//! files is removed, nulled, retyped and joined by an unknown field, and the schema must accept
//! the result exactly when serde does (the one allowed difference: serde tolerates a missing
//! `Option` field that kbrel always writes as `null`; the schema requires it).

use crate::common::sync::*;

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

// --- the validator ------------------------------------------------------------------------

/// The Rust stand-in for each regex the schemas use.
fn pattern(p: &str) -> fn(&str) -> bool {
    fn hex(s: &str, n: usize) -> bool {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
    fn b64(s: &str, chars: usize, pad: usize) -> bool {
        s.len() == chars + pad
            && s[..chars]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            && s[chars..].bytes().all(|b| b == b'=')
    }
    match p {
        "^[0-9a-f]{64}$" => |s| hex(s, 64),
        "^[0-9a-f]{40}$" => |s| hex(s, 40),
        "^[0-9a-f]{16}$" => |s| hex(s, 16),
        "^[0-9a-f]{40}([0-9a-f]{24})?$" => |s| hex(s, 40) || hex(s, 64),
        "^[A-Za-z0-9_-]+$" => |s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        },
        "^sha512-[A-Za-z0-9+/]{86}==$" => {
            |s| s.strip_prefix("sha512-").is_some_and(|r| b64(r, 86, 2))
        }
        "^ed25519:[A-Za-z0-9+/]{43}=$" => {
            |s| s.strip_prefix("ed25519:").is_some_and(|r| b64(r, 43, 1))
        }
        "^[A-Za-z0-9+/]{86}==$" => |s| b64(s, 86, 2),
        SAFE_PATH => kbrel::manifest::is_safe_relative_path,
        other => panic!("the validator has no stand-in for the pattern {other:?}; add one"),
    }
}

/// The schemas' pattern for a registry-relative path: exactly `manifest::is_safe_relative_path`.
const SAFE_PATH: &str =
    "^(?!\\.\\.?(/|$))(?![\\s\\S]*/\\.\\.?(/|$))[^/\\\\:\\u0000]+(/[^/\\\\:\\u0000]+)*$";

struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    fn errors(schema: &Value, instance: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        Validator { root: schema }.check(schema, instance, "", &mut errs);
        errs
    }

    fn resolve(&self, r: &str) -> &Value {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $refs: {r}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved $ref {r}"))
    }

    fn check(&self, schema: &Value, inst: &Value, at: &str, errs: &mut Vec<String>) {
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return errs.push(format!("{at}: not allowed")),
            Value::Object(o) => o,
            _ => panic!("a schema is an object or a boolean: {schema}"),
        };
        for (k, v) in obj {
            match k.as_str() {
                "$schema" | "$id" | "title" | "description" | "$comment" | "$defs" | "examples"
                | "default" => {}
                "$ref" => self.check(self.resolve(v.as_str().unwrap()), inst, at, errs),
                "type" => {
                    let types: Vec<&str> = match v {
                        Value::String(s) => vec![s.as_str()],
                        Value::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
                        _ => panic!("bad type {v}"),
                    };
                    if !types.iter().any(|t| is_type(inst, t)) {
                        errs.push(format!("{at}: {inst} is not of type {types:?}"));
                    }
                }
                "const" if inst != v => errs.push(format!("{at}: {inst} is not {v}")),
                "enum" if !v.as_array().unwrap().contains(inst) => {
                    errs.push(format!("{at}: {inst} is not one of {v}"))
                }
                "const" | "enum" => {}
                "required" => {
                    if let Value::Object(o) = inst {
                        for name in v.as_array().unwrap() {
                            if !o.contains_key(name.as_str().unwrap()) {
                                errs.push(format!("{at}: missing required property {name}"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Value::Object(o) = inst {
                        for (name, sub) in v.as_object().unwrap() {
                            if let Some(x) = o.get(name) {
                                self.check(sub, x, &format!("{at}/{name}"), errs);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Value::Object(o) = inst {
                        let props = obj.get("properties").and_then(Value::as_object);
                        for (name, x) in o {
                            if !props.is_some_and(|p| p.contains_key(name)) {
                                self.check(v, x, &format!("{at}/{name}"), errs);
                            }
                        }
                    }
                }
                "items" => {
                    if let Value::Array(a) = inst {
                        for (i, x) in a.iter().enumerate() {
                            self.check(v, x, &format!("{at}/{i}"), errs);
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let Some(n) = inst.as_f64() {
                        let bound = v.as_f64().unwrap();
                        if (k == "minimum" && n < bound) || (k == "maximum" && n > bound) {
                            errs.push(format!("{at}: {n} is out of range ({k} {bound})"));
                        }
                    }
                }
                "minLength" => {
                    if let Value::String(s) = inst
                        && (s.chars().count() as u64) < v.as_u64().unwrap()
                    {
                        errs.push(format!("{at}: {s:?} is too short"));
                    }
                }
                "pattern" => {
                    let ok = pattern(v.as_str().unwrap());
                    if let Value::String(s) = inst
                        && !ok(s)
                    {
                        errs.push(format!("{at}: {s:?} does not match {v}"));
                    }
                }
                "format" => {
                    assert_eq!(v, "date-time", "the validator knows format date-time only");
                    if let Value::String(s) = inst
                        && !(s.len() > 10 && kbrel::date::Timestamp::parse(s).is_ok())
                    {
                        errs.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
                    }
                }
                other => panic!("the validator does not implement the keyword {other:?}"),
            }
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}

fn schema(name: &str) -> Value {
    read_json(&manifest_dir().join("schema").join(name))
}

fn assert_valid(schema_name: &str, instance: &Value, what: &str) {
    let errs = Validator::errors(&schema(schema_name), instance);
    assert!(
        errs.is_empty(),
        "{what} does not match {schema_name}:\n{}",
        errs.join("\n")
    );
}

// --- real files ---------------------------------------------------------------------------

/// A registry with two signed releases that exercise most optional parts of the formats:
/// `expires`, a next-key endorsement, lint warnings, translation drift, and diffs with added,
/// modified, removed and renamed documents.
fn published() -> Kb {
    let kb = Kb::generated("acme-schema", 5);
    kb.write_config("kbrel.toml", "expires_days = 30");
    kb.write("en/only-en.md", doc_text("en", "only-en.md", 77, ""));
    kb.key("k1");
    let next = kb.key("k2");
    let k1 = kb.root().join("k1").display().to_string();
    kb.release_at(
        "kbrel.toml",
        &kb.registry(),
        "1.0.0",
        DATE,
        &["--sign-key", &k1, "--next-key", &next],
    );
    kb.append("en/d001.md", "\nChanged in English only.\n");
    kb.append("zh/d002.md", "\n更新。\n");
    kb.write("en/d010.md", doc_text("en", "d010.md", 100, ""));
    kb.write("zh/d010.md", doc_text("zh", "d010.md", 101, ""));
    kb.remove("en/d003.md");
    kb.remove("zh/d003.md");
    for lang in ["en", "zh"] {
        let text = fs::read_to_string(kb.content().join(lang).join("d004.md")).unwrap();
        kb.remove(&format!("{lang}/d004.md"));
        kb.write(
            &format!("{lang}/moved/d004.md"),
            text.replace("/d004\"", "/moved/d004\""),
        );
    }
    let k2 = kb.root().join("k2").display().to_string();
    kb.release_at(
        "kbrel.toml",
        &kb.registry(),
        "1.1.0",
        "2026-11-26",
        &["--sign-key", &k2],
    );
    kb
}

/// (schema, registry-relative file) for every JSON file of the registry with a schema.
fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("index.schema.json", "index.json"),
        ("index-signature.schema.json", "index.json.sig"),
        ("manifest.schema.json", "v/1.0.0/manifest.json"),
        ("manifest.schema.json", "v/1.1.0/manifest.json"),
        ("diff.schema.json", "v/1.0.0/diff.json"),
        ("diff.schema.json", "v/1.1.0/diff.json"),
    ]
}

#[test]
fn published_files_match_the_schemas() {
    let kb = published();
    let reg = kb.registry();
    for (schema_name, rel) in files() {
        assert_valid(schema_name, &read_json(&reg.join(rel)), rel);
    }
    // The optional parts were there to be checked.
    let index = read_json(&reg.join("index.json"));
    assert!(index["expires"].is_string());
    let m = read_json(&reg.join("v/1.0.0/manifest.json"));
    assert!(
        m["warnings"].as_array().is_some_and(|w| !w.is_empty()),
        "a lint warning"
    );
    let diff = read_json(&reg.join("v/1.1.0/diff.json"));
    let statuses: std::collections::BTreeSet<&str> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["added", "modified", "removed", "renamed"]
            .into_iter()
            .collect()
    );
    // The first signature endorsed a next key; the index now is signed by that key.
    let sig = read_json(&reg.join("index.json.sig"));
    assert!(sig.get("next_key").is_none());
    assert_eq!(
        sig["key"],
        kbrel::sign::public_key_string(
            &kbrel::sign::read_private_key(&kb.root().join("k2"))
                .unwrap()
                .verifying_key()
        )
    );

    // This repository's own registry, when present.
    let own = manifest_dir().join("releases");
    if let Ok(index) = fs::read(own.join("index.json")) {
        let index: Value = serde_json::from_slice(&index).unwrap();
        assert_valid("index.schema.json", &index, "releases/index.json");
        for v in index["versions"].as_array().unwrap() {
            for (s, key) in [
                ("manifest.schema.json", "manifest"),
                ("diff.schema.json", "diff"),
            ] {
                let rel = v[key]["path"].as_str().unwrap();
                if let Ok(bytes) = fs::read(own.join(rel)) {
                    assert_valid(s, &serde_json::from_slice(&bytes).unwrap(), rel);
                }
            }
        }
    }
}

#[test]
fn every_optional_field_of_the_types_is_in_the_schemas() {
    let kb = published();
    let reg = kb.registry();
    let sig_bytes = {
        let k1 = kbrel::sign::read_private_key(&kb.root().join("k1")).unwrap();
        let k2 = kbrel::sign::read_private_key(&kb.root().join("k2")).unwrap();
        kbrel::sign::sign_index(
            &fs::read(reg.join("index.json")).unwrap(),
            &k1,
            Some(&k2.verifying_key()),
        )
    };
    let sig: Value = serde_json::from_slice(&sig_bytes).unwrap();
    assert!(sig["next_key"].is_object());
    assert_valid(
        "index-signature.schema.json",
        &sig,
        "a signature with a next key",
    );

    let mut m: kbrel::manifest::Manifest =
        serde_json::from_value(read_json(&reg.join("v/1.1.0/manifest.json"))).unwrap();
    m.git = Some(kbrel::manifest::GitInfo {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        dirty: true,
    });
    m.drift.insert(
        "zh".into(),
        kbrel::manifest::DriftCounts {
            current: 1,
            outdated: 2,
            missing: 3,
            orphaned: 4,
        },
    );
    assert_valid(
        "manifest.schema.json",
        &serde_json::to_value(&m).unwrap(),
        "a manifest with git and drift",
    );

    let mut d: kbrel::manifest::DiffFile =
        serde_json::from_value(read_json(&reg.join("v/1.1.0/diff.json"))).unwrap();
    d.changes[0].approximate = true;
    d.changes[0].similarity = Some(100);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["changes"][0]["approximate"], true);
    assert_valid("diff.schema.json", &v, "a diff with an approximate change");

    let mut i: kbrel::manifest::Index =
        serde_json::from_value(read_json(&reg.join("index.json"))).unwrap();
    i.expires = None;
    assert_valid(
        "index.schema.json",
        &serde_json::to_value(&i).unwrap(),
        "an index without expires",
    );
}

// --- the schemas agree with serde -----------------------------------------------------------

/// Every JSON pointer of `v` (objects, arrays and leaves).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A value of another JSON type than `v` (and not null).
fn retyped(v: &Value) -> Value {
    match v {
        Value::String(_) => json!(7),
        Value::Number(_) => json!("7"),
        Value::Bool(_) => json!("true"),
        Value::Array(_) => json!({}),
        Value::Object(_) => json!([]),
        Value::Null => json!(true),
    }
}

fn split(pointer: &str) -> (&str, String) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    (parent, last.replace("~1", "/").replace("~0", "~"))
}

fn agree<T: DeserializeOwned>(schema_name: &str, doc: &Value, what: &str) {
    let schema = schema(schema_name);
    let schema_ok = |v: &Value| Validator::errors(&schema, v).is_empty();
    let serde_ok = |v: &Value| serde_json::from_value::<T>(v.clone()).is_ok();
    assert!(
        schema_ok(doc) && serde_ok(doc),
        "{what}: the original must pass both"
    );
    let mut ptrs = Vec::new();
    pointers(doc, String::new(), &mut ptrs);
    let mut checked = 0;
    for p in &ptrs {
        let mut cases: Vec<(String, Value, bool)> = Vec::new();
        let target = doc.pointer(p).unwrap();
        // An unknown field in every object.
        if target.is_object() {
            let mut m = doc.clone();
            m.pointer_mut(p)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert("zz_unknown".into(), json!(1));
            cases.push((format!("{p} + unknown field"), m, false));
        }
        if p.is_empty() {
            continue;
        }
        // Another type (and a negative number) in place of every value.
        let mut m = doc.clone();
        *m.pointer_mut(p).unwrap() = retyped(target);
        cases.push((format!("{p} retyped"), m, false));
        if target.is_u64() {
            let mut m = doc.clone();
            *m.pointer_mut(p).unwrap() = json!(-1);
            cases.push((format!("{p} = -1"), m, false));
        }
        let (parent, key) = split(p);
        if doc.pointer(parent).unwrap().is_object() {
            // null: accepted by both exactly for Option fields.
            let mut nulled = doc.clone();
            *nulled.pointer_mut(p).unwrap() = Value::Null;
            let nullable = schema_ok(&nulled);
            assert_eq!(
                serde_ok(&nulled),
                nullable,
                "{what}: {p} = null: serde and {schema_name} disagree"
            );
            // Removed: the schema requires every field kbrel always writes; serde also
            // tolerates a missing Option.
            let mut removed = doc.clone();
            removed
                .pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(&key);
            let (s, d) = (schema_ok(&removed), serde_ok(&removed));
            assert!(
                s == d || (nullable && d),
                "{what}: without {p}: {schema_name} says {s}, serde says {d}"
            );
            checked += 2;
        }
        for (case, m, _) in cases {
            let (s, d) = (schema_ok(&m), serde_ok(&m));
            assert_eq!(
                s, d,
                "{what}: {case}: {schema_name} says {s}, serde says {d}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{what}: only {checked} mutations");
}

#[test]
fn the_schemas_accept_exactly_what_serde_accepts() {
    let kb = published();
    let reg = kb.registry();
    agree::<kbrel::manifest::Index>(
        "index.schema.json",
        &read_json(&reg.join("index.json")),
        "index.json",
    );
    agree::<kbrel::sign::IndexSignature>(
        "index-signature.schema.json",
        &read_json(&reg.join("index.json.sig")),
        "index.json.sig",
    );
    let k1 = kbrel::sign::read_private_key(&kb.root().join("k1")).unwrap();
    let k2 = kbrel::sign::read_private_key(&kb.root().join("k2")).unwrap();
    let endorsed = kbrel::sign::sign_index(b"{}", &k1, Some(&k2.verifying_key()));
    agree::<kbrel::sign::IndexSignature>(
        "index-signature.schema.json",
        &serde_json::from_slice(&endorsed).unwrap(),
        "a signature with next_key",
    );
    let mut m: Value = read_json(&reg.join("v/1.1.0/manifest.json"));
    m["git"] = json!({ "commit": "0123456789abcdef0123456789abcdef01234567", "dirty": false });
    agree::<kbrel::manifest::Manifest>("manifest.schema.json", &m, "manifest.json");
    let mut d: Value = read_json(&reg.join("v/1.1.0/diff.json"));
    d["changes"][0]["approximate"] = json!(true);
    agree::<kbrel::manifest::DiffFile>("diff.schema.json", &d, "diff.json");
}

// --- the validator and the patterns ---------------------------------------------------------

#[test]
fn the_validator_rejects_what_it_should() {
    let s = schema("index-signature.schema.json");
    let good = json!({
        "schema_version": 1,
        "key": format!("ed25519:{}=", "A".repeat(43)),
        "index_sha256": "a".repeat(64),
        "signature": format!("{}==", "B".repeat(86)),
    });
    assert!(Validator::errors(&s, &good).is_empty());
    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        let errs = Validator::errors(&s, &v);
        assert!(!errs.is_empty(), "accepted {v}");
    };
    bad(&|v| v["schema_version"] = json!(2));
    bad(&|v| v["index_sha256"] = json!("A".repeat(64)));
    bad(&|v| v["key"] = json!(format!("ed25519:{}", "A".repeat(44))));
    bad(&|v| v["signature"] = json!("x"));
    bad(&|v| {
        v.as_object_mut().unwrap().remove("signature");
    });
    bad(&|v| v["extra"] = json!(1));
    bad(&|v| v["next_key"] = json!({ "key": v["key"].clone() }));

    let m = schema("manifest.schema.json");
    let finding = |code: &str, line: i64| json!({ "file": "en/a.md", "line": line, "code": code, "severity": "warning", "message": "m" });
    let f = m.pointer("/$defs/finding").unwrap();
    let v = Validator { root: &m };
    let errs = |x: &Value| {
        let mut e = Vec::new();
        v.check(f, x, "", &mut e);
        e
    };
    assert!(errs(&finding("KB015", 1)).is_empty());
    assert!(errs(&finding("KB016", 1)).is_empty());
    assert!(!errs(&finding("KB017", 1)).is_empty());
    assert!(!errs(&finding("KB001", -1)).is_empty());
    let idx = schema("index.schema.json");
    let date = idx.pointer("/$defs/version/properties/published").unwrap();
    let vi = Validator { root: &idx };
    for (s, ok) in [
        ("2026-11-25T00:00:00Z", true),
        ("2026-11-25", false),
        ("2026-13-01T00:00:00Z", false),
    ] {
        let mut e = Vec::new();
        vi.check(date, &json!(s), "", &mut e);
        assert_eq!(e.is_empty(), ok, "{s}");
    }
}

/// Every `pattern` in the schemas.
fn all_patterns() -> Vec<String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("pattern", Value::String(p)) => out.push(p.clone()),
                        _ => collect(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in fs::read_dir(manifest_dir().join("schema")).unwrap() {
        collect(&read_json(&f.unwrap().path()), &mut out);
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_pattern_stand_ins_agree_with_ecmascript() {
    let Some(node) = require_node() else { return };
    let samples: Vec<String> = [
        "en/a.md",
        "a",
        "a/b/c.md",
        "../x",
        "..",
        ".",
        "./a",
        "a/./b",
        "a/../b",
        "a/..",
        "a/.",
        "/etc/passwd",
        "",
        "a//b",
        "a/",
        "a\\b",
        "c:/x",
        "a\0b",
        "a\n/..",
        "..a",
        "a..",
        ".hidden/x",
        "a/.b",
        "en",
        "zh-Hans",
        "en_US",
        "e n",
        "ä",
        "sha512-",
        "ed25519:",
        "==",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "a".repeat(64),
        "0".repeat(40),
        "f".repeat(63),
        "A".repeat(64),
        format!("{}{}", "0".repeat(40), "a".repeat(24)),
        format!("sha512-{}==", "a+/Z".repeat(21) + "ab"),
        format!("ed25519:{}=", "A".repeat(43)),
        format!("ed25519:{}==", "A".repeat(42)),
        format!("{}==", "x".repeat(86)),
        format!("{}=", "x".repeat(87)),
    ])
    .collect();
    let patterns = all_patterns();
    assert!(
        patterns.contains(&SAFE_PATH.to_string()),
        "the schemas use the safe path pattern: {patterns:?}"
    );
    let script = format!(
        "const ps = {}; const ss = {}; console.log(JSON.stringify(ps.map((p) => ss.map((s) => new RegExp(p, 'u').test(s)))));",
        serde_json::to_string(&patterns).unwrap(),
        serde_json::to_string(&samples).unwrap()
    );
    let out = run(std::process::Command::new(node).args(["-e", &script])).success();
    let js: Vec<Vec<bool>> = serde_json::from_str(out.stdout.trim()).unwrap();
    for (p, results) in patterns.iter().zip(js) {
        let rust = pattern(p);
        for (s, j) in samples.iter().zip(results) {
            assert_eq!(
                rust(s),
                j,
                "pattern {p:?} on {s:?}: Rust stand-in says {}, ECMAScript says {j}",
                rust(s)
            );
        }
    }
}

#[test]
fn the_schema_files_declare_draft_2020_12() {
    for f in fs::read_dir(manifest_dir().join("schema")).unwrap() {
        let path = f.unwrap().path();
        let s = read_json(&path);
        assert_eq!(
            s["$schema"],
            "https://json-schema.org/draft/2020-12/schema",
            "{}",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(s["$id"], format!("https://kbrel.dev/schema/{name}"));
        assert!(Path::new(name).extension().is_some_and(|e| e == "json"));
    }
}

/// `kbrel-baseline.json` as `check --write-baseline` writes it matches its schema, and the
/// schema refuses what the parser refuses.
#[test]
fn the_baseline_file_matches_its_schema() {
    let kb = Kb::generated("acme-baseline", 3);
    kb.append(
        "en/d001.md",
        "\n[gone](nope.md)\n\n[gone](nope.md)\n<div>\n</dev>\n",
    );
    run(kb
        .cmd_at("kbrel.toml", &kb.registry())
        .args(["check", "--write-baseline"]))
    .success();
    let path = kb.root().join("kbrel-baseline.json");
    let b = read_json(&path);
    assert_valid("baseline.schema.json", &b, "kbrel-baseline.json");
    let entries = b["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["count"] == 2), "{b}");
    assert!(entries.iter().any(|e| e.get("count").is_none()), "{b}");
    // The parser and the schema agree on the bad cases.
    let schema = schema("baseline.schema.json");
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut v = b.clone();
        f(&mut v);
        assert!(
            !Validator::errors(&schema, &v).is_empty(),
            "schema accepted {v}"
        );
        let parsed =
            kbrel::baseline::parse(&serde_json::to_vec(&v).unwrap(), &path, "acme-baseline");
        assert!(parsed.is_err(), "parser accepted {v}");
    };
    bad(&|v| v["schema_version"] = json!(2));
    bad(&|v| v["entries"][0]["fingerprint"] = json!("xyz"));
    bad(&|v| v["entries"][0]["code"] = json!("KB099"));
    bad(&|v| v["entries"][0]["extra"] = json!(1));
    bad(&|v| {
        v.as_object_mut().unwrap().remove("name");
    });
}

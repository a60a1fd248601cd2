//! `kbrel compare-package`: what a consumer of an existing package would see differently in a
//! kbrel release. Pure: it compares the entry points of two packages as evaluated elsewhere
//! (the binary runs them in Node: the ESM default export, the globals an IIFE script sets),
//! entry by entry and key by key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One JavaScript entry point of a package, evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The file, relative to the package root (`dist/esm/en.js`).
    pub path: String,
    /// `esm` (its default export) or `iife` (the globals it sets).
    pub kind: String,
    /// For an IIFE, the global it sets (the first, when it sets several).
    #[serde(default)]
    pub global: Option<String>,
    /// key → string value; values that are not strings are JSON-encoded.
    pub values: BTreeMap<String, String>,
    /// Size of the file gzip'd (level 9), what a browser downloads.
    pub gzip_size: u64,
}

/// How one entry point of the old package fares in the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryReport {
    pub path: String,
    pub kind: String,
    /// The entry is not in the new package at all (every key is missing).
    pub missing_entry: bool,
    /// Keys of the old entry the new one lacks: a consumer gets `undefined`.
    pub missing_keys: Vec<String>,
    /// Keys whose value differs.
    pub changed_keys: Vec<String>,
    /// Keys only the new entry has.
    pub added_keys: Vec<String>,
    /// `(old, new)` global of an IIFE entry, when it differs.
    pub changed_global: Option<(Option<String>, Option<String>)>,
    pub old_gzip_size: u64,
    pub new_gzip_size: Option<u64>,
    pub keys: usize,
}

/// The whole comparison (`kbrel compare-package --json` prints it and reads back into it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatReport {
    pub entries: Vec<EntryReport>,
    pub missing_keys: usize,
    pub changed_keys: usize,
    pub changed_globals: usize,
}

impl CompatReport {
    /// A consumer of the old package would lose something (a key, an entry, a global).
    pub fn breaks(&self) -> bool {
        self.missing_keys > 0
            || self.changed_globals > 0
            || self.entries.iter().any(|e| e.missing_entry)
    }
}

/// Compare every entry of `old` with the entry of `new` at the same path.
pub fn compare(old: &[Entry], new: &[Entry]) -> CompatReport {
    let by_path: BTreeMap<&str, &Entry> = new.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut entries = Vec::new();
    for o in old {
        let n = by_path.get(o.path.as_str()).copied();
        let mut r = EntryReport {
            path: o.path.clone(),
            kind: o.kind.clone(),
            missing_entry: n.is_none(),
            missing_keys: Vec::new(),
            changed_keys: Vec::new(),
            added_keys: Vec::new(),
            changed_global: None,
            old_gzip_size: o.gzip_size,
            new_gzip_size: n.map(|n| n.gzip_size),
            keys: o.values.len(),
        };
        match n {
            None => r.missing_keys = o.values.keys().cloned().collect(),
            Some(n) => {
                for (k, v) in &o.values {
                    match n.values.get(k) {
                        None => r.missing_keys.push(k.clone()),
                        Some(nv) if nv != v => r.changed_keys.push(k.clone()),
                        Some(_) => {}
                    }
                }
                r.added_keys = n
                    .values
                    .keys()
                    .filter(|k| !o.values.contains_key(*k))
                    .cloned()
                    .collect();
                if o.kind == "iife" && o.global != n.global {
                    r.changed_global = Some((o.global.clone(), n.global.clone()));
                }
            }
        }
        entries.push(r);
    }
    CompatReport {
        missing_keys: entries.iter().map(|e| e.missing_keys.len()).sum(),
        changed_keys: entries.iter().map(|e| e.changed_keys.len()).sum(),
        changed_globals: entries
            .iter()
            .filter(|e| e.changed_global.is_some())
            .count(),
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: &str, global: Option<&str>, kv: &[(&str, &str)]) -> Entry {
        Entry {
            path: path.into(),
            kind: kind.into(),
            global: global.map(String::from),
            values: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            gzip_size: 10,
        }
    }

    #[test]
    fn missing_changed_added_keys_and_globals() {
        let old = [
            entry(
                "dist/esm/en.js",
                "esm",
                None,
                &[("A", "a"), ("B", "b"), ("C", "c")],
            ),
            entry("dist/iife/en.js", "iife", Some("DocsEn"), &[("A", "a")]),
            entry("dist/esm/fr.js", "esm", None, &[("A", "a")]),
        ];
        let new = [
            entry(
                "dist/esm/en.js",
                "esm",
                None,
                &[("A", "a"), ("B", "B!"), ("D", "d")],
            ),
            entry("dist/iife/en.js", "iife", Some("KbDocsEn"), &[("A", "a")]),
        ];
        let r = compare(&old, &new);
        assert_eq!(r.entries[0].missing_keys, ["C"]);
        assert_eq!(r.entries[0].changed_keys, ["B"]);
        assert_eq!(r.entries[0].added_keys, ["D"]);
        assert_eq!(
            r.entries[1].changed_global,
            Some((Some("DocsEn".into()), Some("KbDocsEn".into())))
        );
        assert!(r.entries[2].missing_entry);
        assert_eq!(
            (r.missing_keys, r.changed_keys, r.changed_globals),
            (2, 1, 1)
        );
        assert!(r.breaks());
        assert!(!compare(&new[..1], &new[..1]).breaks());
    }
}

//! The library's floors: every `crate::` (and `kbrel_core::`) path in the `src/` of each
//! workspace crate (kbrel, kbrel-core, kbrel-synth) points at its own floor or one below, the
//! modules import one another without cycles, and ARCHITECTURE.md's layer table names exactly
//! the modules the trees hold. Test code (`#[cfg(test)] mod … { … }`) is exempt: a module's
//! tests may use anything in the crate. Between crates, the dependency graph (`cargo metadata`)
//! points down too, and kbrel-core reaches no git, compression, network or async crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of ARCHITECTURE.md's layer table: a floor's modules in one crate (a floor may span
/// crates: the pure services are kbrel-core's, the others kbrel's).
#[derive(Debug)]
struct Floor {
    name: String,
    krate: String,
    folder: String,
    modules: BTreeSet<String>,
}

/// The table under `<!-- layers -->` in ARCHITECTURE.md, bottom floor first.
fn floors(doc: &str) -> Vec<Floor> {
    let start = doc
        .find("<!-- layers -->")
        .expect("ARCHITECTURE.md has no `<!-- layers -->` table");
    let cell = |c: &str| c.trim().trim_matches('`').to_string();
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|row| {
            let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
            assert_eq!(
                cells.len(),
                5,
                "layer table row `{row}`: want | floor | crate | folder | modules | what it is |"
            );
            Floor {
                name: cell(cells[0]),
                krate: cell(cells[1]),
                folder: cell(cells[2]),
                modules: cells[3]
                    .split(',')
                    .map(cell)
                    .filter(|m| !m.is_empty())
                    .collect(),
            }
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` with comments, string and char literals blanked (newlines kept, so byte offsets
/// and line numbers still hold).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_end(b, i).is_some()
        {
            let end = raw_string_end(b, i).unwrap();
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"'), else a lifetime.
            let end = if rest.get(1) == Some(&b'\\') {
                text[i + 2..].find('\'').map(|n| i + 2 + n + 1)
            } else {
                text[i + 1..]
                    .chars()
                    .next()
                    .map(|c| i + 1 + c.len_utf8())
                    .filter(|&j| b.get(j) == Some(&b'\''))
                    .map(|j| j + 1)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The end of the raw string literal starting at `i` (`r"…"`, `r#"…"#`, `br#"…"#`).
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + if b[i] == b'b' { 2 } else { 1 };
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let n = b[j + 1..].windows(close.len()).position(|w| w == close)?;
    Some(j + 1 + n + close.len())
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `code` with every `#[cfg(test)] mod name { … }` blanked.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(n) = out[from..].find("#[cfg(test)]") {
        let at = from + n;
        let after = out[at + "#[cfg(test)]".len()..].trim_start();
        from = at + 1;
        let Some(rest) = after.strip_prefix("mod ") else {
            continue;
        };
        if !rest
            .trim_start()
            .split('{')
            .next()
            .unwrap()
            .trim()
            .bytes()
            .all(is_ident)
        {
            continue;
        }
        let open = at + out[at..].find('{').unwrap();
        let mut depth = 0;
        let mut end = out.len();
        for (j, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blanked: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
    }
    out
}

/// Every path named after `prefix` (`crate::` or `super::`) with the line it starts on, as
/// its first two segments: `use crate::{a::B, c}` → `[a, B]`, `[c]`.
fn paths_after(code: &str, prefix: &str) -> Vec<(usize, Vec<String>)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(n) = code[from..].find(prefix) {
        let at = from + n;
        from = at + prefix.len();
        if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b':') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let mut found = Vec::new();
        tree(b, &mut (at + prefix.len()), &mut Vec::new(), &mut found);
        out.extend(found.into_iter().map(|p| (line, p)));
    }
    out
}

/// Parse a use tree at `*i` (after a `::`), pushing each path's first two segments.
fn tree(b: &[u8], i: &mut usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(i);
    if b.get(*i) == Some(&b'{') {
        *i += 1;
        loop {
            skip_ws(i);
            match b.get(*i) {
                Some(b'}') | None => {
                    *i += 1;
                    return;
                }
                Some(b',') => *i += 1,
                _ => {
                    let before = *i;
                    tree(b, i, &mut prefix.clone(), out);
                    // Anything else (`self`, `*`, `as x`): step over it.
                    while *i < b.len() && !matches!(b[*i], b',' | b'}') {
                        *i += 1;
                    }
                    if *i == before {
                        *i += 1;
                    }
                }
            }
        }
    }
    let start = *i;
    while *i < b.len() && is_ident(b[*i]) {
        *i += 1;
    }
    if *i > start {
        prefix.push(String::from_utf8_lossy(&b[start..*i]).into_owned());
    }
    skip_ws(i);
    if prefix.len() < 2 && *i > start && b[*i..].starts_with(b"::") {
        *i += 2;
        tree(b, i, prefix, out);
        return;
    }
    if !prefix.is_empty() {
        out.push(prefix.clone());
    }
}

struct Import {
    file: String,
    line: usize,
    path: String,
    from: (usize, String),
    to: (usize, String),
}

#[test]
fn imports_only_point_down_and_the_table_is_true() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let rows = floors(&doc);
    // The floors bottom first (a floor spanning crates has a row per crate, rows adjacent).
    let mut names: Vec<&str> = Vec::new();
    for r in &rows {
        if names.last() != Some(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    assert_eq!(
        names,
        [
            "ground",
            "formats",
            "model",
            "services",
            "operations",
            "tools",
            "binary"
        ],
        "ARCHITECTURE.md's layer table lists the floors bottom first"
    );
    let floor_index = |name: &str| names.iter().position(|n| *n == name);
    let mut problems = Vec::new();

    // Each crate's `src/` (the folder before `src/` in its rows' folders).
    let mut crates: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for r in &rows {
        let dir = r
            .folder
            .strip_suffix('/')
            .and_then(|f| f.rsplit_once('/'))
            .map(|(d, _)| d)
            .unwrap_or_else(|| {
                panic!(
                    "layer table: folder `{}` is not <crate>/src/<floor>/",
                    r.folder
                )
            });
        let src = root.join(dir);
        if let Some(other) = crates.insert(&r.krate, src.clone())
            && other != src
        {
            problems.push(format!(
                "layer table: crate {} has two src folders",
                r.krate
            ));
        }
    }
    assert_eq!(
        crates.keys().copied().collect::<Vec<_>>(),
        ["kbrel", "kbrel-core", "kbrel-synth"],
        "the layer table's crates"
    );

    // The table names exactly the modules the trees hold.
    let rel_of = |path: &Path| {
        path.strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/")
    };
    let mut on_disk: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for src in crates.values() {
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let folder = format!("{}/", rel_of(&path));
                if !rows.iter().any(|f| f.folder == folder) {
                    problems.push(format!(
                        "{folder} is not a floor of ARCHITECTURE.md's layer table"
                    ));
                }
                for m in std::fs::read_dir(&path).unwrap() {
                    let m = m.unwrap().file_name().to_string_lossy().into_owned();
                    if m != "mod.rs" {
                        on_disk
                            .entry(folder.clone())
                            .or_default()
                            .insert(m.trim_end_matches(".rs").to_string());
                    }
                }
            } else if name != "lib.rs" {
                problems.push(format!(
                    "{}: every module lives in a floor's folder (see ARCHITECTURE.md's layer table)",
                    rel_of(&path)
                ));
            }
        }
    }
    for f in &rows {
        let disk = on_disk.remove(&f.folder).unwrap_or_default();
        for m in disk.difference(&f.modules) {
            problems.push(format!(
                "{}{m} is not in ARCHITECTURE.md's layer table (floor {})",
                f.folder, f.name
            ));
        }
        for m in f.modules.difference(&disk) {
            problems.push(format!(
                "ARCHITECTURE.md's layer table lists `{m}` on floor {}, but {} holds no such module",
                f.name, f.folder
            ));
        }
    }

    // Every `crate::`/`super::` path of the libraries (and `kbrel_core::` path of the crates
    // above it) against the floors.
    // Keyed by crate: kbrel's `error` (services) is not kbrel-core's (ground).
    let floor_of_module: BTreeMap<(&str, &str), usize> = rows
        .iter()
        .flat_map(|f| {
            let i = floor_index(&f.name).unwrap();
            f.modules
                .iter()
                .map(move |m| ((f.krate.as_str(), m.as_str()), i))
        })
        .collect();
    let mut files = Vec::new();
    for src in crates.values() {
        rust_files(src, &mut files);
    }
    files.sort();
    let mut imports = Vec::new();
    for path in &files {
        let rel = rel_of(path);
        // <crate>/src/<floor folder>/<module>[.rs|/…]
        let Some(row) = rows.iter().find(|f| rel.starts_with(&f.folder)) else {
            continue;
        };
        let from_floor = floor_index(&row.name).unwrap();
        let parts: Vec<&str> = rel[row.folder.len()..].split('/').collect();
        if row.name == "binary" || parts[0] == "mod.rs" {
            continue;
        }
        let module = parts[0].trim_end_matches(".rs").to_string();
        let at_module_root = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod.rs");
        let code = without_test_modules(&code_only(&std::fs::read_to_string(path).unwrap()));
        // Each path with the crate it names: `crate::` this one (whose root re-exports
        // kbrel-core's modules beside its own), `kbrel_core::` kbrel-core.
        let own = row.krate.as_str();
        let mut named: Vec<(usize, Vec<String>, &str)> = paths_after(&code, "crate::")
            .into_iter()
            .map(|(l, p)| (l, p, own))
            .collect();
        named.extend(
            paths_after(&code, "kbrel_core::")
                .into_iter()
                .map(|(l, p)| (l, p, "kbrel-core")),
        );
        if at_module_root {
            // `super::x` from a module's root file names a sibling on the same floor.
            named.extend(
                paths_after(&code, "super::")
                    .into_iter()
                    .filter(|(_, p)| row.modules.contains(&p[0]))
                    .map(|(l, p)| (l, p, own)),
            );
        }
        for (line, p, krate) in named {
            let floor = floor_of_module
                .get(&(krate, p[0].as_str()))
                .or_else(|| floor_of_module.get(&("kbrel-core", p[0].as_str())));
            let target = if let Some(f) = floor_index(&p[0]) {
                (f, p.get(1).cloned().unwrap_or_default())
            } else if let Some(&f) = floor {
                (f, p[0].clone())
            } else {
                // An item of the crate root (`FastMap`, `Error`): the ground floor's.
                (0, String::new())
            };
            imports.push(Import {
                file: rel.clone(),
                line,
                path: p.join("::"),
                from: (from_floor, module.clone()),
                to: target,
            });
        }
    }
    let chain = names.join(" ← ");
    for i in &imports {
        if i.to.0 > i.from.0 {
            problems.push(format!(
                "{}:{}: `crate::{}` runs up a floor: {} (floor {}) imports {} (floor {}); layers only point down: {chain}",
                i.file, i.line, i.path, i.from.1, names[i.from.0], i.to.1, names[i.to.0]
            ));
        }
    }

    // No cycles between modules.
    let mut edges: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for i in &imports {
        if !i.to.1.is_empty() && i.to.1 != i.from.1 {
            edges
                .entry(i.from.1.as_str())
                .or_default()
                .entry(i.to.1.as_str())
                .or_insert(i);
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let i = edges[w[0]][w[1]];
                format!(
                    "  {} → {} ({}:{} `crate::{}`)",
                    w[0], w[1], i.file, i.line, i.path
                )
            })
            .collect();
        problems.push(format!(
            "modules import each other in a circle:\n{}",
            steps.join("\n")
        ));
    }

    assert!(
        problems.is_empty(),
        "the layering is broken ({} problem(s)); move the shared item down a floor, or the \
         module up (and update ARCHITECTURE.md's layer table):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The check saw each library: a floor test that reads nothing passes vacuously.
    for (krate, src) in &crates {
        let dir = format!("{}/", rel_of(src));
        let n = imports.iter().filter(|i| i.file.starts_with(&dir)).count();
        assert!(n >= 5, "only {n} crate paths found in {krate}'s {dir}");
    }
    assert!(
        imports.len() > 100,
        "only {} crate paths found",
        imports.len()
    );
}

/// A cycle of the graph as a closed walk (`a, b, a`), if there is one.
fn find_cycle<'a>(edges: &BTreeMap<&'a str, BTreeMap<&'a str, &Import>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeMap<&'a str, &Import>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        state.insert(n, 1);
        stack.push(n);
        for &m in edges.get(n).map(|e| e.keys()).into_iter().flatten() {
            match state.get(m) {
                Some(1) => {
                    let at = stack.iter().position(|&s| s == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m);
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for &n in edges.keys() {
        if !state.contains_key(n)
            && let Some(c) = visit(n, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_scanner_reads_use_trees_and_skips_comments_strings_and_tests() {
    let src = r#####"
use crate::{FastMap, lint::{Code, Finding}};
// use crate::publish::x;
let s = "crate::web::page";
let r = r#"crate::server"#;
let c = '{';
fn f<'a>(x: &'a crate::content::Document) {}
#[cfg(test)]
mod tests {
    use crate::synth;
    fn g() { let _ = '}'; }
}
use crate::diff::{self, sections};
"#####;
    let code = without_test_modules(&code_only(src));
    let got: Vec<(usize, String)> = paths_after(&code, "crate::")
        .into_iter()
        .map(|(l, p)| (l, p.join("::")))
        .collect();
    let want = [
        (2, "FastMap"),
        (2, "lint::Code"),
        (2, "lint::Finding"),
        (7, "content::Document"),
        (13, "diff::self"),
        (13, "diff::sections"),
    ];
    assert_eq!(
        got,
        want.map(|(l, p)| (l, p.to_string())).to_vec(),
        "scanned:\n{code}"
    );
}

/// The functions of `code` (comments and strings blanked by [`code_only`]) longer than `max`
/// lines, signature to closing brace: `(name, first line, lines)`. Brace counting, which is
/// exact on code whose comments and literals are blanked.
fn long_functions(code: &str, max: usize) -> Vec<(String, usize, usize)> {
    let b = code.as_bytes();
    let line_of = |i: usize| code[..i].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(n) = code[from..].find("fn ") {
        let at = from + n;
        from = at + 3;
        if at > 0 && is_ident(b[at - 1]) {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body starts at the first `{` outside the signature's parentheses; a `;` first
        // is a declaration without a body.
        let (mut i, mut parens) = (at, 0i32);
        while i < b.len() {
            match b[i] {
                b'(' => parens += 1,
                b')' => parens -= 1,
                b';' if parens == 0 => break,
                b'{' if parens == 0 => break,
                _ => {}
            }
            i += 1;
        }
        if i >= b.len() || b[i] != b'{' {
            continue;
        }
        let mut depth = 0;
        let mut end = i;
        while end < b.len() {
            match b[end] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        let lines = line_of(end) - line_of(at) + 1;
        if lines > max {
            out.push((name, line_of(at), lines));
        }
    }
    out
}

/// The pipelines read as their steps: no function of publish, sync, server, the viewer or the
/// package builder runs over 150 lines (ARCHITECTURE.md names the steps).
#[test]
fn pipeline_functions_stay_within_150_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["publish.rs", "sync.rs"]
        .iter()
        .map(|f| root.join("src/operations").join(f))
        .collect();
    rust_files(&root.join("src/operations/server"), &mut files);
    rust_files(&root.join("src/operations/web"), &mut files);
    files.push(root.join("src/services/package.rs"));
    rust_files(&root.join("src/services/package"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (name, line, lines) in long_functions(&without_test_modules(&code_only(&text)), 150) {
            long.push(format!(
                "{}:{line}: fn {name} is {lines} lines",
                f.display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "split these into steps:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_scanner_counts_signature_to_closing_brace() {
    let body = "    let x = 1;\n".repeat(148);
    let src = format!(
        "fn short(a: impl Fn(u8) -> u8) -> u8 {{\n    a(1)\n}}\n\
         pub(crate) fn long(x: &str) -> Result<(), String>\nwhere\n    String: Clone,\n{{\n{body}}}\n\
         trait T {{\n    fn declared(&self);\n}}\n\
         fn exact() {{\n{}}}\n",
        "    let y = 2;\n".repeat(148)
    );
    let code = code_only(&src);
    // `long`: its signature (4 lines), 148 body lines and the closing brace.
    assert_eq!(
        long_functions(&code, 150),
        vec![("long".to_string(), 4, 153)]
    );
    assert_eq!(long_functions(&code, 153), vec![]);
    let counted: Vec<String> = long_functions(&code, 0).into_iter().map(|f| f.0).collect();
    assert_eq!(counted, ["short", "long", "exact"]);
}

/// The crates point down too: kbrel-core depends on no kbrel crate and, through its whole
/// dependency graph, on no git, compression, HTTP, async or object-store crate; kbrel-synth
/// depends on kbrel-core, never on kbrel; kbrel has kbrel-synth as a dev-dependency only.
/// Read from `cargo metadata`'s resolved graph (normal and build edges; dev edges do not link
/// into a library).
#[test]
fn crates_point_down_and_kbrel_core_stays_pure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The host's graph only: other platforms' crates may not be downloaded, and offline they
    // cannot be.
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-vV")
            .output()
            .unwrap();
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let id_of = |name: &str| {
        let ids: Vec<&str> = name_of
            .iter()
            .filter(|(_, n)| **n == name)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ids.len(), 1, "one package {name}: {ids:?}");
        ids[0]
    };
    // Package id → the ids it links (normal or build dependencies).
    let mut links: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut dev: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap();
        for d in node["deps"].as_array().unwrap() {
            let kinds: Vec<&serde_json::Value> = d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| &k["kind"])
                .collect();
            let pkg = d["pkg"].as_str().unwrap();
            if kinds
                .iter()
                .any(|k| k.is_null() || k.as_str() == Some("build"))
            {
                links.entry(id).or_default().push(pkg);
            } else {
                dev.entry(id).or_default().push(pkg);
            }
        }
    }
    let closure = |name: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id_of(name)];
        while let Some(id) = todo.pop() {
            for &d in links.get(id).into_iter().flatten() {
                if seen.insert(d) {
                    todo.push(d);
                }
            }
        }
        seen.into_iter().map(|id| name_of[id]).collect()
    };
    let impure = [
        "git2",
        "libgit2-sys",
        "flate2",
        "kbrel-deflate",
        "hyper",
        "hyper-util",
        "tokio",
        "ureq",
        "reqwest",
        "object_store",
        "tar",
        "kbrel",
        "kbrel-synth",
    ];
    let core = closure("kbrel-core");
    let found: Vec<&str> = impure
        .iter()
        .copied()
        .filter(|c| core.contains(c))
        .collect();
    assert!(
        found.is_empty(),
        "kbrel-core must stay pure, but its dependency graph holds {found:?}"
    );
    // The check reads a real graph: kbrel-core's own crates are in it, and kbrel's holds the
    // crates kbrel-core must not (so the check above can fail).
    for c in ["serde", "semver", "rayon", "similar"] {
        assert!(core.contains(c), "kbrel-core's graph lacks {c}: {core:?}");
    }
    let kbrel = closure("kbrel");
    for c in [
        "kbrel-core",
        "git2",
        "flate2",
        "tokio",
        "hyper",
        "ureq",
        "object_store",
    ] {
        assert!(kbrel.contains(c), "kbrel's graph lacks {c}");
    }
    let synth = closure("kbrel-synth");
    assert!(synth.contains("kbrel-core"));
    assert!(
        !synth.contains("kbrel"),
        "kbrel-synth must not depend on kbrel (kbrel's unit tests use it)"
    );
    assert!(
        !kbrel.contains("kbrel-synth"),
        "kbrel links kbrel-synth: the generators belong off the release path (dev-dependency)"
    );
    assert!(dev[id_of("kbrel")].contains(&id_of("kbrel-synth")));
}

/// The viewer (`src/operations/web/`) shows a registry: everything it says comes from the
/// registry's own files (the index, manifests, diffs), so it never needs, nor makes up, a
/// project's `kbrel.toml` (the status page once built a stand-in `Config` to call
/// `history::status_after_history`).
#[test]
fn the_viewer_reads_no_project_configuration() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/operations/server"), &mut files);
    rust_files(&root.join("src/operations/web"), &mut files);
    assert!(files.len() > 3, "{files:?}");
    let mut named = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let code = without_test_modules(&code_only(&text));
        for prefix in ["crate::", "super::"] {
            for (line, path) in paths_after(&code, prefix) {
                if path.first().map(String::as_str) == Some("config") {
                    named.push(format!(
                        "{}:{line}: {prefix}{}",
                        f.display(),
                        path.join("::")
                    ));
                }
            }
        }
        for (i, l) in code.lines().enumerate() {
            if l.contains("Config::") || l.contains("Config {") {
                named.push(format!("{}:{}: {}", f.display(), i + 1, l.trim()));
            }
        }
    }
    assert!(
        named.is_empty(),
        "the viewer names the project configuration:\n{}",
        named.join("\n")
    );
}

/// The library's errors are data: no variant of an error enum (`enum …Error`) in kbrel,
/// kbrel-core or kbrel-synth carries a bare `String` as its whole payload, as `Usage(String)`
/// did. The binary's own command-line errors are its `commands::Usage`, which the library
/// cannot name.
#[test]
fn library_error_enums_have_no_bare_string_variant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "crates/kbrel-core/src", "crates/kbrel-synth/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "bin"));
    let (mut enums, mut bare) = (Vec::new(), Vec::new());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let code = without_test_modules(&code_only(&text));
        let b = code.as_bytes();
        let mut from = 0;
        while let Some(at) = code[from..].find("enum ").map(|i| from + i) {
            from = at + 5;
            if at > 0 && is_ident(b[at - 1]) {
                continue;
            }
            let name: String = code[from..]
                .bytes()
                .take_while(|c| is_ident(*c))
                .map(char::from)
                .collect();
            let Some(open) = code[from..].find('{').map(|i| from + i) else {
                break;
            };
            let (mut depth, mut close) = (0, open);
            for (i, c) in b.iter().enumerate().skip(open) {
                match c {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            if name.ends_with("Error") {
                enums.push(name.clone());
                for line in code[open..close].lines() {
                    let l: String = line.split_whitespace().collect();
                    if l.ends_with("(String),") || l.ends_with("(String)") {
                        bare.push(format!("{}: {name}: {}", f.display(), line.trim()));
                    }
                }
            }
        }
    }
    for e in [
        "Error",
        "PublishError",
        "ImportError",
        "KeyError",
        "VerifyError",
    ] {
        assert!(enums.iter().any(|n| n == e), "{e} not found in {enums:?}");
    }
    assert!(
        bare.is_empty(),
        "error variants that are only a string (give them fields):\n{}",
        bare.join("\n")
    );
}

//! External tools (node, npm, nginx, Verdaccio, chromium) and what the machine allows (root).
//!
//! When a tool is missing the test prints a note and passes (returns early), except with
//! `CI=true`, where it fails. `.ci/run` installs them (nginx-light from Debian, Verdaccio 6.8.0
//! into `target/test-tools/verdaccio`, playwright-core into `target/test-tools/playwright`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::manifest_dir;

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A missing external component: fail under `CI=true`, else print a note and return `false`
/// (the caller returns early, i.e. skips).
pub fn missing(what: &str, detail: &str) -> bool {
    if ci() {
        panic!("{what} is required when CI=true ({detail}); .ci/run installs it");
    }
    eprintln!(
        "note: {what} not available ({detail}); skipping this test (it would fail with CI=true)"
    );
    false
}

/// The path of an executable that answers `<tool> <version_arg>` successfully, looked up on PATH
/// and in the sbin folders (nginx lives in /usr/sbin, which a non-root PATH may lack).
pub fn find_tool(tool: &str, version_arg: &str) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from(tool)];
    for dir in ["/usr/sbin", "/usr/local/sbin", "/sbin"] {
        candidates.push(Path::new(dir).join(tool));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg(version_arg)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `find_tool`, failing under CI and printing a skip note otherwise.
pub fn require_tool(tool: &str, version_arg: &str) -> Option<PathBuf> {
    let found = find_tool(tool, version_arg);
    if found.is_none() {
        missing(
            &format!("`{tool}`"),
            &format!("`{tool} {version_arg}` failed"),
        );
    }
    found
}

/// `node`, failing under CI and printing a skip note otherwise.
pub fn require_node() -> Option<PathBuf> {
    require_tool("node", "--version")
}

/// node and npm, both required by the npm compatibility tests.
pub fn require_node_npm() -> bool {
    require_node().is_some() && require_tool("npm", "--version").is_some()
}

/// Verdaccio's executable, as installed by `.ci/run` (or `KBREL_TEST_VERDACCIO`).
pub fn require_verdaccio() -> Option<PathBuf> {
    let path = std::env::var_os("KBREL_TEST_VERDACCIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            manifest_dir().join("target/test-tools/verdaccio/node_modules/.bin/verdaccio")
        });
    if path.exists() {
        Some(path)
    } else {
        missing(
            "Verdaccio",
            &format!(
                "{} does not exist; install it with the Verdaccio step of .ci/run",
                path.display()
            ),
        );
        None
    }
}

/// Whether this process runs as root (permissions do not stop it).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let f = tempfile::NamedTempFile::new().expect("temp file");
    f.as_file().metadata().expect("metadata").uid() == 0
}

/// `node ARGS…` in `dir` (a script file, or a tool such as tsc): its output, for the test to
/// judge.
pub fn node<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> super::Run {
    let out = Command::new("node")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    super::Run::from_output_lossy(out)
}

/// An ES module given as text, run by node in `dir` (`node --input-type=module -e`).
pub fn node_module(dir: &Path, script: &str) -> super::Run {
    node(dir, &["--input-type=module", "-e", script])
}

/// `tsc` (the compiler's `bin/tsc`) with `--strict`, no emit and `nodenext` modules over
/// `main.ts` holding `code` and the `files` beside it, in the new folder `case`; a
/// `package.json` of type module there makes `import` ESM for nodenext.
pub fn tsc_strict(tsc: &Path, case: &Path, files: &[&str], code: &str) -> super::Run {
    std::fs::create_dir_all(case).unwrap();
    std::fs::write(case.join("main.ts"), code).unwrap();
    let mut all: Vec<String> = files.iter().map(|f| format!("\"{f}\"")).collect();
    all.push("\"main.ts\"".into());
    std::fs::write(
        case.join("tsconfig.json"),
        format!(
            r#"{{"compilerOptions": {{"strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "types": []}}, "files": [{}]}}"#,
            all.join(", ")
        ),
    )
    .unwrap();
    std::fs::write(case.join("package.json"), r#"{"type": "module"}"#).unwrap();
    node(case, &[tsc.as_os_str(), "-p".as_ref(), ".".as_ref()])
}

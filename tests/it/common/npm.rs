//! Helpers for `tests/it/serve.rs` and `tests/it/npm_compat.rs`: a published index, and an npm
//! consumer project. The rest (the fixture [`Kb`], the real `kbrel` binary, child processes,
//! `kbrel serve`, the raw HTTP/1.1 client, external tools) is in `tests/it/common` and
//! re-exported here, so those modules need only `use crate::common::npm::*`.
//!
//! External tools: when one is missing the test prints a note and passes, except with `CI=true`,
//! where it fails (`common::tools`).

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tempfile::TempDir;

// Shared with the other tests; each test binary uses part of them.
#[allow(unused_imports)]
pub use crate::common::serve::*;
#[allow(unused_imports)]
pub use crate::common::tools::*;
// These tests have always read the output of commands lossily (npm's included).
#[allow(unused_imports)]
pub use crate::common::{DATE, Kb, Run, kbrel, noise, read_json, run_lossy as run, sha256_hex};

use kbrel::manifest::Index;

/// The versions of an index.json, in order.
pub fn index_versions(index: &Index) -> Vec<String> {
    index
        .versions
        .iter()
        .map(|v| v.version.to_string())
        .collect()
}

/// The registry-relative path and sha256 of a file an index names for a version: `what` is
/// `manifest`, `diff`, `package_json` or `tarball`.
pub fn index_file(index: &Index, version: &str, what: &str) -> (String, String) {
    let v = index
        .versions
        .iter()
        .find(|v| v.version.to_string() == version)
        .unwrap_or_else(|| panic!("{version} not in the index"));
    let (path, sha256) = match what {
        "manifest" => (&v.manifest.path, &v.manifest.sha256),
        "diff" => (&v.diff.path, &v.diff.sha256),
        "package_json" => (&v.package_json.path, &v.package_json.sha256),
        "tarball" => (&v.tarball.path, &v.tarball.sha256),
        other => panic!("an index names no {other:?}"),
    };
    (path.clone(), sha256.clone())
}

// --- npm -----------------------------------------------------------------------------------

/// An npm consumer project in a temp dir, with its own cache and an empty user config.
pub struct NpmProject {
    pub tmp: TempDir,
    pub registry: String,
}

impl NpmProject {
    pub fn new(registry: &str) -> NpmProject {
        let tmp = tempfile::Builder::new()
            .prefix("kbrel-npm-")
            .tempdir()
            .expect("temp dir");
        let p = NpmProject {
            tmp,
            registry: registry.to_string(),
        };
        fs::create_dir_all(p.dir()).unwrap();
        fs::write(
            p.dir().join("package.json"),
            "{\"name\":\"consumer\",\"version\":\"1.0.0\",\"private\":true}\n",
        )
        .unwrap();
        fs::write(p.tmp.path().join("npmrc"), "").unwrap();
        p
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("project")
    }

    /// `npm <args> --registry … --cache … --userconfig …` in the project folder.
    pub fn npm(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("npm");
        cmd.current_dir(self.dir())
            .stdin(Stdio::null())
            .args(args)
            .arg("--registry")
            .arg(&self.registry)
            .arg("--cache")
            .arg(self.tmp.path().join("cache"))
            .arg("--userconfig")
            .arg(self.tmp.path().join("npmrc"))
            .args([
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--fetch-retries=0",
                "--fetch-timeout=30000",
            ])
            .env_remove("npm_config_registry")
            .env("NO_COLOR", "1");
        run(&mut cmd)
    }

    /// `npm view <name> versions --json` as a list.
    pub fn view_versions(&self, name: &str) -> Vec<String> {
        let r = self.npm(&["view", name, "versions", "--json"]).success();
        match r.json() {
            serde_json::Value::Array(a) => {
                a.iter().map(|v| v.as_str().unwrap().to_string()).collect()
            }
            serde_json::Value::String(s) => vec![s],
            other => panic!("unexpected npm view output {other}"),
        }
    }

    /// Import `<name>/<lang>` with node (ESM, through the package `exports`): key → text.
    pub fn import(&self, name: &str, lang: &str) -> BTreeMap<String, String> {
        let script = self.dir().join(format!("import-{lang}.mjs"));
        fs::write(
            &script,
            format!(
                "import docs from {};\nprocess.stdout.write(JSON.stringify(docs));\n",
                serde_json::to_string(&format!("{name}/{lang}")).unwrap()
            ),
        )
        .unwrap();
        let r = run(Command::new("node")
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .arg(&script))
        .success();
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"))
    }

    /// Install `<name>@<version>` and check that node imports both languages with `expected`.
    pub fn install_and_check(
        &self,
        name: &str,
        version: &str,
        expected_en: &BTreeMap<String, String>,
        expected_zh: &BTreeMap<String, String>,
    ) {
        self.npm(&["install", &format!("{name}@{version}")])
            .success();
        let pj = read_json(
            &self
                .dir()
                .join("node_modules")
                .join(name)
                .join("package.json"),
        );
        assert_eq!(pj["name"], name);
        assert_eq!(pj["version"], version);
        assert_eq!(&self.import(name, "en"), expected_en, "{name}@{version}/en");
        assert_eq!(&self.import(name, "zh"), expected_zh, "{name}@{version}/zh");
    }
}

/// The file names of `kbrel diff --package A B --name-status` (new names for renames).
pub fn kbrel_package_diff_names(kb: &Kb, a: &str, b: &str) -> BTreeSet<String> {
    let r = run(kb.cmd().args([
        "diff",
        "--package",
        a,
        b,
        "--name-status",
        "--color",
        "never",
    ]));
    assert!(r.code == 0 || r.code == 1, "kbrel diff failed\n{r}");
    let names: BTreeSet<String> = r
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit('\t').next().unwrap().to_string())
        .collect();
    assert!(
        !names.is_empty(),
        "kbrel diff --package listed nothing\n{r}"
    );
    names
}

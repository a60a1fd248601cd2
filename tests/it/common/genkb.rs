//! A knowledge base a test writes itself (en + zh, paired by path) in its own temporary
//! directory: config files and `content/{en,zh}/…` at its root, registries below it.
//!
//! The knowledge bases of `tests/support` (serve, npm) and `tests/support/sync` (sync, schema)
//! wrap [`GenKb`] with their own config, documents and publish flags.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{kbrel, run_lossy};

pub struct GenKb {
    pub tmp: TempDir,
    /// The package name.
    pub name: String,
}

impl GenKb {
    /// No config and no documents yet, in a fresh temporary directory `<prefix>…`.
    pub fn new(prefix: &str, name: &str) -> GenKb {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temp dir");
        GenKb {
            tmp,
            name: name.to_string(),
        }
    }

    /// A config `file` at the root: `[package]` (the name, `description`, MIT), `[content]`
    /// (`content/`, en + zh paired by path, `required_fields` as a TOML array), `[registry]`
    /// (`registry/`), then `tail` (more `[registry]` keys and further sections).
    pub fn write_config_with(
        &self,
        file: &str,
        description: &str,
        required_fields: &str,
        tail: &str,
    ) {
        fs::write(
            self.root().join(file),
            format!(
                "[package]\nname = {}\ndescription = {}\nlicense = \"MIT\"\n\n\
                 [content]\nroot = \"content\"\nlanguages = [\"en\", \"zh\"]\nsource_language = \"en\"\npairing = \"path\"\n\
                 required_fields = {required_fields}\n\n[registry]\ndir = \"registry\"\n{tail}\n",
                serde_json::to_string(&self.name).unwrap(),
                serde_json::to_string(description).unwrap(),
            ),
        )
        .expect("write config");
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn content(&self) -> PathBuf {
        self.root().join("content")
    }

    /// The default registry.
    pub fn registry(&self) -> PathBuf {
        self.root().join("registry")
    }

    /// Write `content/<lang>/<path>`, creating folders.
    pub fn write(&self, lang: &str, path: &str, text: &str) {
        let p = self.content().join(lang).join(path);
        fs::create_dir_all(p.parent().unwrap()).expect("mkdir");
        fs::write(p, text).expect("write doc");
    }

    /// Append `text` to `content/<lang>/<path>`.
    pub fn append(&self, lang: &str, path: &str, text: &str) {
        let p = self.content().join(lang).join(path);
        let mut t = fs::read_to_string(&p).expect("read doc");
        t.push_str(text);
        fs::write(p, t).expect("write doc");
    }

    pub fn remove(&self, lang: &str, path: &str) {
        fs::remove_file(self.content().join(lang).join(path)).expect("remove doc");
    }

    /// `kbrel --config <root>/<config> --registry <registry>`, run in the root.
    pub fn cmd_at(&self, config: &str, registry: &Path) -> Command {
        let mut cmd = kbrel();
        cmd.current_dir(self.root())
            .arg("--config")
            .arg(self.root().join(config))
            .arg("--registry")
            .arg(registry);
        cmd
    }

    /// `kbrel … publish <version> --date <date> --changelog <registry>.CHANGELOG.md --quiet
    /// <extra…>`, which must succeed (its summary is not read; errors still print).
    pub fn publish_at(
        &self,
        config: &str,
        registry: &Path,
        version: &str,
        date: &str,
        extra: &[&str],
    ) {
        run_lossy(
            self.cmd_at(config, registry)
                .args(["publish", version, "--date", date, "--changelog"])
                .arg(registry.with_extension("CHANGELOG.md"))
                .arg("--quiet")
                .args(extra),
        )
        .success();
    }
}

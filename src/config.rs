//! `kbrel.toml`: schema, defaults and resolution of relative paths.
//!
//! Unknown keys and wrong types are errors naming the key, so a typo never silently
//! falls back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file name looked up in the working directory when `--config` is not given.
pub const CONFIG_FILE: &str = "kbrel.toml";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub package: PackageConfig,
    #[serde(default)]
    pub content: ContentConfig,
    #[serde(default)]
    pub bundle: BundleConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub changelog: ChangelogConfig,
    /// Directory the relative paths above are resolved against (the config file's folder).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// npm package name, scoped names allowed (`@acme/docs`).
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_license")]
    pub license: String,
    /// Repository URL; enables compare links in the changelog.
    #[serde(default)]
    pub repository: Option<String>,
}

fn default_license() -> String {
    "UNLICENSED".into()
}

/// How documents in different languages are recognised as the same document.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Pairing {
    /// The path relative to the language folder, without `.md`.
    #[serde(rename = "path")]
    Path,
    /// Front-matter `id`, else the path.
    #[default]
    #[serde(rename = "front-matter:id")]
    FrontMatterId,
    /// The URL path of front-matter `url` without its language segment, else the path.
    #[serde(rename = "front-matter:url")]
    FrontMatterUrl,
}

/// Where documents live below the content root.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Layout {
    /// `<root>/<lang>/**/*.md`
    #[default]
    #[serde(rename = "lang-dir")]
    LangDir,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContentConfig {
    #[serde(default = "default_root")]
    pub root: PathBuf,
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Defaults to the first of `languages`.
    #[serde(default)]
    pub source_language: Option<String>,
    #[serde(default)]
    pub layout: Layout,
    #[serde(default)]
    pub pairing: Pairing,
    /// Docs site URL with a `{lang}` placeholder; absolute links under it are checked.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default = "default_required")]
    pub required_fields: Vec<String>,
    /// JSON file `{ "<lang>": { "<key>": "<path>" } }`, relative to the config file.
    #[serde(default)]
    pub keys_file: Option<PathBuf>,
    /// Inline key map: `[content.keys.en] Lark = "integrations/lark.md"`.
    #[serde(default)]
    pub keys: BTreeMap<String, BTreeMap<String, String>>,
}

fn default_root() -> PathBuf {
    PathBuf::from("content")
}
fn default_languages() -> Vec<String> {
    vec!["en".into(), "zh".into()]
}
fn default_required() -> Vec<String> {
    ["title", "description", "date", "url"]
        .map(String::from)
        .to_vec()
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            root: default_root(),
            languages: default_languages(),
            source_language: None,
            layout: Layout::default(),
            pairing: Pairing::default(),
            base_url: None,
            required_fields: default_required(),
            keys_file: None,
            keys: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// IIFE global per language, e.g. `{ en = "FlashDocsEn" }`. Default: PascalCase of the
    /// package name plus the PascalCase language.
    #[serde(default)]
    pub globals: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(default = "default_registry")]
    pub dir: PathBuf,
    #[serde(default = "default_gzip")]
    pub gzip_level: u32,
    #[serde(default = "default_tag_format")]
    pub tag_format: String,
    /// The URL this registry directory is served from (static hosting / CDN). Tarball URLs in
    /// the static npm packument are made absolute with it; without it they are relative.
    #[serde(default)]
    pub public_url: Option<String>,
    /// With signing: the index expires this many days after each publish.
    #[serde(default)]
    pub expires_days: Option<u32>,
}

fn default_registry() -> PathBuf {
    PathBuf::from("releases")
}
fn default_gzip() -> u32 {
    6
}
fn default_tag_format() -> String {
    "v{version}".into()
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            dir: default_registry(),
            gzip_level: default_gzip(),
            tag_format: default_tag_format(),
            public_url: None,
            expires_days: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChangelogConfig {
    /// The changelog file `publish` prepends sections to; relative to the config file.
    #[serde(default = "default_changelog")]
    pub path: PathBuf,
}

fn default_changelog() -> PathBuf {
    PathBuf::from("CHANGELOG.md")
}

impl Default for ChangelogConfig {
    fn default() -> Self {
        ChangelogConfig {
            path: default_changelog(),
        }
    }
}

impl Config {
    /// Parse `kbrel.toml` text; `path` is used for messages and as the base directory.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        cfg.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if cfg.base_dir.as_os_str().is_empty() {
            cfg.base_dir = PathBuf::from(".");
        }
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Read and parse a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Config::parse(&text, path)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |message: String| {
            Err(Error::Config {
                path: path.to_path_buf(),
                message,
            })
        };
        if let Err(msg) = crate::package::validate_package_name(&self.package.name) {
            return bad(format!("package.name `{}`: {msg}", self.package.name));
        }
        if self.content.languages.is_empty() {
            return bad("content.languages must list at least one language".into());
        }
        for (i, lang) in self.content.languages.iter().enumerate() {
            let ok = !lang.is_empty()
                && lang
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return bad(format!(
                    "content.languages[{i}] `{lang}` is not a language code"
                ));
            }
            if self.content.languages[..i].contains(lang) {
                return bad(format!("content.languages lists `{lang}` twice"));
            }
        }
        if let Some(src) = &self.content.source_language
            && !self.content.languages.contains(src)
        {
            return bad(format!(
                "content.source_language `{src}` is not one of content.languages"
            ));
        }
        if self.registry.gzip_level > 9 {
            return bad(format!(
                "registry.gzip_level {} is out of range 0..=9",
                self.registry.gzip_level
            ));
        }
        if !self.registry.tag_format.contains("{version}") {
            return bad("registry.tag_format must contain `{version}`".into());
        }
        for (lang, global) in &self.bundle.globals {
            if !self.content.languages.contains(lang) {
                return bad(format!("bundle.globals.{lang}: unknown language `{lang}`"));
            }
            if !crate::package::is_js_identifier(global) {
                return bad(format!(
                    "bundle.globals.{lang} `{global}` is not a JavaScript identifier"
                ));
            }
        }
        for lang in self.content.keys.keys() {
            if !self.content.languages.contains(lang) {
                return bad(format!("content.keys.{lang}: unknown language `{lang}`"));
            }
        }
        Ok(())
    }

    /// A default configuration rooted at `base_dir` (used when no kbrel.toml exists).
    pub fn default_for(name: &str, base_dir: &Path) -> Config {
        Config {
            package: PackageConfig {
                name: name.into(),
                description: String::new(),
                license: default_license(),
                repository: None,
            },
            content: ContentConfig::default(),
            bundle: BundleConfig::default(),
            registry: RegistryConfig::default(),
            changelog: ChangelogConfig::default(),
            base_dir: base_dir.to_path_buf(),
        }
    }

    pub fn source_language(&self) -> &str {
        self.content
            .source_language
            .as_deref()
            .unwrap_or(&self.content.languages[0])
    }

    pub fn content_root(&self) -> PathBuf {
        self.base_dir.join(&self.content.root)
    }

    pub fn registry_dir(&self) -> PathBuf {
        self.base_dir.join(&self.registry.dir)
    }

    pub fn changelog_path(&self) -> PathBuf {
        self.base_dir.join(&self.changelog.path)
    }

    /// The IIFE global for a language: configured, or `<PascalName><PascalLang>`.
    pub fn bundle_global(&self, lang: &str) -> String {
        if let Some(g) = self.bundle.globals.get(lang) {
            return g.clone();
        }
        let bare = self
            .package
            .name
            .rsplit('/')
            .next()
            .unwrap_or(&self.package.name);
        format!("{}{}", pascal_case(bare), pascal_case(lang))
    }
}

fn pascal_case(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            let first = cs.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(cs).collect::<String>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse(
            "[package]\nname = \"x\"\n[content]\nrooot = \"c\"\n",
            Path::new("kbrel.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("rooot"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::parse(
            "[package]\nname = \"x\"\n[registry]\ngzip_level = \"fast\"\n",
            Path::new("kbrel.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gzip_level"), "{err}");
    }

    #[test]
    fn default_globals_are_pascal_case() {
        let cfg = Config::parse(
            "[package]\nname = \"@acme/flash-docs\"\n",
            Path::new("x/kbrel.toml"),
        )
        .unwrap();
        assert_eq!(cfg.bundle_global("en"), "FlashDocsEn");
        assert_eq!(cfg.base_dir, PathBuf::from("x"));
        assert_eq!(cfg.source_language(), "en");
    }
}

//! `kbrel.toml`: schema, defaults and resolution of relative paths.
//!
//! Unknown keys and wrong types are errors naming the key, so a typo never silently
//! falls back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Error, Result};

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
    /// `[lint]`: levels per code, per-path overrides, the baseline file.
    #[serde(default, skip_serializing_if = "LintConfig::is_default")]
    pub lint: LintConfig,
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
    /// package.json `author` (`"Name <email> (url)"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// package.json `homepage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// package.json `bugs` (the issue tracker URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bugs: Option<String>,
    /// package.json `keywords`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// package.json `engines` (`{ node = ">=18" }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, String>,
    /// package.json `publishConfig` (`{ access = "public", registry = "…" }`).
    #[serde(
        default,
        rename = "publish_config",
        alias = "publishConfig",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub publish_config: BTreeMap<String, String>,
    /// package.json `files` (default `["dist", "docs", "manifest.json"]`). kbrel writes the
    /// tarball itself, so this only matters to tools that pack the files again (`npm pack` in
    /// a `kbrel pack --out` folder): it must cover everything kbrel ships, see
    /// [`PACKAGE_TOP_LEVEL`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// What a release's tarball holds besides `package.json` and `README.md` (which npm always
/// packs): `[package] files` must cover each of these wholly.
pub const PACKAGE_TOP_LEVEL: [&str; 3] = ["dist", "docs", "manifest.json"];

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

/// Where each language's documents live (see [`Config::language_roots`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Layout {
    /// `<root>/<lang>/**`: one folder per language below `content.root`.
    #[default]
    #[serde(rename = "folders", alias = "lang-dir")]
    Folders,
    /// Docusaurus: the source language in `<root>/docs/`, every other language in
    /// `<root>/i18n/<lang>/docusaurus-plugin-content-docs/current/` (`content.root` defaults
    /// to the folder of kbrel.toml, the site folder).
    #[serde(rename = "docusaurus")]
    Docusaurus,
    /// Mintlify (and Starlight's `src/content/docs` with `content.root` set to it): one
    /// `<root>/<lang>/` folder per language, `content.root` defaulting to the folder of
    /// kbrel.toml. A default locale kept at the root is written with `[content.roots]`.
    #[serde(rename = "mintlify")]
    Mintlify,
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
    /// Explicit language folders, relative to `content.root` (`en = "docs"`, `zh =
    /// "i18n/zh/docusaurus-plugin-content-docs/current"`); a language not listed takes the
    /// folder its `layout` gives it. A folder may hold another language's folder (`en = "."`,
    /// `zh = "zh"`): the inner one is left out of the outer one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roots: BTreeMap<String, PathBuf>,
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
    /// Bundler entry modules whose `import Name from "<path>.md?raw"` lines declare keys
    /// (`["src/{lang}.ts"]`), relative to the config file; grammar in [`crate::keys`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys_from: Vec<String>,
    /// Earlier locations of the content folder, by release version (`[[content.history]]`).
    /// Used only when reading a release from git; `root` is the location of every other version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// Globs of the files that are documents (default: every `*.md`), relative to each
    /// language folder (`guides/**`), to the content root when they start with a language
    /// (`zh/legacy/**`), or with `{lang}` for every language (`{lang}/drafts/**`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Globs of files that are not documents (not linted, bundled or diffed); same forms as
    /// `include`, applied after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Folders below the content root whose every file is an asset (`static`, `{lang}/img`),
    /// whatever its extension. Released even when no document links to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<String>,
    /// File extensions (without the dot, case-insensitive) of the files that are assets:
    /// images, PDFs, videos… Replaces the default list ([`DEFAULT_ASSET_EXTENSIONS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_extensions: Option<Vec<String>>,
    /// The largest asset in bytes (KB052 above it). Default: 100 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_asset_size: Option<u64>,
}

/// The extensions of the files that are assets when `[content] asset_extensions` is not set.
pub const DEFAULT_ASSET_EXTENSIONS: [&str; 17] = [
    "png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp", "pdf", "mp4", "webm", "mov",
    "mp3", "ogg", "wav", "zip",
];

/// The largest asset when `[content] max_asset_size` is not set: 100 MiB.
pub const DEFAULT_MAX_ASSET_SIZE: u64 = 100 * 1024 * 1024;

impl ContentConfig {
    /// The asset extensions in force, lowercase.
    pub fn asset_extensions(&self) -> Vec<String> {
        match &self.asset_extensions {
            Some(list) => list
                .iter()
                .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
                .collect(),
            None => DEFAULT_ASSET_EXTENSIONS.map(String::from).to_vec(),
        }
    }

    pub fn max_asset_size(&self) -> u64 {
        self.max_asset_size.unwrap_or(DEFAULT_MAX_ASSET_SIZE)
    }
}

/// `[[content.history]]`: the content folder of the releases in a version range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// A semver range in `semver::VersionReq` syntax (`"<1.2.0"`, `">=0.3, <1.0"`), matched by
    /// semver order with pre-releases included (see [`VersionRange`]).
    pub versions: String,
    /// The content folder of those releases, relative to the config file's folder like
    /// `content.root`.
    pub root: PathBuf,
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
            roots: BTreeMap::new(),
            pairing: Pairing::default(),
            base_url: None,
            required_fields: default_required(),
            keys_file: None,
            keys: BTreeMap::new(),
            keys_from: Vec::new(),
            history: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            assets: Vec::new(),
            asset_extensions: None,
            max_asset_size: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// IIFE global per language, e.g. `{ en = "FlashDocsEn" }`. Default: PascalCase of the
    /// package name plus the PascalCase language.
    #[serde(default)]
    pub globals: BTreeMap<String, String>,
    /// Which documents the bundles hold: every document (`all`, the default), or only those
    /// with a key from a key source or front matter (`keyed`). `docs/`, the manifest and sync
    /// hold every document either way.
    #[serde(default, skip_serializing_if = "BundleDocuments::is_all")]
    pub documents: BundleDocuments,
    /// Package format 4: whether each language also gets a `{ meta, body }` bundle
    /// (`dist/esm/<lang>.meta.js`, front matter parsed). Default false: it is one more copy of
    /// every document in the tarball (about a third more publish time), so only teams whose
    /// apps use it pay for it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub meta: bool,
    /// Package format 4: whether each language also gets per-document ES modules and a lazy
    /// index (`dist/esm/<lang>/index.js`, `key → () => import(…)`) a bundler splits into one
    /// chunk per document. Default false, for the same reason as `meta` (about twice the
    /// publish time of a package without it on 4,000 documents).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lazy: bool,
    /// What the bundles hold for an `.mdx` document: its source as written (`source`, the
    /// default) or its plain-markdown form (`markdown`: ESM and expressions left out, each
    /// component rendered as `mdx_components` and the built-in renderings say). `docs/`,
    /// the manifest and sync keep the source either way.
    #[serde(default, skip_serializing_if = "BundleMdx::is_source")]
    pub mdx: BundleMdx,
    /// With `mdx = "markdown"`: how a component is rendered, by name (`Note = "blockquote"`,
    /// `Tabs = "sections"`, `Card = "children"`, `Analytics = "drop"`), over the built-in
    /// renderings (`Note`, `Tip`, `Warning`… → blockquote; `Tabs`, `Steps`… → sections);
    /// any other component becomes its children.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mdx_components: BTreeMap<String, MdxRender>,
}

impl Default for BundleConfig {
    fn default() -> Self {
        BundleConfig {
            globals: BTreeMap::new(),
            documents: BundleDocuments::All,
            meta: false,
            lazy: false,
            mdx: BundleMdx::Source,
            mdx_components: BTreeMap::new(),
        }
    }
}

/// `[bundle] mdx`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BundleMdx {
    /// The `.mdx` source as written.
    #[default]
    Source,
    /// The plain-markdown form (`kbrel::mdx::to_markdown`).
    Markdown,
}

impl BundleMdx {
    fn is_source(&self) -> bool {
        *self == BundleMdx::Source
    }
}

/// `[bundle.mdx_components]`: how `mdx = "markdown"` renders a component (the names of
/// `kbrel::mdx::Render`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MdxRender {
    /// Its children quoted with `> `.
    Blockquote,
    /// A section per child, headed by its `label`, `title` or `value`.
    Sections,
    /// Its children.
    Children,
    /// Nothing.
    Drop,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `[bundle] documents`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum BundleDocuments {
    /// Every document, keyed or not (an unkeyed document under its id).
    #[default]
    #[serde(rename = "all")]
    All,
    /// Only documents with a declared key.
    #[serde(rename = "keyed")]
    Keyed,
}

impl BundleDocuments {
    fn is_all(&self) -> bool {
        *self == BundleDocuments::All
    }
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
    /// Write a gzip-compressed `.gz` sibling beside the JSON consumers read (index.json and
    /// each new version's manifest, diff and package.json) for static hosts (nginx
    /// `gzip_static`). Off by default: it adds files, and releases rebuild byte for byte.
    #[serde(default)]
    pub precompress: bool,
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
            precompress: false,
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

use crate::findings::Level;

/// `[lint]`: `KB010 = "warn"` for any code, `baseline = "…"`, and `[[lint.overrides]]`.
/// Read from a plain table so that every key can be checked and named in errors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, toml::Value>")]
pub struct LintConfig {
    /// Level per code (`"KB010"` → warn), validated against the known codes.
    #[serde(flatten)]
    pub levels: BTreeMap<String, Level>,
    /// The baseline file, relative to the config file (default `kbrel-baseline.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PathBuf>,
    /// Per-path levels; for a code, the last override whose paths match a file wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<LintOverride>,
    /// MDX component names every document may use without importing them (the ones a site
    /// provides globally: `Tabs`, `Note`, …); others must be imported by the file (KB061).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mdx_components: Vec<String>,
}

/// `[[lint.overrides]]`: levels for the files matching `paths` (globs relative to the content
/// root, `{lang}` for every language: `zh/legacy/**`, `{lang}/index.md`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintOverride {
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warn: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

/// The default baseline file name.
pub const BASELINE_FILE: &str = "kbrel-baseline.json";

impl LintConfig {
    fn is_default(&self) -> bool {
        *self == LintConfig::default()
    }
}

impl TryFrom<BTreeMap<String, toml::Value>> for LintConfig {
    type Error = String;

    fn try_from(table: BTreeMap<String, toml::Value>) -> std::result::Result<Self, String> {
        let mut out = LintConfig::default();
        for (key, value) in table {
            match key.as_str() {
                "baseline" => match value {
                    toml::Value::String(s) if !s.trim().is_empty() => {
                        out.baseline = Some(PathBuf::from(s))
                    }
                    other => {
                        return Err(format!(
                            "lint.baseline: expected a file path, found `{other}`"
                        ));
                    }
                },
                "mdx_components" => {
                    out.mdx_components = value.try_into().map_err(|e: toml::de::Error| {
                        format!(
                            "lint.mdx_components: {} (a list of component names: [\"Tabs\", \"Note\"])",
                            e.message().trim()
                        )
                    })?;
                }
                "overrides" => {
                    out.overrides = value.try_into().map_err(|e: toml::de::Error| {
                        format!(
                            "lint.overrides: {} (write `[[lint.overrides]]` tables with `paths` and `error` / `warn` / `allow` lists)",
                            e.message().trim()
                        )
                    })?;
                }
                code => {
                    let level = match &value {
                        toml::Value::String(s) => Level::parse(s),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        format!(
                            "lint.{code}: expected \"error\", \"warn\" or \"allow\", found `{value}`"
                        )
                    })?;
                    out.levels.insert(code.to_string(), level);
                }
            }
        }
        Ok(out)
    }
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

/// A key breaking a rule of [`Config::validate`]: what [`ConfigError::Value`] is made of.
struct Bad {
    key: String,
    value: Option<String>,
    message: String,
}

fn bad_key(key: impl Into<String>, value: Option<&str>, message: impl Into<String>) -> Bad {
    Bad {
        key: key.into(),
        value: value.map(str::to_string),
        message: message.into(),
    }
}

impl Config {
    /// Parse `kbrel.toml` text; `path` is used for messages and as the base directory.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            // toml's message quotes the line with a caret under the column: keep its lines.
            let mut message = e.to_string().trim_end().to_string();
            if message.contains("[content.history]") && message.contains("expected a sequence") {
                message.push_str(
                    " (write `[[content.history]]`: one table per version range, double brackets)",
                );
            }
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::from(ConfigError::Syntax {
                file: path.to_path_buf(),
                line,
                message,
            })
        })?;
        // A layout other than one folder per language places the language folders relative to
        // the folder of kbrel.toml unless `content.root` says otherwise.
        let root_given = text
            .parse::<toml::Table>()
            .ok()
            .is_some_and(|t| t.get("content").and_then(|c| c.get("root")).is_some());
        if !root_given && !cfg.plain_folders() {
            cfg.content.root = PathBuf::from(".");
        }
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
        let text = crate::fsx::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Config::parse(&text, path)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        self.validate_languages()
            .and_then(|()| self.validate_package_files())
            .and_then(|()| self.validate_registry())
            .and_then(|()| self.validate_bundle())
            .and_then(|()| self.validate_globs())
            .and_then(|()| self.validate_history())
            .and_then(|()| self.validate_roots())
            .map_err(|b| ConfigError::value(path, b.key, b.value.as_deref(), b.message).into())
    }

    /// The package name and the languages (BCP 47 tags compare case-insensitively).
    fn validate_languages(&self) -> std::result::Result<(), Bad> {
        if let Err(msg) = crate::npm::validate_package_name(&self.package.name) {
            return Err(bad_key(
                "package.name",
                Some(&self.package.name),
                format!("package.name `{}`: {msg}", self.package.name),
            ));
        }
        if self.content.languages.is_empty() {
            return Err(bad_key(
                "content.languages",
                None,
                "content.languages must list at least one language",
            ));
        }
        for (i, lang) in self.content.languages.iter().enumerate() {
            let ok = !lang.is_empty()
                && lang
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(bad_key(
                    format!("content.languages[{i}]"),
                    Some(lang),
                    format!("content.languages[{i}] `{lang}` is not a language code"),
                ));
            }
            // BCP 47 tags are case-insensitive: `en` and `EN` are one language (and one folder
            // on macOS and Windows).
            if let Some(other) = self.content.languages[..i]
                .iter()
                .find(|l| l.eq_ignore_ascii_case(lang))
            {
                return Err(bad_key(
                    "content.languages",
                    Some(lang),
                    if other == lang {
                        format!("content.languages lists `{lang}` twice")
                    } else {
                        format!(
                            "content.languages lists `{other}` and `{lang}`, one language (language tags are case-insensitive)"
                        )
                    },
                ));
            }
        }
        if let Some(src) = &self.content.source_language
            && !self.content.languages.contains(src)
        {
            return Err(bad_key(
                "content.source_language",
                Some(src),
                format!("content.source_language `{src}` is not one of content.languages"),
            ));
        }
        Ok(())
    }

    /// `[package] files`: relative paths or globs (no `!` exclusions, no `..`) that together
    /// cover everything the tarball holds, so that `npm pack` of a `kbrel pack --out` folder
    /// packs the same files. A glob covers a folder it matches wholly, as npm does.
    fn validate_package_files(&self) -> std::result::Result<(), Bad> {
        let files = &self.package.files;
        if files.is_empty() {
            return Ok(());
        }
        let mut globs = globset::GlobSetBuilder::new();
        for (i, f) in files.iter().enumerate() {
            let bad = if f.trim().is_empty() {
                Some("is empty")
            } else if f.starts_with('!') {
                Some(
                    "is an exclusion; kbrel decides what the tarball holds, so `files` can only list what it ships",
                )
            } else if f.starts_with('/') || f.contains('\\') {
                Some("must be a path relative to the package root, with `/`")
            } else if f.split('/').any(|c| c == "..") {
                Some("climbs out of the package with `..`")
            } else {
                None
            };
            if let Some(why) = bad {
                return Err(bad_key(
                    format!("package.files[{i}]"),
                    Some(f),
                    format!("package.files[{i}] `{f}` {why}"),
                ));
            }
            let pattern = f.trim_start_matches("./").trim_end_matches('/');
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    bad_key(
                        format!("package.files[{i}]"),
                        Some(f),
                        format!("package.files[{i}] `{f}`: {e}"),
                    )
                })?;
            globs.add(glob);
        }
        let globs = globs
            .build()
            .map_err(|e| bad_key("package.files", None, format!("package.files: {e}")))?;
        // A path is packed when the glob matches it or one of its folders.
        let covered = |path: &str| {
            let mut prefix = String::new();
            path.split('/').any(|part| {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                globs.is_match(&prefix)
            })
        };
        for lang in &self.content.languages {
            for probe in [
                format!("dist/esm/{lang}.js"),
                format!("dist/esm/{lang}.d.ts"),
                format!("dist/iife/{lang}.js"),
                format!("dist/iife/{lang}.d.ts"),
                format!("dist/{lang}/any/file"),
                format!("docs/{lang}/any/document.md"),
                format!("docs/{lang}/any/file"),
                "manifest.json".to_string(),
            ] {
                if !covered(&probe) {
                    let top = probe.split('/').next().unwrap_or_default();
                    return Err(bad_key(
                        "package.files",
                        None,
                        format!(
                            "package.files = [{}] does not cover `{probe}`, which the tarball holds: \
                         list `{top}` (kbrel ships {} wholly)",
                            files
                                .iter()
                                .map(|f| format!("{f:?}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            PACKAGE_TOP_LEVEL.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The registry folder (never the project root or a folder holding content), gzip level and tag format.
    fn validate_registry(&self) -> std::result::Result<(), Bad> {
        // `verify --repair` and publish's clean-up remove what they find in the registry folder:
        // it must be a folder of its own, never the project root or a folder holding content.
        let reg = lexical(&self.registry.dir);
        if reg.as_os_str().is_empty() {
            return Err(bad_key(
                "registry.dir",
                Some(&self.registry.dir.to_string_lossy()),
                format!(
                    "registry.dir `{}` is the project root; use a folder of its own such as \"releases\"",
                    self.registry.dir.display()
                ),
            ));
        }
        let roots = std::iter::once(("content.root", &self.content.root)).chain(
            self.content
                .history
                .iter()
                .map(|h| ("content.history.root", &h.root)),
        );
        for (field, root) in roots {
            let root_l = lexical(root);
            if root_l.starts_with(&reg) {
                return Err(bad_key(
                    "registry.dir",
                    Some(&self.registry.dir.to_string_lossy()),
                    format!(
                        "registry.dir `{}` contains {field} `{}`; the registry must be a folder of its own",
                        self.registry.dir.display(),
                        root.display()
                    ),
                ));
            }
        }
        if self.registry.gzip_level > 9 {
            return Err(bad_key(
                "registry.gzip_level",
                Some(&self.registry.gzip_level.to_string()),
                format!(
                    "registry.gzip_level {} is out of range 0..=9",
                    self.registry.gzip_level
                ),
            ));
        }
        if !self.registry.tag_format.contains("{version}") {
            return Err(bad_key(
                "registry.tag_format",
                Some(&self.registry.tag_format),
                "registry.tag_format must contain `{version}`",
            ));
        }
        Ok(())
    }

    /// IIFE globals (safe JavaScript names, one per language) and key sources.
    fn validate_bundle(&self) -> std::result::Result<(), Bad> {
        for lang in self.bundle.globals.keys() {
            if !self.content.languages.contains(lang) {
                return Err(bad_key(
                    format!("bundle.globals.{lang}"),
                    None,
                    format!("bundle.globals.{lang}: unknown language `{lang}`"),
                ));
            }
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for lang in &self.content.languages {
            let global = self.bundle_global(lang);
            let origin = if self.bundle.globals.contains_key(lang) {
                format!("bundle.globals.{lang}")
            } else {
                format!(
                    "the IIFE global of `{lang}` (from package.name; set bundle.globals.{lang})"
                )
            };
            if let Some(problem) = crate::js::global_name_problem(&global) {
                return Err(bad_key(
                    format!("bundle.globals.{lang}"),
                    Some(&global),
                    format!("{origin} `{global}` {problem}"),
                ));
            }
            if let Some(other) = seen.insert(global.clone(), lang) {
                return Err(bad_key(
                    format!("bundle.globals.{lang}"),
                    Some(&global),
                    format!(
                        "{origin} `{global}` is also the global of `{other}`: one language's bundle would replace the other's"
                    ),
                ));
            }
        }
        for (i, pattern) in self.content.keys_from.iter().enumerate() {
            if !pattern.contains("{lang}") && self.content.languages.len() > 1 {
                return Err(bad_key(
                    format!("content.keys_from[{i}]"),
                    Some(pattern),
                    format!(
                        "content.keys_from[{i}] `{pattern}` must contain `{{lang}}` (one entry module per language)"
                    ),
                ));
            }
        }
        for lang in self.content.keys.keys() {
            if !self.content.languages.contains(lang) {
                return Err(bad_key(
                    format!("content.keys.{lang}"),
                    None,
                    format!("content.keys.{lang}: unknown language `{lang}`"),
                ));
            }
        }
        Ok(())
    }

    /// Path globs: lint overrides, content include/exclude.
    fn validate_globs(&self) -> std::result::Result<(), Bad> {
        // The codes themselves are checked by `lint::check` (config knows no lint codes).
        for (i, o) in self.lint.overrides.iter().enumerate() {
            if o.paths.is_empty() {
                return Err(bad_key(
                    format!("lint.overrides[{i}].paths"),
                    None,
                    format!("lint.overrides[{i}].paths is empty: name the files it applies to"),
                ));
            }
            for (j, p) in o.paths.iter().enumerate() {
                if let Err(msg) = path_glob(p, &self.content.languages) {
                    return Err(bad_key(
                        format!("lint.overrides[{i}].paths[{j}]"),
                        Some(p),
                        format!("lint.overrides[{i}].paths[{j}] `{p}`: {msg}"),
                    ));
                }
            }
        }
        for (field, globs) in [
            ("include", &self.content.include),
            ("exclude", &self.content.exclude),
        ] {
            for (j, p) in globs.iter().enumerate() {
                if let Err(msg) = path_glob(p, &self.content.languages) {
                    return Err(bad_key(
                        format!("content.{field}[{j}]"),
                        Some(p),
                        format!("content.{field}[{j}] `{p}`: {msg}"),
                    ));
                }
            }
        }
        for (j, p) in self.content.assets.iter().enumerate() {
            let t = p.trim().trim_end_matches('/');
            if t.is_empty() || t.starts_with('/') || t.split('/').any(|s| s == ".." || s == ".") {
                return Err(bad_key(
                    format!("content.assets[{j}]"),
                    Some(p),
                    format!(
                        "content.assets[{j}] `{p}`: name a folder relative to the content root, without `.` or `..`"
                    ),
                ));
            }
        }
        for (j, e) in self.content.asset_extensions.iter().flatten().enumerate() {
            let t = e.trim_start_matches('.');
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(bad_key(
                    format!("content.asset_extensions[{j}]"),
                    Some(e),
                    format!(
                        "content.asset_extensions[{j}] `{e}`: an extension is letters and digits (`png`)"
                    ),
                ));
            }
            if matches!(t.to_ascii_lowercase().as_str(), "md" | "mdx") {
                return Err(bad_key(
                    format!("content.asset_extensions[{j}]"),
                    Some(e),
                    format!(
                        "content.asset_extensions[{j}] `{e}`: `.{t}` files are documents, not assets"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `[[content.history]]`: valid, non-empty, non-overlapping version ranges.
    fn validate_history(&self) -> std::result::Result<(), Bad> {
        let mut ranges: Vec<VersionRange> = Vec::new();
        for (i, h) in self.content.history.iter().enumerate() {
            let range = match VersionRange::parse(&h.versions) {
                Ok(r) => r,
                Err(e) => {
                    return Err(bad_key(
                        format!("content.history[{i}].versions"),
                        Some(&h.versions),
                        format!(
                            "content.history[{i}].versions `{}` is not a semver range: {e}",
                            h.versions
                        ),
                    ));
                }
            };
            if range.is_empty() {
                return Err(bad_key(
                    format!("content.history[{i}].versions"),
                    Some(&h.versions),
                    format!(
                        "content.history[{i}].versions `{}` matches no version",
                        h.versions
                    ),
                ));
            }
            if h.root.as_os_str().is_empty() {
                return Err(bad_key(
                    format!("content.history[{i}].root"),
                    None,
                    format!(
                        "content.history[{i}].root is empty; use \".\" for the folder of kbrel.toml"
                    ),
                ));
            }
            for (j, earlier) in ranges.iter().enumerate() {
                let both = earlier.intersect(&range);
                if !both.is_empty() {
                    let mut message = format!(
                        "content.history[{i}].versions `{}` overlaps content.history[{j}].versions `{}` (both match {both}): a version has one content root",
                        h.versions, self.content.history[j].versions
                    );
                    if let Some(release) = both.only_pre_releases_of() {
                        message.push_str(&format!(
                            "; the overlap is only pre-releases of {release}, which sort before it: end the earlier range with `<{release}-0` to leave them out"
                        ));
                    }
                    return Err(bad_key(
                        format!("content.history[{i}].versions"),
                        Some(&h.versions),
                        message,
                    ));
                }
            }
            ranges.push(range);
        }
        Ok(())
    }

    /// `[content.roots]`: known languages, relative folders inside the project, one per language.
    fn validate_roots(&self) -> std::result::Result<(), Bad> {
        for (lang, folder) in &self.content.roots {
            if !self.content.languages.contains(lang) {
                return Err(bad_key(
                    format!("content.roots.{lang}"),
                    None,
                    format!("content.roots.{lang}: unknown language `{lang}`"),
                ));
            }
            let bad = folder.is_absolute()
                || folder
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if bad {
                return Err(bad_key(
                    format!("content.roots.{lang}"),
                    Some(&folder.to_string_lossy()),
                    format!(
                        "content.roots.{lang} `{}` must be a folder below content.root (relative, no `..`)",
                        folder.display()
                    ),
                ));
            }
        }
        let roots = self.language_roots(Path::new(""));
        for (i, (lang, folder)) in roots.iter().enumerate() {
            if let Some((other, _)) = roots[..i].iter().find(|(_, f)| f == folder) {
                return Err(bad_key(
                    "content.roots",
                    Some(&folder.to_string_lossy()),
                    format!(
                        "content.roots: `{other}` and `{lang}` are both read from `{}`; each language needs a folder of its own",
                        folder.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the content is one folder per language below `content.root` (the layout every
    /// release before layouts was read with).
    pub fn plain_folders(&self) -> bool {
        self.content.layout == Layout::Folders && self.content.roots.is_empty()
    }

    /// The folder of `lang` below the content root `root` (`content.root` or a
    /// `[[content.history]]` root), lexically normalised (`""` is `root`'s own folder when
    /// `root` is empty): `[content.roots]`, else what `layout` says. The one place language
    /// folders are computed: loading from disk or git, key sources, publish's dirty check.
    pub fn language_root(&self, root: &Path, lang: &str) -> PathBuf {
        if let Some(folder) = self.content.roots.get(lang) {
            return lexical(&root.join(folder));
        }
        match self.content.layout {
            Layout::Folders | Layout::Mintlify => lexical(&root.join(lang)),
            Layout::Docusaurus if lang == self.source_language() => lexical(&root.join("docs")),
            Layout::Docusaurus => lexical(
                &root
                    .join("i18n")
                    .join(lang)
                    .join("docusaurus-plugin-content-docs/current"),
            ),
        }
    }

    /// Every language's folder below `root`, in configured order ([`Config::language_root`]).
    pub fn language_roots(&self, root: &Path) -> Vec<(String, PathBuf)> {
        self.content
            .languages
            .iter()
            .map(|l| (l.clone(), self.language_root(root, l)))
            .collect()
    }

    /// Where a document (or finding) path `<lang>/<rest>` really is, relative to the folder of
    /// kbrel.toml, `/`-separated (`zh/a.mdx` → `i18n/zh/docusaurus-plugin-content-docs/current/a.mdx`).
    /// Other paths are returned relative to the content root.
    pub fn source_path(&self, path: &str) -> String {
        let lang_root = path.split_once('/').and_then(|(lang, rest)| {
            self.content
                .languages
                .iter()
                .any(|l| l == lang)
                .then(|| (self.language_root(&self.content.root, lang), rest))
        });
        let (folder, rest) = match lang_root {
            Some((folder, rest)) => (folder, rest),
            None => (lexical(&self.content.root), path),
        };
        let folder = folder.to_string_lossy().replace('\\', "/");
        if folder.is_empty() {
            rest.to_string()
        } else {
            format!("{folder}/{rest}")
        }
    }

    /// The content root of release `version`, relative to the config file's folder like
    /// `content.root`, and the index of the `[[content.history]]` entry whose range holds the
    /// version (`None`: no entry does, or no version; the root is `content.root`).
    pub fn root_for(&self, version: Option<&semver::Version>) -> Result<(&Path, Option<usize>)> {
        if let Some(v) = version {
            for (i, h) in self.content.history.iter().enumerate() {
                let range = VersionRange::parse(&h.versions).map_err(|e| {
                    Error::from(ConfigError::value(
                        self.base_dir.join(CONFIG_FILE),
                        format!("content.history[{i}].versions"),
                        Some(&h.versions),
                        format!(
                            "content.history[{i}].versions `{}` is not a semver range: {e}",
                            h.versions
                        ),
                    ))
                })?;
                if range.contains(v) {
                    return Ok((&h.root, Some(i)));
                }
            }
        }
        Ok((&self.content.root, None))
    }

    /// A default configuration rooted at `base_dir` (used when no kbrel.toml exists).
    pub fn default_for(name: &str, base_dir: &Path) -> Config {
        Config {
            package: PackageConfig {
                name: name.into(),
                description: String::new(),
                license: default_license(),
                repository: None,
                author: None,
                homepage: None,
                bugs: None,
                keywords: Vec::new(),
                engines: BTreeMap::new(),
                publish_config: BTreeMap::new(),
                files: Vec::new(),
            },
            content: ContentConfig::default(),
            bundle: BundleConfig::default(),
            registry: RegistryConfig::default(),
            changelog: ChangelogConfig::default(),
            lint: LintConfig::default(),
            base_dir: base_dir.to_path_buf(),
        }
    }

    /// The baseline file: `lint.baseline`, else `kbrel-baseline.json` next to the config file.
    pub fn baseline_path(&self) -> PathBuf {
        self.base_dir.join(
            self.lint
                .baseline
                .as_deref()
                .unwrap_or(Path::new(BASELINE_FILE)),
        )
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

/// A glob over content paths as `[content] include/exclude` and `[[lint.overrides]] paths`
/// write them, compiled to one matcher per language over paths relative to the content root
/// (`en/guides/a.md`): `{lang}/…` for every language, `<lang>/…` for one, anything else
/// relative to each language folder. `*` stays within a folder, `**` crosses folders.
pub fn path_glob(
    pattern: &str,
    languages: &[String],
) -> std::result::Result<globset::GlobSet, String> {
    let p = pattern.trim();
    if p.is_empty() {
        return Err("empty glob".into());
    }
    if p.starts_with('/') || p.split('/').any(|s| s == "..") {
        return Err("must be relative to the content root, without `..`".into());
    }
    let mut set = globset::GlobSetBuilder::new();
    for full in expand_glob(p, languages) {
        let glob = globset::GlobBuilder::new(&full)
            .literal_separator(true)
            .build()
            .map_err(|e| e.kind().to_string())?;
        set.add(glob);
    }
    set.build().map_err(|e| e.to_string())
}

/// The content-root patterns a [`path_glob`] pattern stands for, one per language it applies to.
fn expand_glob(p: &str, languages: &[String]) -> Vec<String> {
    let first = p.split('/').next().unwrap_or("");
    languages
        .iter()
        .filter_map(|lang| {
            if p.contains("{lang}") {
                Some(p.replace("{lang}", lang))
            } else if languages.iter().any(|l| l == first) {
                (first == lang).then(|| p.to_string())
            } else {
                Some(format!("{lang}/{p}"))
            }
        })
        .collect()
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

/// A semver range read as a set of versions: `semver::VersionReq` syntax, matched by semver
/// order.
///
/// Each comparator is an interval of versions and a range (comparators joined by `,`) is their
/// intersection, kept as one half-open interval `[lo, hi)`. Unlike `VersionReq::matches`
/// (Cargo's rule, which `sync --version` follows), pre-releases are matched where they sort:
/// `<1.2.0` holds `1.2.0-beta.1` and `1.1.0-rc.1`, while `^1.0` is `>=1.0.0-0, <2.0.0-0` and
/// does not hold `2.0.0-rc.1`. That is npm's reading with `includePrerelease`, a superset of
/// Cargo's matches, and it makes "do two ranges share a version" an exact question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    /// Inclusive lower bound; `None`: unbounded.
    lo: Option<semver::Version>,
    /// Exclusive upper bound; `None`: unbounded.
    hi: Option<semver::Version>,
}

impl VersionRange {
    /// Every version.
    pub const ALL: VersionRange = VersionRange { lo: None, hi: None };

    /// Parse `semver::VersionReq` syntax; the message says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<VersionRange, String> {
        let req = semver::VersionReq::parse(text).map_err(|e| e.to_string())?;
        let mut range = VersionRange::ALL;
        for c in &req.comparators {
            range = range.intersect(&comparator_range(c)?);
        }
        Ok(range)
    }

    pub fn contains(&self, v: &semver::Version) -> bool {
        let v = semver::Version {
            build: semver::BuildMetadata::EMPTY,
            ..v.clone()
        };
        self.lo.as_ref().is_none_or(|lo| &v >= lo) && self.hi.as_ref().is_none_or(|hi| &v < hi)
    }

    /// No version is in the range.
    pub fn is_empty(&self) -> bool {
        matches!((&self.lo, &self.hi), (Some(lo), Some(hi)) if lo >= hi)
    }

    /// The versions in both ranges.
    pub fn intersect(&self, other: &VersionRange) -> VersionRange {
        let lo = match (&self.lo, &other.lo) {
            (Some(a), Some(b)) => Some(a.max(b).clone()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let hi = match (&self.hi, &other.hi) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        VersionRange { lo, hi }
    }

    /// `Some(x.y.z)` when every version in the range is a pre-release of `x.y.z`.
    fn only_pre_releases_of(&self) -> Option<semver::Version> {
        let (lo, hi) = (self.lo.as_ref()?, self.hi.as_ref()?);
        let release = semver::Version::new(lo.major, lo.minor, lo.patch);
        (!lo.pre.is_empty() && hi <= &release).then_some(release)
    }

    /// No version at all (a lower bound past the largest version).
    fn nothing() -> VersionRange {
        let max = semver::Version::new(u64::MAX, u64::MAX, u64::MAX);
        VersionRange {
            lo: Some(max.clone()),
            hi: Some(max),
        }
    }

    fn from(lo: Option<semver::Version>) -> VersionRange {
        match lo {
            Some(lo) => VersionRange {
                lo: Some(lo),
                hi: None,
            },
            None => VersionRange::nothing(),
        }
    }

    fn until(hi: Option<semver::Version>) -> VersionRange {
        VersionRange { lo: None, hi }
    }

    fn between(lo: semver::Version, hi: Option<semver::Version>) -> VersionRange {
        VersionRange { lo: Some(lo), hi }
    }
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.lo, &self.hi) {
            (None, None) => write!(f, "*"),
            (Some(lo), None) => write!(f, ">={lo}"),
            (None, Some(hi)) => write!(f, "<{hi}"),
            (Some(lo), Some(hi)) => write!(f, ">={lo}, <{hi}"),
        }
    }
}

/// The first version of `major.minor.patch`, pre-releases included (`major.minor.patch-0`).
fn first_of(major: u64, minor: u64, patch: u64) -> semver::Version {
    semver::Version {
        major,
        minor,
        patch,
        pre: semver::Prerelease::new("0").expect("`0` is a valid pre-release"),
        build: semver::BuildMetadata::EMPTY,
    }
}

/// The next version after `v` in semver order: nothing sorts strictly between the two.
/// `None` when there is none (a component at `u64::MAX`).
fn successor(v: &semver::Version) -> Option<semver::Version> {
    if v.pre.is_empty() {
        return Some(first_of(v.major, v.minor, v.patch.checked_add(1)?));
    }
    Some(semver::Version {
        pre: semver::Prerelease::new(&format!("{}.0", v.pre)).ok()?,
        build: semver::BuildMetadata::EMPTY,
        ..v.clone()
    })
}

/// The versions one comparator admits, pre-releases included by their semver order.
fn comparator_range(c: &semver::Comparator) -> std::result::Result<VersionRange, String> {
    use semver::Op;
    // A complete version (`1.2.3`, `1.2.3-beta`), or for a partial one (`1`, `1.2`) the first
    // version of that line and the first version after it.
    let full = match (c.minor, c.patch) {
        (Some(minor), Some(patch)) => Some(semver::Version {
            major: c.major,
            minor,
            patch,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    };
    let line_start = first_of(c.major, c.minor.unwrap_or(0), 0);
    let line_end = match c.minor {
        Some(m) => m.checked_add(1).map(|m| first_of(c.major, m, 0)),
        None => c.major.checked_add(1).map(|m| first_of(m, 0, 0)),
    };
    let line = VersionRange::between(line_start.clone(), line_end.clone());
    Ok(match (c.op, full) {
        (Op::Exact, Some(v)) => {
            let next = successor(&v);
            VersionRange::between(v, next)
        }
        (Op::Exact | Op::Wildcard, None) | (Op::Tilde, None) => line,
        (Op::Greater, Some(v)) => VersionRange::from(successor(&v)),
        (Op::Greater, None) => VersionRange::from(line_end),
        (Op::GreaterEq, Some(v)) => VersionRange::from(Some(v)),
        (Op::GreaterEq, None) => VersionRange::from(Some(line_start)),
        (Op::Less, Some(v)) => VersionRange::until(Some(v)),
        (Op::Less, None) => VersionRange::until(Some(line_start)),
        (Op::LessEq, Some(v)) => VersionRange::until(successor(&v)),
        (Op::LessEq, None) => VersionRange::until(line_end),
        (Op::Tilde, Some(v)) => {
            let end = v.minor.checked_add(1).map(|m| first_of(v.major, m, 0));
            VersionRange::between(v, end)
        }
        (Op::Caret, full) => {
            let minor = c.minor.unwrap_or(0);
            let end = if c.major > 0 {
                c.major.checked_add(1).map(|m| first_of(m, 0, 0))
            } else if c.minor.is_none() {
                Some(first_of(1, 0, 0))
            } else if minor > 0 {
                minor.checked_add(1).map(|m| first_of(0, m, 0))
            } else {
                match c.patch {
                    None => Some(first_of(0, 1, 0)),
                    Some(p) => p.checked_add(1).map(|p| first_of(0, 0, p)),
                }
            };
            VersionRange::between(full.unwrap_or(line_start), end)
        }
        (op, _) => return Err(format!("the operator {op:?} in `{c}` is not supported")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_error(text: &str) -> ConfigError {
        match Config::parse(text, Path::new("site/kbrel.toml")) {
            Err(Error::Config(e)) => *e,
            other => panic!("want a configuration error, got {other:?}"),
        }
    }

    /// A configuration error says which file, key, value and line, as data, beside the message.
    #[test]
    fn configuration_errors_name_file_key_value_and_line_as_data() {
        let e = config_error("[package]\nname = \"x\"\n[content]\nlanguages = [\"en\", \"z h\"]\n");
        assert_eq!(e.file(), Path::new("site/kbrel.toml"));
        assert_eq!(e.key(), Some("content.languages[1]"));
        assert_eq!(e.value_at_fault(), Some("z h"));
        assert_eq!(e.line(), None);
        assert_eq!(
            e.to_string(),
            "invalid configuration in `site/kbrel.toml`: content.languages[1] `z h` is not a language code"
        );
        let e = config_error("[package]\nname = \"x\"\n[registry]\ngzip_level = 12\n");
        assert_eq!(e.key(), Some("registry.gzip_level"));
        assert_eq!(e.value_at_fault(), Some("12"));
        assert_eq!(e.message(), "registry.gzip_level 12 is out of range 0..=9");
        let e = config_error("[package]\nname = \"x\"\n\n[content]\nlanguage = [\"en\"]\n");
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
        assert_eq!(e.line(), Some(5), "{e}");
        assert_eq!(e.key(), None);
        assert!(e.message().contains("unknown field `language`"), "{e}");
    }

    /// `[package] files` must cover what the tarball holds; each refusal names the field.
    #[test]
    fn package_files_must_cover_the_tarball() {
        let parse = |files: &str| {
            Config::parse(
                &format!("[package]\nname = \"x\"\nfiles = {files}\n"),
                Path::new("kbrel.toml"),
            )
            .map(|c| c.package.files)
            .map_err(|e| e.to_string())
        };
        for ok in [
            r#"["dist", "docs", "manifest.json"]"#,
            r#"["./dist/", "docs/**", "*.json", "LICENSE"]"#,
            r#"["dist/*", "docs/*", "manifest.json", "CHANGELOG.md"]"#,
            r#"["*"]"#,
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        assert_eq!(
            parse(r#"["docs", "dist", "manifest.json", "LICENSE"]"#).unwrap(),
            ["docs", "dist", "manifest.json", "LICENSE"]
        );
        for (bad, says) in [
            (r#"["dist", "docs"]"#, "does not cover `manifest.json`"),
            (
                r#"["dist/esm", "docs", "manifest.json"]"#,
                "`dist/iife/en.js`",
            ),
            (
                r#"["dist/**/*.js", "docs", "manifest.json"]"#,
                "list `dist`",
            ),
            (
                r#"["dist", "docs/**/*.md", "manifest.json"]"#,
                "`docs/en/any/file`",
            ),
            (
                r#"["dist", "docs", "manifest.json", "!docs/zh"]"#,
                "package.files[3] `!docs/zh` is an exclusion",
            ),
            (
                r#"["dist", "docs", "../manifest.json"]"#,
                "package.files[2] `../manifest.json` climbs out",
            ),
            (
                r#"["/dist", "docs", "manifest.json"]"#,
                "package.files[0] `/dist` must be a path relative",
            ),
            (
                r#"["dist", "", "manifest.json"]"#,
                "package.files[1] `` is empty",
            ),
            (
                r#"["dist", "docs", "manifest.json", "a[b"]"#,
                "package.files[3] `a[b`",
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

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

#[cfg(test)]
mod history_tests {
    use super::*;

    fn parse(history: &str) -> Result<Config> {
        Config::parse(
            &format!("[package]\nname = \"x\"\n[content]\nroot = \"content\"\n{history}"),
            Path::new("kbrel.toml"),
        )
    }

    fn err(history: &str) -> String {
        parse(history).unwrap_err().to_string()
    }

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    const TWO: &str = "[[content.history]]\nversions = \">=1.0.0, <1.2.0\"\nroot = \"docs\"\n\n[[content.history]]\nversions = \"<1.0.0\"\nroot = \"old/kb\"\n";

    #[test]
    fn history_picks_the_root_by_version() {
        let cfg = parse(TWO).unwrap();
        assert_eq!(cfg.content.history.len(), 2);
        assert_eq!(cfg.content.history[1].root, PathBuf::from("old/kb"));
        let root = |s: &str| {
            let (p, i) = cfg.root_for(Some(&v(s))).unwrap();
            (p.to_str().unwrap().to_string(), i)
        };
        // The first matching entry: the ranges may not overlap, so there is one at most.
        assert_eq!(root("1.1.9"), ("docs".into(), Some(0)));
        assert_eq!(root("1.0.0"), ("docs".into(), Some(0)));
        assert_eq!(root("0.2.0"), ("old/kb".into(), Some(1)));
        assert_eq!(root("1.0.0-rc.1"), ("old/kb".into(), Some(1)));
        assert_eq!(root("1.2.0"), ("content".into(), None));
        assert_eq!(root("2.0.0"), ("content".into(), None));
        // Pre-releases by semver order: 1.2.0-beta.1 comes before 1.2.0.
        assert_eq!(root("1.2.0-beta.1"), ("docs".into(), Some(0)));
        assert_eq!(root("1.2.1-rc.1"), ("content".into(), None));
        // No version (a branch or commit): the current root.
        assert_eq!(cfg.root_for(None).unwrap(), (Path::new("content"), None));
        // No history: always the current root.
        let plain = parse("").unwrap();
        assert!(plain.content.history.is_empty());
        assert_eq!(
            plain.root_for(Some(&v("0.1.0"))).unwrap(),
            (Path::new("content"), None)
        );
    }

    #[test]
    fn history_ranges_that_do_not_overlap_are_accepted() {
        let cfg = parse(
            "[[content.history]]\nversions = \"<1.0.0-0\"\nroot = \"a\"\n[[content.history]]\nversions = \"~1.0\"\nroot = \"b\"\n[[content.history]]\nversions = \"=1.1.0\"\nroot = \"c\"\n[[content.history]]\nversions = \">1.1.0, <1.2\"\nroot = \"d\"\n",
        )
        .unwrap();
        let root = |s: &str| cfg.root_for(Some(&v(s))).unwrap().1;
        assert_eq!(root("0.9.9"), Some(0));
        assert_eq!(root("1.0.0-rc.1"), Some(1));
        assert_eq!(root("1.0.7"), Some(1));
        assert_eq!(root("1.0.99-rc.1"), Some(1));
        assert_eq!(
            root("1.1.0-rc.1"),
            None,
            "~1.0 ends at 1.1.0-0 and =1.1.0 holds 1.1.0 only"
        );
        assert_eq!(root("1.1.0"), Some(2));
        assert_eq!(root("1.1.1"), Some(3));
        assert_eq!(root("1.2.0-alpha"), None, "<1.2 ends at 1.2.0-0");
        assert_eq!(root("1.2.0"), None);
    }

    #[test]
    fn history_unparseable_range_names_the_field_and_value() {
        let e = err("[[content.history]]\nversions = \"<1.x.0\"\nroot = \"docs\"\n");
        assert!(e.contains("content.history[0].versions `<1.x.0`"), "{e}");
        assert!(e.contains("not a semver range"), "{e}");
        let e = err(
            "[[content.history]]\nversions = \"<1.2.0\"\nroot = \"docs\"\n[[content.history]]\nversions = \"1.2.0 || 2\"\nroot = \"x\"\n",
        );
        assert!(
            e.contains("content.history[1].versions `1.2.0 || 2`"),
            "{e}"
        );
        let e = err("[[content.history]]\nversions = \"\"\nroot = \"docs\"\n");
        assert!(e.contains("content.history[0].versions ``"), "{e}");
    }

    #[test]
    fn history_overlapping_ranges_are_refused_naming_both() {
        let e = err(
            "[[content.history]]\nversions = \"<1.2.0\"\nroot = \"docs\"\n[[content.history]]\nversions = \"^1.1\"\nroot = \"x\"\n",
        );
        assert!(
            e.contains(
                "content.history[1].versions `^1.1` overlaps content.history[0].versions `<1.2.0`"
            ),
            "{e}"
        );
        assert!(e.contains("both match >=1.1.0-0, <1.2.0"), "{e}");
        // Touching ends do not overlap; a shared pre-release does.
        parse("[[content.history]]\nversions = \"<1.2.0\"\nroot = \"a\"\n[[content.history]]\nversions = \">=1.2.0, <2\"\nroot = \"b\"\n").unwrap();
        let e = err(
            "[[content.history]]\nversions = \"<=1.2.0\"\nroot = \"a\"\n[[content.history]]\nversions = \">=1.2.0-rc.1, <2\"\nroot = \"b\"\n",
        );
        assert!(e.contains("overlaps"), "{e}");
        let e = err(
            "[[content.history]]\nversions = \"*\"\nroot = \"a\"\n[[content.history]]\nversions = \"=0.0.1\"\nroot = \"b\"\n",
        );
        assert!(e.contains("both match >=0.0.1, <0.0.2-0"), "{e}");
        // Pre-releases sort before their release: `<1.0.0` holds 1.0.0-rc.1, and so does `~1.0`.
        let e = err(
            "[[content.history]]\nversions = \"<1.0.0\"\nroot = \"a\"\n[[content.history]]\nversions = \"~1.0\"\nroot = \"b\"\n",
        );
        assert!(e.contains("only pre-releases of 1.0.0"), "{e}");
        assert!(e.contains("`<1.0.0-0`"), "{e}");
    }

    #[test]
    fn history_wrong_types_missing_and_unknown_fields_are_named() {
        let e = err("[[content.history]]\nversions = 1\nroot = \"docs\"\n");
        assert!(
            e.contains("versions = 1") && e.contains("expected a string"),
            "{e}"
        );
        let e = err("[[content.history]]\nversions = \"<1.0.0\"\nroot = 3\n");
        assert!(e.contains("root = 3") && e.contains("invalid type"), "{e}");
        let e = err("[[content.history]]\nversions = \"<1.0.0\"\n");
        assert!(e.contains("missing field `root`"), "{e}");
        let e = err("[[content.history]]\nroot = \"docs\"\n");
        assert!(e.contains("missing field `versions`"), "{e}");
        let e = err("[[content.history]]\nversions = \"<1.0.0\"\nroot = \"docs\"\nrange = \"x\"\n");
        assert!(e.contains("unknown field `range`"), "{e}");
        let e = err("[content.history]\nversions = \"<1.0.0\"\nroot = \"docs\"\n");
        assert!(e.contains("[[content.history]]"), "{e}");
        let e = err("[[content.history]]\nversions = \"<1.0.0\"\nroot = \"\"\n");
        assert!(e.contains("content.history[0].root is empty"), "{e}");
        let e = err("[[content.history]]\nversions = \">2.0.0, <1.0.0\"\nroot = \"docs\"\n");
        assert!(
            e.contains("content.history[0].versions `>2.0.0, <1.0.0` matches no version"),
            "{e}"
        );
    }

    #[test]
    fn version_ranges_follow_semver_order_with_pre_releases() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "<1.2.0",
                &["0.0.0", "1.1.99", "1.2.0-beta.1"],
                &["1.2.0", "1.2.1"],
            ),
            ("<1.2", &["1.1.99"], &["1.2.0-alpha", "1.2.0"]),
            (
                "<=1.2",
                &["1.2.9", "1.2.0-alpha"],
                &["1.3.0-alpha", "1.3.0"],
            ),
            ("<=1.2.0", &["1.2.0"], &["1.2.1-0", "1.2.1"]),
            (">1.2.0", &["1.2.1-0", "1.2.1"], &["1.2.0"]),
            (">1.2", &["1.3.0-alpha", "2.0.0"], &["1.2.9"]),
            (">=1.2.0", &["1.2.0"], &["1.2.0-rc.1"]),
            (
                ">1.2.0-rc.1",
                &["1.2.0-rc.1.0", "1.2.0-rc.2", "1.2.0"],
                &["1.2.0-rc.1"],
            ),
            ("=1.2.0", &["1.2.0"], &["1.2.0-rc.1", "1.2.1-0"]),
            ("=1.2", &["1.2.0-rc.1", "1.2.7"], &["1.1.0", "1.3.0-0"]),
            ("1.2.*", &["1.2.0-0", "1.2.7"], &["1.3.0-0"]),
            ("1.*", &["1.0.0", "1.9.0"], &["2.0.0-rc.1", "0.9.0"]),
            ("*", &["0.0.0-0", "99.0.0"], &[]),
            ("~1.2.3", &["1.2.3", "1.2.9"], &["1.2.3-rc.1", "1.3.0-0"]),
            ("~1", &["1.0.0-0", "1.9.9"], &["2.0.0-0"]),
            ("^1.2.3", &["1.2.3", "1.9.0"], &["1.2.2", "2.0.0-rc.1"]),
            ("1.2.3", &["1.2.3", "1.9.0"], &["2.0.0-0"]),
            ("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0-0"]),
            ("^0.0.3", &["0.0.3"], &["0.0.4-0", "0.0.2"]),
            ("^0.0", &["0.0.0", "0.0.9"], &["0.1.0-0"]),
            ("^0", &["0.0.0", "0.9.9"], &["1.0.0-0"]),
            (
                ">=0.1.0, <0.3.0",
                &["0.1.0", "0.2.9", "0.3.0-rc.1"],
                &["0.0.9", "0.3.0"],
            ),
        ];
        for (req, yes, no) in cases {
            let r = VersionRange::parse(req).unwrap();
            for s in *yes {
                assert!(r.contains(&v(s)), "{req} ({r}) should hold {s}");
            }
            for s in *no {
                assert!(!r.contains(&v(s)), "{req} ({r}) should not hold {s}");
            }
            // Whatever Cargo's rule matches, this reading matches too.
            let cargo = semver::VersionReq::parse(req).unwrap();
            for s in yes.iter().chain(no.iter()) {
                if cargo.matches(&v(s)) {
                    assert!(r.contains(&v(s)), "{req}: Cargo matches {s}");
                }
            }
        }
        assert!(VersionRange::parse(">1.0.0, <1.0.1-0").unwrap().is_empty());
        assert!(!VersionRange::parse(">1.0.0, <=1.0.1-0").unwrap().is_empty());
        let max = format!(">{0}.{0}.{0}", u64::MAX);
        assert!(VersionRange::parse(&max).unwrap().is_empty());
        assert!(
            VersionRange::parse(&format!("^{}", u64::MAX))
                .unwrap()
                .contains(&v(&format!("{}.5.0", u64::MAX)))
        );
    }
}

/// `p` with `.` dropped and `..` applied lexically (no filesystem access); a path climbing
/// above its start keeps its leading `..`.
fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            c => out.push(c),
        }
    }
    out.iter().collect()
}

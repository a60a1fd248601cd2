//! The vocabulary of findings: one problem at one place, with a stable code and a severity.
//! Produced by loading content (`content`, `git`) and by the rules in `lint`; carried by
//! errors and manifests. Pure data, at the ground floor so every layer can speak it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A lint rule. The `KBnnn` code of a rule never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Code {
    /// Front matter missing its closing line, invalid YAML, not a mapping, or a non-string field.
    #[serde(rename = "KB001")]
    FrontMatter,
    /// A required front-matter field is missing or empty.
    #[serde(rename = "KB002")]
    MissingField,
    /// Two documents in one language share an id.
    #[serde(rename = "KB003")]
    DuplicateId,
    /// Two different documents in one language share a bundle key.
    #[serde(rename = "KB004")]
    DuplicateKey,
    /// Two documents in one language share a URL slug.
    #[serde(rename = "KB005")]
    DuplicateSlug,
    /// A document exists in one language but not in another.
    #[serde(rename = "KB006")]
    MissingTranslation,
    /// One bundle key names different documents in different languages.
    #[serde(rename = "KB007")]
    KeyMismatch,
    /// Byte-identical bodies under two ids in one language.
    #[serde(rename = "KB008")]
    DuplicateBody,
    /// A relative link or image points at a file that does not exist.
    #[serde(rename = "KB009")]
    BrokenLink,
    /// An absolute link under the docs base URL names a slug no document declares.
    #[serde(rename = "KB010")]
    UnknownSlug,
    /// An absolute docs link points into another language.
    #[serde(rename = "KB011")]
    CrossLanguageLink,
    /// An HTML block tag is unbalanced or misspelled (`<div>` … `</dev>`).
    #[serde(rename = "KB012")]
    UnbalancedHtml,
    /// The document has no body.
    #[serde(rename = "KB013")]
    EmptyDocument,
    /// The file is not valid UTF-8.
    #[serde(rename = "KB014")]
    NonUtf8,
    /// The document has no front matter (id taken from the path).
    #[serde(rename = "KB015")]
    NoFrontMatter,
    /// A declared bundle key names a document that does not exist.
    #[serde(rename = "KB020")]
    KeyWithoutDocument,
    /// Two declared keys in one language differ only in case.
    #[serde(rename = "KB021")]
    KeyCaseCollision,
    /// A declared key is not a JavaScript identifier (`docs.Key` cannot reach it).
    #[serde(rename = "KB022")]
    KeyNotIdentifier,
    /// An inline `<!-- kbrel-disable… -->` comment that suppresses nothing.
    #[serde(rename = "KB016")]
    UnusedSuppression,
    /// A file or folder name that is not portable (`:`, `\`, control characters, `<>"|?*`,
    /// a reserved Windows name, a trailing dot or space): unusable on some systems.
    #[serde(rename = "KB030")]
    PortableName,
    /// Two file names that are the same under case folding or Unicode normalisation: they
    /// collide on macOS and Windows file systems.
    #[serde(rename = "KB031")]
    NameCollision,
    /// A link or image names a file that exists but is not released (ignored or excluded):
    /// consumers would get a broken link.
    #[serde(rename = "KB050")]
    UnreleasedTarget,
    /// An asset no document links to (outside the declared `[content] assets` folders).
    #[serde(rename = "KB051")]
    UnreferencedAsset,
    /// An asset larger than `[content] max_asset_size`.
    #[serde(rename = "KB052")]
    AssetTooLarge,
    /// An image or asset link that climbs above the content root.
    #[serde(rename = "KB053")]
    AssetOutsideRoot,
    /// An asset that is a symbolic link.
    #[serde(rename = "KB054")]
    SymlinkedAsset,
    /// A binary file (NUL bytes) with a document's extension.
    #[serde(rename = "KB055")]
    BinaryDocument,
    /// A file under the content root that is neither a document, an asset nor excluded.
    #[serde(rename = "KB056")]
    IgnoredFile,
    /// An MDX document that does not parse: a component not closed, closed twice or closed
    /// out of order, a stray `</Tag>`, a broken `{expression}` or attribute.
    #[serde(rename = "KB060")]
    MdxSyntax,
    /// An MDX component the file neither imports nor `[lint] mdx_components` lists.
    #[serde(rename = "KB061")]
    UnknownComponent,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::FrontMatter => "KB001",
            Code::MissingField => "KB002",
            Code::DuplicateId => "KB003",
            Code::DuplicateKey => "KB004",
            Code::DuplicateSlug => "KB005",
            Code::MissingTranslation => "KB006",
            Code::KeyMismatch => "KB007",
            Code::DuplicateBody => "KB008",
            Code::BrokenLink => "KB009",
            Code::UnknownSlug => "KB010",
            Code::CrossLanguageLink => "KB011",
            Code::UnbalancedHtml => "KB012",
            Code::EmptyDocument => "KB013",
            Code::NonUtf8 => "KB014",
            Code::NoFrontMatter => "KB015",
            Code::KeyWithoutDocument => "KB020",
            Code::KeyCaseCollision => "KB021",
            Code::KeyNotIdentifier => "KB022",
            Code::UnusedSuppression => "KB016",
            Code::PortableName => "KB030",
            Code::NameCollision => "KB031",
            Code::UnreleasedTarget => "KB050",
            Code::UnreferencedAsset => "KB051",
            Code::AssetTooLarge => "KB052",
            Code::AssetOutsideRoot => "KB053",
            Code::SymlinkedAsset => "KB054",
            Code::BinaryDocument => "KB055",
            Code::IgnoredFile => "KB056",
            Code::MdxSyntax => "KB060",
            Code::UnknownComponent => "KB061",
        }
    }

    /// Every code, in order.
    pub const ALL: [Code; 30] = [
        Code::FrontMatter,
        Code::MissingField,
        Code::DuplicateId,
        Code::DuplicateKey,
        Code::DuplicateSlug,
        Code::MissingTranslation,
        Code::KeyMismatch,
        Code::DuplicateBody,
        Code::BrokenLink,
        Code::UnknownSlug,
        Code::CrossLanguageLink,
        Code::UnbalancedHtml,
        Code::EmptyDocument,
        Code::NonUtf8,
        Code::NoFrontMatter,
        Code::UnusedSuppression,
        Code::KeyWithoutDocument,
        Code::KeyCaseCollision,
        Code::KeyNotIdentifier,
        Code::PortableName,
        Code::NameCollision,
        Code::UnreleasedTarget,
        Code::UnreferencedAsset,
        Code::AssetTooLarge,
        Code::AssetOutsideRoot,
        Code::SymlinkedAsset,
        Code::BinaryDocument,
        Code::IgnoredFile,
        Code::MdxSyntax,
        Code::UnknownComponent,
    ];

    /// A code as written in `kbrel.toml` or a suppression comment (`KB010`, case-insensitive).
    pub fn parse(s: &str) -> std::result::Result<Code, String> {
        let t = s.trim();
        Code::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                format!(
                    "unknown lint code `{t}` (known: {}–{})",
                    Code::ALL[0],
                    Code::ALL[Code::ALL.len() - 1]
                )
            })
    }

    /// One line saying what the rule finds (SARIF rule descriptions, docs).
    pub fn summary(self) -> &'static str {
        match self {
            Code::FrontMatter => {
                "Front matter is not closed, not valid YAML, not a mapping, or a field is not a string"
            }
            Code::MissingField => "A required front-matter field is missing or empty",
            Code::DuplicateId => "Two documents in one language share an id",
            Code::DuplicateKey => "Two documents in one language share a bundle key",
            Code::DuplicateSlug => "Two documents in one language share a URL slug",
            Code::MissingTranslation => "A document exists in one language but not in another",
            Code::KeyMismatch => "One bundle key names different documents in different languages",
            Code::DuplicateBody => "Byte-identical bodies under two ids in one language",
            Code::BrokenLink => "A relative link or image points at a file that does not exist",
            Code::UnknownSlug => "An absolute docs link names a slug no document declares",
            Code::CrossLanguageLink => "An absolute docs link points into another language",
            Code::UnbalancedHtml => "An HTML tag is unbalanced or misspelled",
            Code::EmptyDocument => "The document has no body",
            Code::NonUtf8 => "The file is not valid UTF-8",
            Code::NoFrontMatter => "The document has no front matter",
            Code::UnusedSuppression => "A kbrel-disable comment suppresses nothing",
            Code::KeyWithoutDocument => {
                "A declared bundle key names a document that does not exist"
            }
            Code::KeyCaseCollision => {
                "Two declared bundle keys in one language differ only in case"
            }
            Code::KeyNotIdentifier => "A declared bundle key is not a JavaScript identifier",
            Code::PortableName => "A file or folder name is not portable",
            Code::NameCollision => {
                "Two file names are the same under case folding or Unicode normalisation"
            }
            Code::UnreleasedTarget => {
                "A link or image names a file that exists but is not released (ignored or excluded)"
            }
            Code::UnreferencedAsset => "An asset no document links to",
            Code::AssetTooLarge => "An asset is larger than `[content] max_asset_size`",
            Code::AssetOutsideRoot => "An image or asset link climbs above the content root",
            Code::SymlinkedAsset => "An asset is a symbolic link",
            Code::BinaryDocument => "A binary file has a document's extension",
            Code::IgnoredFile => {
                "A file under the content root is neither a document, an asset nor excluded"
            }
            Code::MdxSyntax => "An MDX document does not parse (unbalanced components, bad JSX)",
            Code::UnknownComponent => {
                "An MDX component is neither imported nor listed in lint.mdx_components"
            }
        }
    }

    /// Whether a finding means the release could not be packaged or read back (a name that
    /// is not portable, two names that collide): no level, suppression or baseline lowers
    /// it, and `import` refuses the tag.
    pub fn is_fatal(self) -> bool {
        matches!(self, Code::PortableName | Code::NameCollision)
    }

    /// The level a code has when `kbrel.toml` does not set one.
    pub fn default_level(self) -> Level {
        match self {
            Code::MissingTranslation
            | Code::NoFrontMatter
            | Code::UnusedSuppression
            | Code::KeyCaseCollision
            | Code::KeyNotIdentifier
            | Code::UnreferencedAsset
            | Code::IgnoredFile
            | Code::UnknownComponent => Level::Warn,
            _ => Level::Error,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level of a lint code: `error` blocks `publish` (and makes `check` exit 1), `warn` is
/// reported and recorded in the manifest, `allow` drops the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Allow,
    Warn,
    Error,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "allow" => Some(Level::Allow),
            _ => None,
        }
    }
}

/// One problem at one place. Ordered by file, line, code so output is stable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Path relative to the content root: `en/commands/publish.md`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    pub code: Code,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    pub fn error(code: Code, file: &str, line: usize, message: String) -> Finding {
        Finding {
            file: file.to_string(),
            line,
            code,
            severity: Severity::Error,
            message,
        }
    }

    pub fn warning(code: Code, file: &str, line: usize, message: String) -> Finding {
        Finding {
            file: file.to_string(),
            line,
            code,
            severity: Severity::Warning,
            message,
        }
    }
}

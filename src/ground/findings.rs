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
    /// A file or folder name that is not portable (`:`, `\`, control characters, `<>"|?*`,
    /// a reserved Windows name, a trailing dot or space): unusable on some systems.
    #[serde(rename = "KB030")]
    PortableName,
    /// Two file names that are the same under case folding or Unicode normalisation: they
    /// collide on macOS and Windows file systems.
    #[serde(rename = "KB031")]
    NameCollision,
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
            Code::PortableName => "KB030",
            Code::NameCollision => "KB031",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

//! Typed errors with context (the file, field or value at fault) and a hint saying what to do.
//! Nothing here prints; the binary renders the chain once at the edge.

use std::path::PathBuf;

use crate::findings::{Finding, Severity};

/// Every way a kbrel operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A configuration file (`kbrel.toml`, the acks file, a signing key) that cannot be used as
    /// written: which file, key, value and line, as data.
    #[error(transparent)]
    Config(Box<ConfigError>),

    #[error("invalid content: `{}`: {message}", path.display())]
    Content { path: PathBuf, message: String },

    /// A key source (keys file, entry module) that cannot be read as written.
    #[error("invalid bundle keys: `{}`{}: {message}", path.display(), if *line > 0 { format!(" line {line}") } else { String::new() })]
    Keys {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("invalid baseline `{}`: {message}", path.display())]
    Baseline { path: PathBuf, message: String },

    /// `import` met a file it cannot read as text in a release tag.
    #[error("tag {tag}: `{file}` is not UTF-8 and cannot be read as text ({message})")]
    Unreadable {
        tag: String,
        file: String,
        message: String,
    },

    /// The content root chosen for a git revision is not a folder of its tree.
    #[error("{0}")]
    ContentRootMissing(Box<MissingRoot>),

    #[error("invalid version `{value}`: {reason}")]
    InvalidVersion { value: String, reason: String },

    #[error("invalid date `{value}`: {reason}")]
    InvalidDate { value: String, reason: String },

    #[error("{}", lint_failed(.findings, *.baselined))]
    LintFailed {
        /// The findings that block (error level, not in the baseline).
        findings: Vec<Finding>,
        /// Error-level findings the baseline accepts.
        baselined: usize,
    },

    #[error("version {version} is already published with different content")]
    VersionConflict { version: String, detail: String },

    #[error("unknown version or tag `{name}` (known: {known})")]
    UnknownVersion { name: String, known: String },

    #[error("corrupt registry file `{}`: {message}", path.display())]
    CorruptRegistry { path: PathBuf, message: String },

    /// A signing key that cannot be made or read (no randomness, a public key that is not
    /// one), as data.
    #[error(transparent)]
    Key(Box<KeyError>),

    /// The error of a crate above kbrel-core met inside one of core's callbacks (a
    /// `TextSource` reading a registry, a key `Reader` reading git), carried through unchanged:
    /// that crate's `From` takes its own error back out.
    #[error(transparent)]
    Above(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// What is wrong with a configuration file (`kbrel.toml`, the acks file, a signing key), as
/// data: the file, the key and value at fault, the line. `message` is the whole sentence the
/// user reads (it names the key and value itself); the fields say the same for a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The file is not TOML or does not fit the schema (an unknown key, a wrong type): toml's
    /// message, which quotes the line with a caret under the column.
    Syntax {
        file: PathBuf,
        /// The 1-based line toml points at.
        line: Option<usize>,
        message: String,
    },
    /// A key whose value breaks a rule.
    Value {
        file: PathBuf,
        /// The key as written in the file, with its index in an array (`content.languages[1]`,
        /// `lint.overrides[0].paths[2]`, `bundle.globals.en`).
        key: String,
        /// The value at fault, when one value is (not for a missing or empty list).
        value: Option<String>,
        message: String,
    },
    /// The file as a whole is not what it should be (an acks file that is not JSON, a signing key
    /// without its prefix).
    File { file: PathBuf, message: String },
}

impl ConfigError {
    /// A key's value breaking a rule; `message` names them as the user reads it.
    pub fn value(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        value: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError::Value {
            file: file.into(),
            key: key.into(),
            value: value.map(str::to_string),
            message: message.into(),
        }
    }

    /// The file as a whole.
    pub fn file_problem(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ConfigError::File {
            file: file.into(),
            message: message.into(),
        }
    }

    /// The file at fault.
    pub fn file(&self) -> &std::path::Path {
        match self {
            ConfigError::Syntax { file, .. }
            | ConfigError::Value { file, .. }
            | ConfigError::File { file, .. } => file,
        }
    }

    /// The key at fault, when one is.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Value { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The value at fault, when one is.
    pub fn value_at_fault(&self) -> Option<&str> {
        match self {
            ConfigError::Value { value, .. } => value.as_deref(),
            _ => None,
        }
    }

    /// The line at fault, when the parser said.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } => *line,
            _ => None,
        }
    }

    /// The sentence after the file's name.
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Syntax { message, .. }
            | ConfigError::Value { message, .. }
            | ConfigError::File { message, .. } => message,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid configuration in `{}`: {}",
            self.file().display(),
            self.message()
        )
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Box::new(e))
    }
}

/// Why a signing key cannot be made or used, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The operating system gave no random bytes for a new key (`reason` is getrandom's).
    #[error("no randomness available: {reason}")]
    NoRandomness { reason: String },

    /// `value` (as given) is not an `ed25519:<base64>` public key: `reason` says which part
    /// failed (not base64, wrong length, not a valid ed25519 point).
    #[error("invalid public key `{value}`: {reason} (expected ed25519:<base64 of 32 bytes>)")]
    InvalidPublicKey { value: String, reason: &'static str },
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(Box::new(e))
    }
}

/// What [`Error::ContentRootMissing`] knows: which folder was looked for where, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRoot {
    /// The root looked up, relative to the repository root.
    pub root: String,
    /// The revision as it was named (for `import`, the tag).
    pub rev: String,
    /// Its commit id.
    pub commit: String,
    /// The release version the revision was read as, when it is a release tag.
    pub version: Option<String>,
    /// The `[[content.history]]` entry that chose the root: its index and `versions`.
    pub entry: Option<(usize, String)>,
    /// A folder of that tree holding a folder per configured language, relative to the config
    /// file's folder like `content.root`, when there is one.
    pub found: Option<String>,
}

impl std::fmt::Display for MissingRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let MissingRoot {
            root, rev, commit, ..
        } = self;
        let short = &commit[..commit.len().min(7)];
        write!(f, "the content root `{root}`")?;
        if let Some((i, range)) = &self.entry {
            write!(f, " (content.history[{i}], versions `{range}`)")?;
        }
        match self.version {
            Some(_) => write!(f, " does not exist at tag `{rev}` (commit {short})"),
            None => write!(f, " does not exist at `{rev}` ({short})"),
        }
    }
}

fn missing_root_hint(
    rev: &str,
    version: Option<&str>,
    entry: Option<&(usize, String)>,
    found: Option<&str>,
) -> String {
    let there = |sep: &str| match found {
        Some(f) => format!("{sep}at `{rev}` the language folders are in `{f}`"),
        None => String::new(),
    };
    match (version, entry) {
        (Some(v), Some((i, range))) => format!(
            "content.history[{i}] (versions = \"{range}\") chose this folder for {v}: correct that entry's root or range in kbrel.toml{}",
            there("; ")
        ),
        (Some(v), None) => {
            let add = format!(
                "add to kbrel.toml a [[content.history]] entry with versions = \"<={v}\" (widened to every release that had that folder) and root = \"{}\"; see docs: configuration",
                found.unwrap_or("<that folder>")
            );
            match found {
                Some(_) => format!("{}: if the content was there in {v}, {add}", there("")),
                None => format!("if the content folder was elsewhere in {v}, {add}"),
            }
        }
        (None, _) => format!(
            "[[content.history]] picks the folder by version for release tags and for `publish VERSION` only; name the release's tag, or read this revision's folder with --content DIR (--config-from-rev uses kbrel.toml as it was at the revision){}",
            there("; ")
        ),
    }
}

fn count_errors(findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
}

fn lint_failed(findings: &[Finding], baselined: usize) -> String {
    let n = count_errors(findings);
    if baselined == 0 {
        format!("the knowledge base has {n} error(s); publishing is blocked")
    } else {
        format!(
            "the knowledge base has {n} new error(s) not in the baseline ({baselined} baselined); publishing is blocked"
        )
    }
}

impl Error {
    /// The message with its causes (`: `-joined), for reports that keep errors as text.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let s = s.to_string();
            if !out.contains(&s) {
                out.push_str(": ");
                out.push_str(&s);
            }
            source = s_next(source);
        }
        out
    }

    #[doc(hidden)]
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    #[doc(hidden)]
    pub fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::CorruptRegistry {
            path: path.into(),
            message: message.into(),
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::CorruptRegistry { .. } => {
                Some("run `kbrel verify` to see every problem in the registry".into())
            }
            Error::LintFailed { .. } => Some(
                "run `kbrel check` for the full list; to adopt kbrel gradually, set levels in `[lint]` of kbrel.toml, or accept today's errors with `kbrel check --write-baseline` (only new errors block then)"
                    .into(),
            ),
            Error::Baseline { .. } => Some(
                "fix the file, or write it again from the current findings with `kbrel check --write-baseline`".into(),
            ),
            Error::Unreadable { .. } => Some(
                "convert the file to UTF-8 in a new release, or pass --skip-unreadable to import the tag without it (the skip is listed and recorded as a KB014 warning)".into(),
            ),
            Error::VersionConflict { .. } => Some(
                "published versions are immutable: publish the new content under a new version"
                    .into(),
            ),
            Error::InvalidVersion { .. } => {
                Some("use a full semantic version such as 1.3.4 or 2.0.0-beta.1".into())
            }
            Error::Config(_) => Some("see `kbrel --help` and docs: configuration".into()),
            Error::Keys { .. } => Some(
                "fix the key source; `kbrel keys` prints the key map and where each key comes from".into(),
            ),
            Error::ContentRootMissing(m) => Some(missing_root_hint(
                &m.rev,
                m.version.as_deref(),
                m.entry.as_ref(),
                m.found.as_deref(),
            )),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn s_next<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(|e| e.source())
}

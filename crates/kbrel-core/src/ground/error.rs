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

    #[error("invalid configuration in `{}`: {message}", path.display())]
    Config { path: PathBuf, message: String },

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

    /// Where a registry was expected there is none (yet): nothing is corrupt.
    #[error("`{}` is not a registry: {reason}", path.display())]
    NoRegistry { path: PathBuf, reason: String },

    #[error("the registry `{}` is locked by another publish", path.display())]
    Locked { path: PathBuf },

    /// The release is complete and listed in index.json, but a file derived from the index
    /// (static npm packument, signature) could not be updated.
    #[error(
        "{version} is published (index.json lists it, complete), but a derived file was not updated: {cause}"
    )]
    PartlyPublished { version: String, cause: Box<Error> },

    /// An object of a registry in object storage could not be read or written (network,
    /// credentials, a missing bucket): `object` is its full URL.
    #[error("object storage: cannot {action} `{object}`: {message}")]
    Remote {
        action: &'static str,
        object: String,
        message: String,
    },

    /// Another publish changed the registry in object storage first (a conditional write of
    /// `object` failed): nothing this publish wrote is listed.
    #[error(
        "`{object}` was changed by another publish since this one read it ({message}); nothing this publish wrote is listed"
    )]
    RemoteConflict { object: String, message: String },

    #[error("{0}")]
    Usage(String),
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
            Error::NoRegistry { .. } => Some(
                "publish a release into it first (`kbrel publish`), or name the folder a publish wrote (--registry DIR)"
                    .into(),
            ),
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
            Error::Locked { .. } => Some(
                "wait for the other publish to finish; the lock is released when it exits".into(),
            ),
            Error::Config { .. } => Some("see `kbrel --help` and docs: configuration".into()),
            Error::Keys { .. } => Some(
                "fix the key source; `kbrel keys` prints the key map and where each key comes from".into(),
            ),
            Error::ContentRootMissing(m) => Some(missing_root_hint(
                &m.rev,
                m.version.as_deref(),
                m.entry.as_ref(),
                m.found.as_deref(),
            )),
            Error::Remote { .. } => Some(
                "check the URL, the bucket and the credentials (the cloud's usual environment variables, e.g. AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL); `kbrel verify --registry URL` checks what is there".into(),
            ),
            Error::RemoteConflict { .. } => Some(
                "run the publish again (it reads the new index first); `kbrel verify --repair --registry URL` removes what the losing publish left".into(),
            ),
            Error::PartlyPublished { .. } => Some(
                "fix the cause, then re-run the same publish: it finds the version published and rewrites the derived files".into(),
            ),
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

//! kbrel's error: kbrel-core's [`CoreError`] (the content, the configuration, the formats)
//! plus what only a registry, a bucket and the operations over them can say. The layers meet
//! through `From`: a core error becomes [`Error::Core`] with `?`, its message, causes and hint
//! unchanged. Nothing here prints; the binary renders the chain once at the edge.

use std::path::PathBuf;

pub use kbrel_core::error::{ConfigError, Error as CoreError, KeyError, MissingRoot};
use kbrel_core::findings::{Finding, Severity};

/// Every way a kbrel operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What kbrel-core says (content, configuration, formats, versions, the lint gate).
    #[error(transparent)]
    Core(CoreError),

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

    /// `publish` refused: which check, as data.
    #[error(transparent)]
    Publish(Box<PublishError>),

    /// `push` refused or failed against an npm registry or a registry in object storage,
    /// as data.
    #[error(transparent)]
    Push(Box<PushError>),

    /// A registry location or its credentials are not usable, or it holds another package,
    /// as data.
    #[error(transparent)]
    RemoteRefused(Box<RemoteError>),

    /// A git repository could not be read, or a path or tag in it refused, as data.
    #[error(transparent)]
    Git(Box<GitError>),

    /// A package could not be built (a format, a tar header, a chunk that does not read
    /// back), as data.
    #[error(transparent)]
    Package(Box<PackageError>),

    /// `import` refused a release tag, as data.
    #[error(transparent)]
    Import(Box<ImportError>),

    /// `init` found nothing to configure or will not write, as data.
    #[error(transparent)]
    Init(Box<InitError>),

    /// `pack --out` names a folder it will not write into, as data.
    #[error(transparent)]
    Pack(Box<PackError>),

    /// `verify --repair` refused to touch the registry, as data.
    #[error(transparent)]
    Verify(Box<VerifyError>),
}

/// Why `import` refused a release tag, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Two release tags read as one `version` but point at different commits.
    #[error(
        "tags `{first}` and `{second}` both name version {version} but point at different commits"
    )]
    TagsShareVersion {
        version: semver::Version,
        first: String,
        first_commit: String,
        second: String,
        second_commit: String,
    },

    /// `tag` failed the lint gate (`--lint-gate`) or holds names no release can carry (fatal
    /// findings): `findings` are the blocking ones, the first error named in the message.
    #[error("{}", tag_blocked(.tag, .findings))]
    TagBlocked { tag: String, findings: Vec<Finding> },
}

fn tag_blocked(tag: &str, findings: &[Finding]) -> String {
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let first = errors.first();
    format!(
        "tag {tag} {} ({} error(s), first: {}:{} {})",
        if findings.iter().all(|f| f.code.is_fatal()) {
            "cannot be released as it is: its file names could not be unpacked everywhere or read back"
        } else {
            "does not pass `kbrel check` with --lint-gate (without it each tag is imported with its findings recorded as warnings)"
        },
        errors.len(),
        first.map(|f| f.file.as_str()).unwrap_or(""),
        first.map(|f| f.line).unwrap_or(0),
        first.map(|f| f.message.as_str()).unwrap_or(""),
    )
}

/// Why `init` found nothing to configure or will not write, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// No documentation layout init recognises in `dir`.
    #[error(
        "found no documentation to configure in {}: kbrel init recognises a Docusaurus site (docusaurus.config.*, docs/, i18n/<lang>/docusaurus-plugin-content-docs/current/), a Mintlify site (docs.json or mint.json with <lang>/ folders), a Starlight site (src/content/docs/) and one folder per language (content/<lang>/, docs/<lang>/ or <lang>/ holding .md or .mdx files)",
        dir.display()
    )]
    NothingToConfigure { dir: PathBuf },

    /// The configuration init proposed for `file` does not parse (a bug): `reason` is the
    /// parser's message.
    #[error(
        "kbrel init produced a configuration that does not parse (a bug; please report it): {reason}"
    )]
    ProposalInvalid { file: PathBuf, reason: String },

    /// `file` exists and --force was not given.
    #[error(
        "{} already exists; kbrel init does not replace it (pass --force to, or --dry-run to see the proposal)",
        file.display()
    )]
    ConfigExists { file: PathBuf },
}

/// Why `pack --out` refused its folder, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// `out` is a folder with something in it.
    #[error("--out `{}` exists and is not empty; give a new or empty folder", out.display())]
    OutNotEmpty { out: PathBuf },

    /// `out` exists and is not a folder.
    #[error("--out `{}` exists and is not a folder", out.display())]
    OutNotAFolder { out: PathBuf },
}

/// Why `verify --repair` refused to remove anything, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `registry` is not recognisably this project's: `reason` is the first problem found
    /// (or that index.json is unreadable).
    #[error(
        "refusing to repair {}: it is not recognisably this project's registry ({reason}); nothing was removed",
        registry.display()
    )]
    NotThisRegistry { registry: PathBuf, reason: String },

    /// `registry`'s index.json changed between the check and taking the lock.
    #[error(
        "refusing to repair {}: its index.json changed while waiting for the lock; nothing was removed",
        registry.display()
    )]
    IndexChanged { registry: PathBuf },
}

/// Why a package could not be built, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// `format` is not one this build writes (1 to `newest`).
    #[error("package format {format} is not one of 1..={newest}")]
    UnknownFormat { format: u32, newest: u32 },

    /// The tar header for `path` could not be written (`reason` is the tar crate's).
    #[error("tar header for `{path}`: {reason}")]
    TarHeader { path: String, reason: String },

    /// A compressed chunk did not read back as the bytes it was made of.
    #[error(
        "refusing to write the tarball: {detail} (a bug or a memory fault; nothing was published)"
    )]
    ChunkReadBack { detail: String },
}

/// Why reading (or tagging) a git repository failed, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// libgit2 failed on `what` (a revision, a path at a revision, an asset...).
    #[error("{what}: {message}")]
    Git { what: String, message: String },

    /// The repository at `repo` (its git folder) could not be opened.
    #[error("open `{}`: {message}", repo.display())]
    Open { repo: PathBuf, message: String },

    /// A path outside the work tree of `repo`.
    #[error("`{}` is outside the repository `{}`", path.display(), repo.display())]
    OutsideRepository { path: PathBuf, repo: PathBuf },

    /// A path outside the bare repository `repo`.
    #[error("`{}` is outside the bare repository `{}`", path.display(), repo.display())]
    OutsideBareRepository { path: PathBuf, repo: PathBuf },

    /// A path git cannot name (not UTF-8).
    #[error("`{}` is not valid UTF-8", path.display())]
    PathNotUtf8 { path: PathBuf },

    /// `tag` exists on another commit (`existing`, full id) than `commit`; shown by 12 digits.
    #[error(
        "tag `{tag}` already exists on commit {} (not {}); refusing to move it",
        &existing[..12.min(existing.len())],
        &commit[..12.min(commit.len())]
    )]
    TagExists {
        tag: String,
        existing: String,
        commit: String,
    },

    /// The content root (relative to the project) is outside the repository.
    #[error("the content root `{root}` is outside the repository")]
    RootOutside { root: String },
}

/// Why `push` refused or failed, as data (the messages are what the user reads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The npm registry at `url` could not be reached.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },

    /// The npm registry's packument at `url` is not JSON.
    #[error("{url} answered with invalid JSON: {message}")]
    InvalidJson { url: String, message: String },

    /// Pushing `version` without --tag would move the registry's `latest` (`their_latest`)
    /// back.
    #[error(
        "cannot implicitly apply the `latest` tag: {base} has {name}@{their_latest} as latest, higher than {version}; \
         pass --tag <name> for this older release (or --tag latest to really move latest back)"
    )]
    LatestIsHigher {
        base: String,
        name: String,
        their_latest: semver::Version,
        version: semver::Version,
    },

    /// `GET url` answered with an unexpected status (`reason` is the registry's own words).
    #[error("GET {url} failed: {reason}")]
    GetFailed { url: String, reason: String },

    /// The publish document could not be serialized (a bug, never the user's input).
    #[error("{reason}")]
    Payload { reason: String },

    /// The npm registry refused the PUT of `name@version`.
    #[error("the registry refused {name}@{version}: {reason}")]
    Refused {
        name: String,
        version: semver::Version,
        reason: String,
    },

    /// `version` was diffed against `previous`, which the target registry at `url` lacks.
    #[error(
        "{version} was diffed against {previous}, which {url} does not list: push {previous} first"
    )]
    PreviousNotListed {
        version: semver::Version,
        previous: String,
        url: String,
    },

    /// The target index is signed (`sig_url`) and no --sign-key was given.
    #[error(
        "{sig_url}: the index there is signed, and adding {version} changes it: pass \
         --sign-key KEY (the key that signed it) to sign the merged index again"
    )]
    SignKeyNeeded { sig_url: String, version: String },

    /// --sign-key (`ours`) is neither the key that signed the target index nor its endorsed
    /// next key.
    #[error(
        "{sig_url}: the index there is signed by {theirs}{}, and --sign-key is {ours}: its \
         consumers would refuse an index signed by it (pass that key)",
        next.as_ref().map(|n| format!(" (endorsing {n} as the next key)")).unwrap_or_default()
    )]
    WrongSignKey {
        sig_url: String,
        theirs: String,
        next: Option<String>,
        ours: String,
    },
}

/// Why a registry location (a `--registry` URL, its cloud credentials, what it holds) is
/// not usable, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// `file://` followed by something other than an absolute path.
    #[error("`{url}`: a file:// registry URL takes an absolute path (file:///path/to/releases)")]
    FileUrlNotAbsolute { url: String },

    /// A URL with a scheme kbrel does not store registries in.
    #[error("`{url}`: registry URLs are s3://, gs://, az:// or file:// (not {scheme}://)")]
    UnsupportedScheme { url: String, scheme: String },

    /// The registry at `url` holds another package than the one pushed or published.
    #[error("`{url}` holds package `{theirs}`, not `{ours}`")]
    OtherPackage {
        url: String,
        theirs: String,
        ours: String,
    },

    /// AWS_PROFILE names a profile in neither AWS file (`files` as shown: a quoted path or
    /// "(no home folder)"; `known` the profiles there).
    #[error(
        "AWS profile `{profile}` (AWS_PROFILE) is in neither {} nor {} (profiles there: {})",
        files.0, files.1,
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownAwsProfile {
        profile: String,
        files: (String, String),
        known: Vec<String>,
    },

    /// The profile sets only one of the key id and the secret.
    #[error(
        "AWS profile `{profile}` in `{}` has only one of aws_access_key_id and aws_secret_access_key",
        file.display()
    )]
    HalfAwsKey { profile: String, file: PathBuf },

    /// The profile gets credentials through `key` (SSO, a process...), which kbrel does not
    /// read.
    #[error(
        "AWS profile `{profile}` in `{}` gets its credentials through `{key}`, which kbrel does not read; \
         export plain credentials instead (`eval \"$(aws configure export-credentials --profile {profile} --format env)\"`)",
        file.display()
    )]
    UnsupportedAwsCredentials {
        profile: String,
        file: PathBuf,
        key: String,
    },

    /// An AWS config or credentials file is not UTF-8.
    #[error("`{}` is not UTF-8 text", file.display())]
    AwsFileNotText { file: PathBuf },

    /// An AWS config or credentials file does not parse as INI (`reason` says where).
    #[error("`{}`: {reason}", file.display())]
    AwsFileInvalid { file: PathBuf, reason: String },
}

/// Why `publish` refused, as data (the messages are what the user reads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// `resolve_version` was asked for `--bump auto`, which needs the diff (`publish` has it).
    #[error("--bump auto needs the diff; use publish()")]
    BumpAutoNeedsDiff,

    /// `--bump auto` found no change since the latest release.
    #[error("--bump auto: nothing changed since {current}; there is nothing to publish")]
    NothingChanged { current: semver::Version },

    /// `--require-translations`: documents missing or outdated in a translation, as
    /// `<lang>/<path> <state>` (the first five are named).
    #[error("--require-translations: {}", first_five(.documents))]
    MissingTranslations { documents: Vec<String> },

    /// The dist-tag is not a name (empty, a version, or with `/` or a space).
    #[error(
        "invalid dist-tag `{tag}`: a tag is a name such as latest, next or beta, not a version"
    )]
    InvalidDistTag { tag: String },

    /// The changelog path names something other than a regular file (`kind` says what).
    #[error(
        "changelog `{}` is {kind}, not a regular file; name a markdown file (--changelog or changelog.path)",
        path.display()
    )]
    ChangelogNotAFile { path: PathBuf, kind: &'static str },

    /// The registry folder is the project root or holds the content root (`place` says which).
    #[error(
        "the registry `{}` is {place}; publish into a folder of its own (registry.dir or --registry); nothing was written",
        dir.display()
    )]
    RegistryPlace { dir: PathBuf, place: &'static str },

    /// A file this publish would write (`file`, relative to the registry) does not read back
    /// as written.
    #[error(
        "refusing to publish {version}: kbrel could not read back the {file} it would write ({reason}); nothing was published"
    )]
    ReadBack {
        version: String,
        file: String,
        reason: String,
    },

    /// The tarball written does not read back as built.
    #[error(
        "refusing to publish {version}: kbrel could not read back the tarball {tarball} it wrote ({reason}); nothing was published"
    )]
    TarballReadBack {
        version: String,
        tarball: String,
        reason: String,
    },

    /// The release's git tag `tag` exists on another commit (`existing`, full id) than the
    /// release's `commit`; shown by 12 digits.
    #[error(
        "git tag `{tag}` already exists on commit {} (this release is commit {}); use another version or --no-tag",
        &existing[..12.min(existing.len())],
        &commit[..12.min(commit.len())]
    )]
    TagTaken {
        tag: String,
        existing: String,
        commit: String,
    },

    /// The package.json this publish built is not JSON (a bug, never the user's input).
    #[error("{reason}")]
    PackageJson { reason: String },
}

fn first_five(documents: &[String]) -> String {
    let more = documents.len().saturating_sub(5);
    format!(
        "{}{}",
        documents[..documents.len().min(5)].join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

impl From<CoreError> for Error {
    /// A core error, or this crate's own error back from a core callback
    /// ([`CoreError::Above`]).
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Above(above) => match above.downcast::<Error>() {
                Ok(own) => *own,
                Err(other) => Error::Core(CoreError::Above(other)),
            },
            e => Error::Core(e),
        }
    }
}

/// Into a core callback's result (a `TextSource` reading the registry): carried whole, taken
/// back out by `From<CoreError>` above.
impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            e => CoreError::Above(Box::new(e)),
        }
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Self {
        Error::Publish(Box::new(e))
    }
}

impl From<PushError> for Error {
    fn from(e: PushError) -> Self {
        Error::Push(Box::new(e))
    }
}

impl From<RemoteError> for Error {
    fn from(e: RemoteError) -> Self {
        Error::RemoteRefused(Box::new(e))
    }
}

impl From<GitError> for Error {
    fn from(e: GitError) -> Self {
        Error::Git(Box::new(e))
    }
}

/// git.rs speaks kbrel-core's error (its readers are core callbacks): a [`GitError`] rides
/// in [`CoreError::Above`] and comes back out as [`Error::Git`].
impl From<GitError> for CoreError {
    fn from(e: GitError) -> Self {
        Error::from(e).into()
    }
}

impl From<PackageError> for Error {
    fn from(e: PackageError) -> Self {
        Error::Package(Box::new(e))
    }
}

impl From<ImportError> for Error {
    fn from(e: ImportError) -> Self {
        Error::Import(Box::new(e))
    }
}

impl From<InitError> for Error {
    fn from(e: InitError) -> Self {
        Error::Init(Box::new(e))
    }
}

impl From<PackError> for Error {
    fn from(e: PackError) -> Self {
        Error::Pack(Box::new(e))
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Verify(Box::new(e))
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Core(e.into())
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Core(e.into())
    }
}

impl Error {
    /// The message with its causes (`: `-joined), for reports that keep errors as text.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        out
    }

    #[doc(hidden)]
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::io(action, path, source).into()
    }

    #[doc(hidden)]
    pub fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        CoreError::corrupt(path, message).into()
    }

    /// kbrel-core's error, when this is one.
    pub fn core(&self) -> Option<&CoreError> {
        match self {
            Error::Core(e) => Some(e),
            _ => None,
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Core(e) => e.hint(),
            Error::NoRegistry { .. } => Some(
                "publish a release into it first (`kbrel publish`), or name the folder a publish wrote (--registry DIR)"
                    .into(),
            ),
            Error::Locked { .. } => Some(
                "wait for the other publish to finish; the lock is released when it exits".into(),
            ),
            Error::Remote { .. } => Some(
                "check the URL, the bucket and the credentials (the cloud's usual environment variables, e.g. AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL); `kbrel verify --registry URL` checks what is there".into(),
            ),
            Error::RemoteConflict { .. } => Some(
                "run the publish again (it reads the new index first); `kbrel verify --repair --registry URL` removes what the losing publish left".into(),
            ),
            Error::PartlyPublished { .. } => Some(
                "fix the cause, then re-run the same publish: it finds the version published and rewrites the derived files".into(),
            ),
            Error::Publish(_)
            | Error::Push(_)
            | Error::RemoteRefused(_)
            | Error::Git(_)
            | Error::Package(_)
            | Error::Import(_)
            | Error::Init(_)
            | Error::Pack(_)
            | Error::Verify(_) => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_their_message_causes_and_hint_through_from() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let core = CoreError::io("read", "a/b", io);
        let (text, chain, hint) = (core.to_string(), core.chain(), core.hint());
        let e: Error = core.into();
        assert_eq!(e.to_string(), text);
        assert_eq!(e.chain(), chain);
        assert_eq!(e.chain(), "cannot read `a/b`: gone");
        assert_eq!(e.hint(), hint);
        let e: Error = CoreError::corrupt("index.json", "bad").into();
        assert_eq!(
            e.hint().as_deref(),
            Some("run `kbrel verify` to see every problem in the registry")
        );
        assert!(matches!(e.core(), Some(CoreError::CorruptRegistry { .. })));
    }

    #[test]
    fn errors_from_core_callbacks_come_back_whole() {
        let e = Error::Locked {
            path: "releases/.lock".into(),
        };
        let (text, hint) = (e.to_string(), e.hint());
        let through: CoreError = e.into();
        assert_eq!(through.to_string(), text);
        let back: Error = through.into();
        assert!(matches!(back, Error::Locked { .. }));
        assert_eq!(back.hint(), hint);
        let core: CoreError = Error::corrupt("x", "y").into();
        assert!(matches!(core, CoreError::CorruptRegistry { .. }));
    }

    #[test]
    fn publish_refusals_are_data_with_the_messages_they_had() {
        let docs: Vec<String> = (0..7).map(|i| format!("zh/{i}.md missing")).collect();
        let e: Error = PublishError::MissingTranslations { documents: docs }.into();
        assert_eq!(
            e.to_string(),
            "--require-translations: zh/0.md missing, zh/1.md missing, zh/2.md missing, zh/3.md missing, zh/4.md missing and 2 more"
        );
        let e = PublishError::MissingTranslations {
            documents: vec!["zh/a.md outdated".into()],
        };
        assert_eq!(e.to_string(), "--require-translations: zh/a.md outdated");
        let e = PublishError::NothingChanged {
            current: semver::Version::new(1, 2, 0),
        };
        assert_eq!(
            e.to_string(),
            "--bump auto: nothing changed since 1.2.0; there is nothing to publish"
        );
        // The binary's tag guard: the tag, where it is and where the release is, as data.
        let e: Error = PublishError::TagTaken {
            tag: "v2.0.0".into(),
            existing: "0123456789abcdef0123".into(),
            commit: "fedcba9876543210fedc".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "git tag `v2.0.0` already exists on commit 0123456789ab (this release is commit fedcba987654); use another version or --no-tag"
        );
        assert!(
            matches!(&e, Error::Publish(p) if matches!(&**p, PublishError::TagTaken { tag, .. } if tag == "v2.0.0"))
        );
    }

    #[test]
    fn push_refusals_are_data_with_the_messages_they_had() {
        let e: Error = PushError::LatestIsHigher {
            base: "http://127.0.0.1:4873".into(),
            name: "kb".into(),
            their_latest: semver::Version::new(1, 2, 0),
            version: semver::Version::new(1, 1, 0),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "cannot implicitly apply the `latest` tag: http://127.0.0.1:4873 has kb@1.2.0 as latest, higher than 1.1.0; \
             pass --tag <name> for this older release (or --tag latest to really move latest back)"
        );
        assert!(
            matches!(&e, Error::Push(p) if matches!(**p, PushError::LatestIsHigher { ref their_latest, .. } if their_latest.minor == 2))
        );
        let e = PushError::WrongSignKey {
            sig_url: "s3://b/index.json.sig".into(),
            theirs: "ed25519:AAA".into(),
            next: Some("ed25519:BBB".into()),
            ours: "ed25519:CCC".into(),
        };
        assert_eq!(
            e.to_string(),
            "s3://b/index.json.sig: the index there is signed by ed25519:AAA (endorsing ed25519:BBB as the next key), \
             and --sign-key is ed25519:CCC: its consumers would refuse an index signed by it (pass that key)"
        );
        let e = PushError::PreviousNotListed {
            version: semver::Version::new(1, 1, 0),
            previous: "1.0.0".into(),
            url: "s3://b/r".into(),
        };
        assert_eq!(
            e.to_string(),
            "1.1.0 was diffed against 1.0.0, which s3://b/r does not list: push 1.0.0 first"
        );
        let e: Error = PushError::Refused {
            name: "kb".into(),
            version: semver::Version::new(1, 0, 0),
            reason: "403 forbidden".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "the registry refused kb@1.0.0: 403 forbidden"
        );
        assert_eq!(e.hint(), None);
    }

    #[test]
    fn remote_refusals_are_data_with_the_messages_they_had() {
        let e: Error = RemoteError::UnknownAwsProfile {
            profile: "ci".into(),
            files: ("`/h/.aws/credentials`".into(), "(no home folder)".into()),
            known: vec![],
        }
        .into();
        assert_eq!(
            e.to_string(),
            "AWS profile `ci` (AWS_PROFILE) is in neither `/h/.aws/credentials` nor (no home folder) (profiles there: none)"
        );
        let e = RemoteError::UnknownAwsProfile {
            profile: "ci".into(),
            files: ("a".into(), "b".into()),
            known: vec!["default".into(), "dev".into()],
        };
        assert!(e.to_string().ends_with("(profiles there: default, dev)"));
        let e = RemoteError::UnsupportedAwsCredentials {
            profile: "sso".into(),
            file: "/h/.aws/config".into(),
            key: "sso_session".into(),
        };
        assert_eq!(
            e.to_string(),
            "AWS profile `sso` in `/h/.aws/config` gets its credentials through `sso_session`, which kbrel does not read; \
             export plain credentials instead (`eval \"$(aws configure export-credentials --profile sso --format env)\"`)"
        );
        let e: Error = RemoteError::OtherPackage {
            url: "s3://b/r".into(),
            theirs: "a".into(),
            ours: "b".into(),
        }
        .into();
        assert_eq!(e.to_string(), "`s3://b/r` holds package `a`, not `b`");
        assert!(
            matches!(&e, Error::RemoteRefused(r) if matches!(&**r, RemoteError::OtherPackage { theirs, .. } if theirs == "a"))
        );
    }

    #[test]
    fn git_refusals_are_data_and_come_back_whole_through_core() {
        let e = GitError::TagExists {
            tag: "v1.0.0".into(),
            existing: "0123456789abcdef0123".into(),
            commit: "fedcba9876543210fedc".into(),
        };
        assert_eq!(
            e.to_string(),
            "tag `v1.0.0` already exists on commit 0123456789ab (not fedcba987654); refusing to move it"
        );
        let e = GitError::OutsideBareRepository {
            path: "/x/en".into(),
            repo: "/r.git".into(),
        };
        assert_eq!(
            e.to_string(),
            "`/x/en` is outside the bare repository `/r.git`"
        );
        // git.rs returns kbrel-core's error; the variant and its fields survive the trip.
        let core: CoreError = GitError::Open {
            repo: "/r/.git".into(),
            message: "gone".into(),
        }
        .into();
        assert_eq!(core.to_string(), "open `/r/.git`: gone");
        let back: Error = core.into();
        assert!(
            matches!(&back, Error::Git(g) if matches!(&**g, GitError::Open { message, .. } if message == "gone"))
        );
        assert_eq!(back.hint(), None);
    }

    #[test]
    fn import_refusals_are_data_with_the_messages_they_had() {
        let e: Error = ImportError::TagsShareVersion {
            version: semver::Version::new(1, 2, 0),
            first: "1.2.0".into(),
            first_commit: "aaaa".into(),
            second: "v1.2.0".into(),
            second_commit: "bbbb".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "tags `1.2.0` and `v1.2.0` both name version 1.2.0 but point at different commits"
        );
        assert!(
            matches!(&e, Error::Import(i) if matches!(&**i, ImportError::TagsShareVersion { second_commit, .. } if second_commit == "bbbb"))
        );
        use kbrel_core::findings::Code;
        let findings = vec![
            Finding::warning(Code::MissingField, "en/a.md", 1, "no title".into()),
            Finding::error(Code::BrokenLink, "en/b.md", 7, "broken link `x.md`".into()),
            Finding::error(Code::DuplicateId, "en/c.md", 1, "duplicate id".into()),
        ];
        let e = ImportError::TagBlocked {
            tag: "v1.1.0".into(),
            findings,
        };
        assert_eq!(
            e.to_string(),
            "tag v1.1.0 does not pass `kbrel check` with --lint-gate (without it each tag is imported with its findings recorded as warnings) \
             (2 error(s), first: en/b.md:7 broken link `x.md`)"
        );
        let e = ImportError::TagBlocked {
            tag: "v1.0.0".into(),
            findings: vec![Finding::error(
                Code::PortableName,
                "en/a:b.md",
                0,
                "not portable".into(),
            )],
        };
        assert_eq!(
            e.to_string(),
            "tag v1.0.0 cannot be released as it is: its file names could not be unpacked everywhere or read back \
             (1 error(s), first: en/a:b.md:0 not portable)"
        );
        assert_eq!(Error::from(e).hint(), None);
    }

    #[test]
    fn init_refusals_are_data_with_the_messages_they_had() {
        let e: Error = InitError::ConfigExists {
            file: "/kb/kbrel.toml".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "/kb/kbrel.toml already exists; kbrel init does not replace it (pass --force to, or --dry-run to see the proposal)"
        );
        assert!(
            matches!(&e, Error::Init(i) if matches!(&**i, InitError::ConfigExists { file } if file.ends_with("kbrel.toml")))
        );
        let e = InitError::NothingToConfigure { dir: "/kb".into() };
        assert!(e.to_string().starts_with(
            "found no documentation to configure in /kb: kbrel init recognises a Docusaurus site"
        ));
        let e = InitError::ProposalInvalid {
            file: "/kb/kbrel.toml".into(),
            reason: "bad".into(),
        };
        assert_eq!(
            e.to_string(),
            "kbrel init produced a configuration that does not parse (a bug; please report it): bad"
        );
    }

    #[test]
    fn pack_refusals_are_data_with_the_messages_they_had() {
        let e: Error = PackError::OutNotEmpty { out: "dist".into() }.into();
        assert_eq!(
            e.to_string(),
            "--out `dist` exists and is not empty; give a new or empty folder"
        );
        assert!(
            matches!(&e, Error::Pack(p) if **p == PackError::OutNotEmpty { out: "dist".into() })
        );
        let e = PackError::OutNotAFolder {
            out: "a.txt".into(),
        };
        assert_eq!(e.to_string(), "--out `a.txt` exists and is not a folder");
    }

    #[test]
    fn verify_refusals_are_data_with_the_messages_they_had() {
        let e: Error = VerifyError::NotThisRegistry {
            registry: "/kb/releases".into(),
            reason: "index.json is unreadable".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "refusing to repair /kb/releases: it is not recognisably this project's registry (index.json is unreadable); nothing was removed"
        );
        assert!(
            matches!(&e, Error::Verify(v) if matches!(&**v, VerifyError::NotThisRegistry { reason, .. } if reason == "index.json is unreadable"))
        );
        let e = VerifyError::IndexChanged {
            registry: "/kb/releases".into(),
        };
        assert_eq!(
            e.to_string(),
            "refusing to repair /kb/releases: its index.json changed while waiting for the lock; nothing was removed"
        );
        // A signing key's refusal is core's, carried whole.
        let e: Error = KeyError::InvalidPublicKey {
            value: "x".into(),
            reason: "not base64",
        }
        .into();
        assert!(matches!(&e, Error::Core(CoreError::Key(_))));
        assert_eq!(
            e.to_string(),
            "invalid public key `x`: not base64 (expected ed25519:<base64 of 32 bytes>)"
        );
    }

    #[test]
    fn package_refusals_are_data_with_the_messages_they_had() {
        let e: Error = PackageError::UnknownFormat {
            format: 9,
            newest: 4,
        }
        .into();
        assert_eq!(e.to_string(), "package format 9 is not one of 1..=4");
        assert!(
            matches!(&e, Error::Package(p) if **p == PackageError::UnknownFormat { format: 9, newest: 4 })
        );
        let e = PackageError::ChunkReadBack {
            detail: "chunk 3 inflates to 10 bytes, not 12".into(),
        };
        assert_eq!(
            e.to_string(),
            "refusing to write the tarball: chunk 3 inflates to 10 bytes, not 12 (a bug or a memory fault; nothing was published)"
        );
        let e = PackageError::TarHeader {
            path: "en/a.md".into(),
            reason: "path too long".into(),
        };
        assert_eq!(e.to_string(), "tar header for `en/a.md`: path too long");
    }
}

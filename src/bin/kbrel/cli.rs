//! Command-line arguments (clap derive). Parsing only validates shapes; anything that needs
//! the environment or the filesystem happens in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  ran fine, and the answer is no (check found errors, diff --exit-code found changes)
  2  error (bad input, bad configuration, I/O); nothing was changed — except when the message
     says a version is published: then re-running the same command completes it";

#[derive(Debug, Parser)]
#[command(
    name = "kbrel",
    version,
    about = "Release a bilingual markdown knowledge base the way npm releases code",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// kbrel.toml to use (default: ./kbrel.toml, else the nearest one in a parent folder)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Content root, overriding content.root (one folder per language)
    #[arg(long, global = true, value_name = "DIR")]
    pub content: Option<PathBuf>,
    /// Registry directory or URL (file://, s3://bucket/prefix, gs://…, az://…), overriding
    /// registry.dir [default: releases/]. A bucket is read through a verified local mirror
    /// ($KBREL_MIRROR_DIR, else ~/.cache/kbrel/mirrors); credentials come from the cloud's
    /// usual AWS_*, GOOGLE_* or AZURE_* environment variables
    #[arg(long, global = true, value_name = "DIR|URL")]
    pub registry: Option<PathBuf>,
    /// Read the content (and, with --config-from-rev, kbrel.toml) at this git revision
    /// (commit, tag or branch) straight from the object database, without a checkout
    /// (`kbrel import --from-git` takes no revision: it reads every release tag.)
    #[arg(long, global = true, value_name = "REV", num_args = 0..=1, default_missing_value = "")]
    pub from_git: Option<String>,
    /// With --from-git: take kbrel.toml from that revision instead of the working tree
    #[arg(long, global = true, requires = "from_git")]
    pub config_from_rev: bool,
    /// Print less (only errors and the requested data)
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a kbrel.toml for an existing repository: layout, languages, pairing, key source
    #[command(
        after_help = "Detects a Docusaurus site (docs/ + i18n/<lang>/docusaurus-plugin-content-docs/current/),
a Mintlify or Starlight site (<lang>/ folders, a default locale at the root) or one folder per
language (content/<lang>/), the languages, how documents pair across them, the key source
(bundler entry modules such as src/en.ts, or keys.json), the front-matter fields every document
has and the MDX components the site provides; writes a commented kbrel.toml and says what
`kbrel check` finds under it. Never replaces an existing kbrel.toml without --force.

Examples:
  kbrel init                       # in the repository's folder
  kbrel init --dry-run             # print the proposal, write nothing
  kbrel init ../website --name @acme/docs
  kbrel init --force               # replace an existing kbrel.toml

Exit codes: 0 written (or printed with --dry-run), 2 error (nothing found to configure, or
kbrel.toml exists without --force; nothing was written)."
    )]
    Init(InitArgs),
    /// Lint the knowledge base: front matter, identities, keys, slugs, links, HTML
    #[command(after_help = "Examples:
  kbrel check
  kbrel check --json | jq '.findings[] | select(.severity == \"error\")'
  kbrel --content ../docs/content check
  kbrel check --write-baseline      # accept today's errors; only new ones fail from now on
  kbrel check --prune-baseline      # drop the entries of findings that were fixed
  kbrel check --format github       # annotations in a GitHub Actions job
  kbrel check --format sarif > kbrel.sarif

Levels per code and path: [lint] in kbrel.toml (KB010 = \"warn\"); inline:
<!-- kbrel-disable-next-line KB012 -->, <!-- kbrel-disable KB010 --> … <!-- kbrel-enable KB010 -->,
<!-- kbrel-disable-file KB006 -->.
Exit codes: 0 no errors (warnings and baselined errors allowed), 1 errors found, 2 could not
check (bad configuration, baseline or suppression comment).")]
    Check(CheckArgs),
    /// Print the effective bundle key map: every key, its document, and where it is declared
    #[command(
        after_help = "Keys come from content.keys_file, [content.keys.<lang>], content.keys_from entry
modules (`import Name from \"<path>.md?raw\"`) and front-matter `key:` fields; a document
without any is bundled under its id. With --from-git REV the key sources are read at REV,
like the documents.

Examples:
  kbrel keys
  kbrel keys --lang zh
  kbrel keys --json | jq '.keys[] | select(.id == null)'   # keys naming missing documents
  kbrel --from-git v1.2.0 keys

Exit codes: 0 every declared key names a document, 1 a key names a missing document, 2 error."
    )]
    Keys(KeysArgs),
    /// Publish the knowledge base as an immutable release into the registry
    #[command(after_help = "Examples:
  kbrel publish 1.3.4
  kbrel publish v2.0.0-beta.1            # leading v is stripped; goes to dist-tag `next`
  kbrel publish --bump minor --dry-run   # show what 1.4.0 would write, write nothing
  kbrel publish 1.2.5 --date 2026-11-25  # reproducible: same content + date = same bytes

The release date comes from --date, else SOURCE_DATE_EPOCH, else the clock.
Exit codes: 0 published (or already published with identical content), 2 error.")]
    Publish(PublishArgs),
    /// Show what changed between two releases (or a release and the working content)
    #[command(
        after_help = "Sides: a published version (1.3.4 or v1.3.4), `latest`, a dist-tag, or `.` for the
working content. Defaults: FROM = latest, TO = `.`.

Examples:
  kbrel diff                          # unpublished changes against latest
  kbrel diff 1.3.3 1.3.4 --stat
  kbrel diff 1.3.3 1.3.4 --patch -U5 --lang zh > zh.patch   # git apply accepts it in content/
  kbrel diff 1.3.3 latest --word --doc commands/publish
  kbrel diff 1.3.3 1.3.4 --json | jq '.summary'
  kbrel diff 1.3.3 1.3.4 --package --name-status            # tarball file by file, like npm diff
  kbrel diff latest . --exit-code --quiet || echo 'unpublished changes'

Exit codes: 0 (no changes, or changes without --exit-code), 1 changes with --exit-code, 2 error."
    )]
    Diff(DiffArgs),
    /// Render the changelog of the registry's releases, or of the changes between two sides
    #[command(after_help = "Examples:
  kbrel changelog                          # every release, newest first (what CHANGELOG.md holds)
  kbrel changelog --from 1.3.3 --to 1.3.4  # one section for the changes between two sides
  kbrel changelog --from latest --to .     # what the next release's section will say
  kbrel changelog --format json > ctx.json # the data; edit it, then:
  kbrel changelog --from-context ctx.json  # render (possibly hand-edited) data to markdown")]
    Changelog(ChangelogArgs),
    /// Suggest the next version from the changes since the highest published version
    #[command(
        after_help = "Rules: a removed or renamed document id, or a changed bundle key, breaks consumers
keyed by it (major); an added document is minor; edits are a patch.

Examples:
  kbrel bump            # e.g. `1.4.0 (minor): added en/integrations/lark.md`
  kbrel bump --json
  kbrel publish --bump auto"
    )]
    Bump(BumpArgs),
    /// Translation status of every document pair: current, outdated, missing, orphaned
    #[command(
        after_help = "A translation is outdated when its source changed (in a release or in the working
content) after the translation was last updated, unless that source text was acknowledged
with `kbrel ack`. Computed from the registry's history; no hand-kept hashes.

Examples:
  kbrel status
  kbrel status --lang zh --diff     # show the source changes each outdated translation lacks
  kbrel status --json
  kbrel status --exit-code          # exit 1 when anything is outdated, missing or orphaned"
    )]
    Status(StatusArgs),
    /// Record that a source edit needs no translation change (e.g. a typo fix)
    #[command(
        after_help = "Stores the current source text's hash in .kbrel/acks.json next to kbrel.toml; commit it.
The ack survives releases and stops applying as soon as the source changes again.

Examples:
  kbrel ack commands/publish            # all translations of the document
  kbrel ack commands/publish --lang zh"
    )]
    Ack(AckArgs),
    /// Rebuild the registry from a repository's semver tags (v1.2.3 or 1.2.3), oldest first
    #[command(
        after_help = "Each tag's tree is read from the object database and published as that version, dated
by the tag (annotated) or its commit, so manifests, diffs and CHANGELOG.md come out as if
every release had been published with kbrel at the time. Tags that are not semver are listed
and skipped. Versions already in the registry are verified: identical → skipped, different → error.

Examples:
  kbrel import --from-git --dry-run
  kbrel import --from-git --tags 'v1.*'
  kbrel import --from-git --repo ../docs --registry ../docs/releases"
    )]
    Import(ImportArgs),
    /// Check a registry completely: index, manifests, blobs, tarballs, diffs, leftovers
    #[command(
        after_help = "Checks that index.json parses and is consistent, every manifest matches its recorded
sha256, every blob hashes to its name, every tarball matches its integrity and unpacks to
exactly its manifest's documents, every stored diff equals the recomputed one, and that no
staging directories or unreferenced files were left by an interrupted publish.

Examples:
  kbrel verify
  kbrel verify path/to/releases --json
  kbrel verify --repair     # remove only provably garbage files, under the publish lock

Exit codes: 0 no problems, 1 problems found (one line each), 2 could not verify."
    )]
    Verify(VerifyArgs),
    /// Serve a registry over HTTP (read-only): registry files and npm's read API
    #[command(
        after_help = "Routes: /index.json, /v/<version>/{manifest,diff,package}.json, /blobs/sha256/<aa>/<rest>,
/<tarball>.tgz, and npm's read API: /<name> (packument; abbreviated with
Accept: application/vnd.npm.install-v1+json), /<name>/<version|tag>, /<name>/-/<file>.tgz,
scoped names as /@scope%2fname. Strong ETags with 304s, immutable caching for versioned and
content-addressed files, gzip, HEAD. A new publish is picked up without a restart; a broken
index.json is logged and the last good one kept. Stops gracefully on Ctrl-C / SIGTERM.
A registry in object storage is served from a verified local mirror that follows the bucket:
every --poll SECS a conditional read of its index.json, a new release mirrored (index last)
off the request path; while the bucket fails, the wait doubles after each failure, up to
10 minutes.

Examples:
  kbrel serve
  kbrel serve releases --addr 127.0.0.1:8080
  kbrel serve s3://docs-releases/kb --poll 10
  npm install kbrel-guide --registry http://127.0.0.1:8080/"
    )]
    Serve(ServeArgs),
    /// Publish a release from the registry directory to an npm registry or object storage
    #[command(
        after_help = "Idempotent: pushing a version the registry already has with the same integrity succeeds;
different content under that version is an error. The registry's own error text is shown.

Examples:
  kbrel push 1.3.4 --to http://127.0.0.1:4873/
  NPM_TOKEN=… kbrel push latest --to https://registry.example.com/

Object storage: `kbrel push all --to s3://bucket/prefix` (or gs://, az://) copies the whole
registry into the bucket: new blobs, each new version's files (create-only), index.json last
with a conditional write, then the packument and signature. `kbrel push 1.3.4 --to s3://…`
copies one release: its blobs the bucket lacks, its files (create-only), then the bucket's
index.json with the version merged in (conditional write; dist-tags as publish sets them, or
--tag), then the packument. A version the bucket has is a no-op if identical, an error if not;
the version it was diffed against must be there first; a signed bucket index needs --sign-key
with the key that signed it (or the next key it endorses), which signs the merged index."
    )]
    Push(PushArgs),
    /// Manage ed25519 signing keys for index.json
    #[command(subcommand)]
    Key(KeyCommand),
    /// Update a local docs cache from a registry, downloading only what changed
    #[command(
        after_help = "The cache holds the documents as plain files, <CACHE>/<lang>/<path>.md, switched to a new
version in one atomic step; every byte is verified against the index's hashes first.

Examples:
  kbrel sync --from http://127.0.0.1:8080/ --into docs-cache
  kbrel sync --from releases --into docs-cache --version '^1.3' --lang zh
  kbrel sync --from https://docs.example.com/kb/ --into cache --trust-key ed25519:…
  kbrel sync --into docs-cache --offline      # check the cache against its state

Exit codes: 0 synced (or already current), 1 --offline found problems, 2 error (the cache is
left at its previous complete version)."
    )]
    Sync(SyncArgs),
    /// List a release's package files (like `npm pack --dry-run`) or write them unpacked
    #[command(
        after_help = "The release's tarball is read from the registry, verified against index.json, and
unpacked with the hardened reader. --out writes dist/, docs/, package.json, README.md and
manifest.json into DIR (a new or empty folder; written whole or not at all), e.g. for a CDN
upload script.

Examples:
  kbrel pack 1.4.0 --list
  kbrel pack latest --list --json | jq '.files[].path'
  kbrel pack 1.4.0 --out build/docs-1.4.0 && aws s3 sync build/docs-1.4.0 s3://cdn/docs/1.4.0

Exit codes: 0 done, 2 error (unknown version, corrupt tarball, --out not empty)."
    )]
    Pack(PackArgs),
    /// Migration check: what a consumer of an existing package would see differently in a release
    #[command(
        name = "compare-package",
        after_help = "Every JavaScript file of OLD.tgz (the package being replaced, e.g. from `vite build` and
`npm pack`) is evaluated with node — an ES module's default export, or the globals a script
sets in a bare vm context — and compared key by key with the file at the same path in the
release's tarball: missing keys (a consumer gets `undefined`), changed values, added keys,
a changed IIFE global, and each entry's gzip size. Needs node on PATH.

Examples:
  kbrel compare-package ../old-docs/acme-docs-3.2.0.tgz 1.0.0
  kbrel compare-package old.tgz latest --json | jq '.entries[] | select(.missing_keys != [])'

Exit codes: 0 nothing missing, 1 a key, entry or global is missing or changed name, 2 error."
    )]
    ComparePackage(ComparePackageArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a signing key: the private key file (mode 0600) and the public key on stdout
    #[command(after_help = "Examples:
  kbrel key generate --out ~/.config/kbrel/sign.key
  kbrel publish 1.4.0 --sign-key ~/.config/kbrel/sign.key
  kbrel sync --from https://docs.example.com/kb/ --into cache --trust-key ed25519:…")]
    Generate {
        /// Where to write the private key (refuses to overwrite)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the public key of a private key file
    Public {
        /// The private key file
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print findings as JSON (same as --format json): {schema_version, findings: [{file,
    /// path, line, code, severity, message}], errors, warnings, baselined, allowed,
    /// suppressed, prunable}
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format: human (grouped by file, counts per code), json, github (GitHub Actions
    /// annotations), sarif (SARIF 2.1.0, for code-scanning UIs)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<CheckFormat>,
    /// Record today's error-level findings in the baseline file (lint.baseline, default
    /// kbrel-baseline.json); from then on only new errors fail `check` and `publish`
    #[arg(long, conflicts_with_all = ["prune_baseline", "no_baseline"])]
    pub write_baseline: bool,
    /// Remove the baseline entries whose findings are fixed (new findings are not added)
    #[arg(long, conflicts_with = "no_baseline")]
    pub prune_baseline: bool,
    /// Baseline file to use, overriding lint.baseline
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Ignore the baseline file: every error counts
    #[arg(long, conflicts_with = "baseline")]
    pub no_baseline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Github,
    Sarif,
}

#[derive(Debug, Args)]
pub struct ComparePackageArgs {
    /// The package being replaced (.tgz)
    pub old: PathBuf,
    /// A published version, `v`-prefixed version or dist-tag
    pub version: String,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository (or site) folder [default: .]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The npm package name [default: package.json's name, else the folder's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an existing kbrel.toml
    #[arg(long)]
    pub force: bool,
    /// Print the proposed kbrel.toml to stdout; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the detection as JSON (with the proposed kbrel.toml in `toml`)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A published version, `v`-prefixed version or dist-tag
    pub version: String,
    /// Write the package's files unpacked into this new or empty folder
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// List the files (the default without --out)
    #[arg(long)]
    pub list: bool,
    /// Print {name, version, filename, size, unpackedSize, integrity, shasum, entryCount, files: [{path, size}]}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Print {schema_version, keys: [{lang, key, path, id, primary, origin, source, line}]}
    #[arg(long)]
    pub json: bool,
    /// Only this language
    #[arg(long)]
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BumpArg {
    Major,
    Minor,
    Patch,
    Prerelease,
    /// As `kbrel bump` suggests from the changes since the highest published version
    Auto,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The version to publish (semver, e.g. 1.3.4 or 2.0.0-beta.1)
    #[arg(required_unless_present = "bump", conflicts_with = "bump")]
    pub version: Option<String>,
    /// Derive the version from the highest published one
    #[arg(long, value_enum)]
    pub bump: Option<BumpArg>,
    /// Run every check and compute everything, but write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the release summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Release date: YYYY-MM-DD or RFC 3339 (default: SOURCE_DATE_EPOCH, else now)
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// dist-tag to set [default: latest, or next for a prerelease]
    #[arg(long)]
    pub tag: Option<String>,
    /// Changelog file to update, overriding changelog.path (a regular file; a symlink is
    /// written through, so it stays a link)
    #[arg(long, value_name = "FILE")]
    pub changelog: Option<PathBuf>,
    /// Fail when a translation is missing or outdated (see `kbrel status`)
    #[arg(long)]
    pub require_translations: bool,
    /// Publish even when the content folder has uncommitted changes (recorded as dirty)
    #[arg(long)]
    pub allow_dirty: bool,
    /// Do not create the git tag (registry.tag_format, default v{version}) at the published commit
    #[arg(long)]
    pub no_tag: bool,
    /// Seconds to wait for another publisher's lock
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub lock_wait: u64,
    /// Sign index.json with this private key (from `kbrel key generate`); writes index.json.sig
    #[arg(long, value_name = "FILE", env = "KBREL_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,
    /// With --sign-key: endorse this public key as the next signing key (key rotation)
    #[arg(long, value_name = "PUBKEY", requires = "sign_key")]
    pub next_key: Option<String>,
    /// Baseline file to use, overriding lint.baseline (errors it holds do not block)
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Ignore the baseline file: every error blocks
    #[arg(long, conflicts_with = "baseline")]
    pub no_baseline: bool,
    /// Tarball package format: 4 (this kbrel's: assets, `{ meta, body }` bundles and lazy
    /// per-document modules), or 1–3 to rebuild byte for byte a release made by an older kbrel
    /// (its manifest.json records the format; absent means 1). Format 4 also writes the
    /// release's CHANGELOG.md section with bundle keys, changed titles and sections
    #[arg(long, value_name = "N", default_value_t = kbrel::package::FORMAT,
          value_parser = package_format)]
    pub package_format: u32,
}

fn package_format(s: &str) -> Result<u32, String> {
    let format = s
        .parse()
        .map_err(|_| format!("`{s}` is not a package format number"))?;
    kbrel::package::check_format(format).map_err(|e| e.to_string())?;
    Ok(format)
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The repository [default: the one containing kbrel.toml]
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Only tags matching this glob, e.g. 'v1.*'
    #[arg(long, value_name = "GLOB")]
    pub tags: Option<String>,
    /// List what would be imported, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for another publisher's lock
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub lock_wait: u64,
    /// Refuse tags with lint errors, as `publish` does without a baseline (by default each
    /// tag is imported as it was, its findings recorded as warnings in its manifest)
    #[arg(long)]
    pub lint_gate: bool,
    /// Import a tag holding a file that is not UTF-8 without that file (listed in the summary,
    /// recorded as a KB014 warning)
    #[arg(long)]
    pub skip_unreadable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("mode").multiple(false))]
pub struct DiffArgs {
    /// Older side [default: latest]
    pub from: Option<String>,
    /// Newer side [default: . (working content)]
    pub to: Option<String>,
    /// One line per document and language with +/- line counts, then totals (default)
    #[arg(long, group = "mode")]
    pub stat: bool,
    /// git-style status letters: A, M, D, R<similarity>
    #[arg(long, group = "mode")]
    pub name_status: bool,
    /// Unified diff with git headers (a/en/…, b/en/…), accepted by `git apply` in the content folder
    #[arg(long, short = 'p', group = "mode")]
    pub patch: bool,
    /// Word-level changes, ignoring re-wrapped lines; Chinese per character
    #[arg(long, group = "mode")]
    pub word: bool,
    /// Which headings (by anchor) were added, removed or changed per document
    #[arg(long, group = "mode")]
    pub sections: bool,
    /// The full structured report (the diff.json schema); with --summary, the summary's data
    #[arg(long, conflicts_with_all = ["stat", "name_status", "patch", "word", "sections"])]
    pub json: bool,
    /// One line per document for release notes and chat: bundle key, title, the sections
    /// that changed, every language together
    #[arg(long, conflicts_with_all = ["stat", "name_status", "patch", "word", "sections", "package"])]
    pub summary: bool,
    /// Lines of context for --patch
    #[arg(short = 'U', long = "unified", default_value_t = 3, value_name = "N")]
    pub context: usize,
    /// Only these languages (repeatable)
    #[arg(long, value_name = "LANG")]
    pub lang: Vec<String>,
    /// Only the document with this id (repeatable)
    #[arg(long, value_name = "ID")]
    pub doc: Vec<String>,
    /// Only documents whose path (relative to the language folder) matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub path: Vec<String>,
    /// Exit with 1 when there are changes
    #[arg(long)]
    pub exit_code: bool,
    /// Colour: auto (only on a terminal, never with NO_COLOR), always or never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Compare the two versions' tarballs file by file (both sides must be published)
    #[arg(long)]
    pub package: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChangelogFormat {
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct ChangelogArgs {
    /// Older side (version, tag, latest or .); with --to, renders one section
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Newer side (version, tag, latest or .)
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ChangelogFormat::Md)]
    pub format: ChangelogFormat,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
    /// Render this changelog context (JSON, as printed by --format json) instead
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "to"])]
    pub from_context: Option<PathBuf>,
    /// Release date for a section whose newer side is `.` [default: SOURCE_DATE_EPOCH, else today]
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
}

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// Print the suggestion as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these translation languages (repeatable)
    #[arg(long, value_name = "LANG")]
    pub lang: Vec<String>,
    /// Show, for each outdated translation, the source diff it has not absorbed
    #[arg(long)]
    pub diff: bool,
    /// Also list current translations
    #[arg(long)]
    pub all: bool,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
    /// Exit with 1 when a translation is outdated, missing or orphaned
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// Document id (see `kbrel status`)
    pub id: String,
    /// Translation language(s) to acknowledge [default: every non-source language]
    #[arg(long, value_name = "LANG")]
    pub lang: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Registry directory [default: --registry, else registry.dir from kbrel.toml, else releases/]
    pub dir: Option<PathBuf>,
    /// Remove provably garbage files (staging directories, unreferenced versions, tarballs, blobs)
    #[arg(long)]
    pub repair: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Registry directory [default: --registry, else registry.dir from kbrel.toml, else releases/]
    pub dir: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Public base URL for tarball links in packuments [default: http://<Host header>]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Seconds a client may take to send a request header before it is disconnected
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub header_timeout: u64,
    /// Let web pages of this origin read the registry (CORS; `*` for any origin; repeatable)
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Vec<String>,
    /// With a registry in object storage: check its index.json every SECS (a conditional
    /// request) and mirror a new release off the request path; 0: never [default: 30]
    #[arg(long, value_name = "SECS")]
    pub poll: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Version (or dist-tag / latest) to push; `all` (object storage only): every version
    pub version: String,
    /// npm registry URL, or s3://, gs://, az:// to copy releases into object storage
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Auth token [default: $KBREL_NPM_TOKEN, else $NPM_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// dist-tag [default: the tag pointing at the version in our index, else latest]
    #[arg(long)]
    pub tag: Option<String>,
    /// Object storage, one version: sign the merged index.json with this private key (the
    /// key that signed the bucket's index); writes index.json.sig
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// With --sign-key: endorse this public key as the next signing key (key rotation)
    #[arg(long, value_name = "PUBKEY", requires = "sign_key")]
    pub next_key: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Registry URL (kbrel serve, a static server) or registry directory
    #[arg(long, value_name = "URL|DIR", required_unless_present = "offline")]
    pub from: Option<String>,
    /// The cache directory
    #[arg(long, value_name = "CACHE")]
    pub into: PathBuf,
    /// Exact version, dist-tag, latest, or a semver requirement such as ^1.3 [default: latest]
    #[arg(long, value_name = "REQ")]
    pub version: Option<String>,
    /// Only these languages, comma-separated
    #[arg(long, value_delimiter = ',', value_name = "LANGS")]
    pub lang: Vec<String>,
    /// Show what would be fetched; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Check the cache against its state, without the network
    #[arg(long)]
    pub offline: bool,
    /// Require index.json to be signed by this key (repeatable); ed25519:<base64>
    #[arg(long, value_name = "KEY")]
    pub trust_key: Vec<String>,
    /// Accept an older index or move the cache to a lower version
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Parallel downloads
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub jobs: usize,
    /// Refuse a release whose manifest claims a document larger than BYTES, before anything
    /// is fetched (downloads stream to disk: memory does not grow with it)
    #[arg(long, default_value_t = kbrel::sync::DEFAULT_MAX_DOCUMENT_SIZE, value_name = "BYTES")]
    pub max_document_size: u64,
    /// Refuse a release whose manifest claims an asset (image, PDF, video…) larger than
    /// BYTES, before anything is fetched (assets stream to disk too)
    #[arg(long, default_value_t = kbrel::sync::DEFAULT_MAX_ASSET_SIZE, value_name = "BYTES")]
    pub max_asset_size: u64,
    /// Give up one HTTP attempt (body included) after SECS seconds; a stalled transfer is
    /// retried 3 times, so it fails after at most 4 x SECS seconds plus back-off
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub timeout: u64,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

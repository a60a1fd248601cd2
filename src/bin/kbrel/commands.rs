//! One function per subcommand: turn arguments into library options, call the library, hand
//! the typed result to `output`. The environment and the clock are read here, nowhere else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use kbrel::config::{CONFIG_FILE, Config};
use kbrel::content::{self, KnowledgeBase};
use kbrel::date::Timestamp;
use kbrel::git::Repo;
use kbrel::manifest::GitInfo;
use kbrel::publish::{self, Bump, PublishOptions, VersionSpec};
use kbrel::registry::Registry;
use kbrel::snapshot::{self, SideSpec, Snapshot};

use crate::cli::{
    AckArgs, BumpArg, BumpArgs, ChangelogArgs, ChangelogFormat, CheckArgs, CheckFormat, Cli,
    ColorChoice, Command, ComparePackageArgs, DiffArgs, Global, ImportArgs, InitArgs, KeyCommand,
    KeysArgs, PackArgs, PublishArgs, PushArgs, ServeArgs, StatusArgs, SyncArgs, VerifyArgs,
};
use crate::output;

/// A command-line error: arguments that do not fit together, or something the binary reads
/// itself. The library's refusals are typed (`kbrel::Error`); these are the binary's own, as
/// text (exit 2 like every error, no hint).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn run(mut cli: Cli) -> Result<u8> {
    // Read-only commands whose output is not stored skip libgit2's re-hash of every object
    // they read, as git does; whatever writes a registry or vouches for content keeps it
    // (`kbrel::git::verify_object_hashes`, ARCHITECTURE.md "git").
    if matches!(
        cli.command,
        Command::Diff(_) | Command::Changelog(_) | Command::Status(_)
    ) {
        kbrel::git::verify_object_hashes(false);
    }
    // A registry in object storage: read commands run on a verified local mirror of it;
    // publish and import upload what they added, index last (src/services/remote.rs).
    if let Some(url) = remote_arg(&mut cli) {
        return run_remote(cli, &url);
    }
    run_local(cli)
}

fn run_local(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Init(args) => init(args),
        Command::Check(args) => check(&cli.global, args),
        Command::Keys(args) => keys(&cli.global, args),
        Command::Publish(args) => publish(&cli.global, args),
        Command::Diff(args) => diff(&cli.global, args),
        Command::Changelog(args) => changelog(&cli.global, args),
        Command::Bump(args) => bump(&cli.global, args),
        Command::Status(args) => status(&cli.global, args),
        Command::Ack(args) => ack(&cli.global, args),
        Command::Import(args) => import(&cli.global, args),
        Command::Verify(args) => verify(&cli.global, args),
        Command::Serve(args) => serve(&cli.global, args),
        Command::Push(args) => push(&cli.global, args),
        Command::Key(cmd) => key(cmd),
        Command::Sync(args) => sync(&cli.global, args),
        Command::Pack(args) => pack(&cli.global, args),
        Command::ComparePackage(args) => compare_package(&cli.global, args),
    }
}

/// The object storage URL this command's registry is, if any (moved into `--registry`).
fn remote_arg(cli: &mut Cli) -> Option<String> {
    let is_url = |p: &PathBuf| p.to_str().is_some_and(kbrel::remote::is_remote_url);
    let positional = match &mut cli.command {
        Command::Verify(a) => a.dir.take_if(|d| is_url(d)),
        Command::Serve(a) => a.dir.take_if(|d| is_url(d)),
        _ => None,
    };
    if let Some(p) = positional {
        cli.global.registry = Some(p);
    }
    if let Command::Sync(a) = &cli.command
        && a.from.as_deref().is_some_and(kbrel::remote::is_remote_url)
    {
        return a.from.clone();
    }
    let url = cli.global.registry.as_ref().filter(|p| is_url(p))?;
    url.to_str().map(str::to_string)
}

/// What the object stores read from the environment: every `AWS_*`, `GOOGLE_*` and `AZURE_*`
/// variable, and the home folder (`~/.aws/credentials`, `~/.aws/config`); credentials are
/// never stored by kbrel.
fn remote_config() -> kbrel::remote::RemoteConfig {
    let env = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
        })
        .collect();
    kbrel::remote::RemoteConfig {
        env,
        home: std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from),
        ..Default::default()
    }
}

/// The local mirror of a registry in object storage: `$KBREL_MIRROR_DIR`, else
/// `$XDG_CACHE_HOME/kbrel/mirrors`, else `~/.cache/kbrel/mirrors`, one folder per URL.
fn mirror_dir(url: &str) -> Result<PathBuf> {
    let root = match std::env::var_os("KBREL_MIRROR_DIR") {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(d) => PathBuf::from(d).join("kbrel/mirrors"),
            None => PathBuf::from(
                std::env::var_os("HOME").context("HOME is not set; set KBREL_MIRROR_DIR")?,
            )
            .join(".cache/kbrel/mirrors"),
        },
    };
    let url = url.trim_end_matches('/');
    Ok(std::path::absolute(root)?.join(&kbrel::hash::sha256_hex(url.as_bytes())[..16]))
}

fn run_remote(mut cli: Cli, url: &str) -> Result<u8> {
    let remote = match kbrel::remote::parse_location(url, &remote_config())? {
        kbrel::remote::Location::Remote(r) => r,
        kbrel::remote::Location::Dir(_) => unreachable!("checked by remote_arg"),
    };
    if let Command::Push(a) = &cli.command {
        return Err(Usage(format!(
            "--registry {url} with push: push reads a local registry; use `kbrel push {} --to {url}` to copy one into object storage",
            a.version
        ))
        .into());
    }
    let mirror = Registry::new(mirror_dir(url)?);
    // `serve` sends the precompressed variants as they are: mirror them too.
    let before = if matches!(cli.command, Command::Serve(_)) {
        remote.pull_with_variants(&mirror)?
    } else {
        remote.pull(&mirror)?
    };
    let remote = std::sync::Arc::new(*remote);
    if let Command::Serve(a) = &mut cli.command {
        // The mirror follows the bucket off the request path; `serve` reloads a changed
        // index.json of its folder by itself.
        let every = Duration::from_secs(a.poll.take().unwrap_or(30));
        if let (false, Some(etag)) = (every.is_zero(), before.etag.clone()) {
            let (remote, dir, quiet) = (remote.clone(), mirror.dir.clone(), cli.global.quiet);
            std::thread::Builder::new()
                .name("kbrel-mirror-poll".into())
                .spawn(move || follow_bucket(&remote, &Registry::new(dir), etag, every, quiet))
                .context("cannot start the thread that follows the bucket")?;
        }
    }
    let writes = matches!(cli.command, Command::Publish(_) | Command::Import(_));
    let repair = matches!(&cli.command, Command::Verify(a) if a.repair);
    let verify_json = matches!(&cli.command, Command::Verify(a) if a.json);
    let is_verify = matches!(cli.command, Command::Verify(_));
    let quiet = cli.global.quiet;
    if let Command::Sync(a) = &mut cli.command {
        a.from = Some(mirror.dir.display().to_string());
    } else {
        cli.global.registry = Some(mirror.dir.clone());
    }
    let code = run_local(cli)?;
    if writes && code == 0 {
        let up = remote.upload_new(&mirror, &before)?;
        output::uploaded(&up, remote.url(), quiet);
    }
    if is_verify {
        let leftovers = remote.leftovers(before.index.as_ref())?;
        let removed = if repair {
            remote.remove_leftovers(&leftovers)?
        } else {
            0
        };
        output::remote_leftovers(&leftovers, removed, &remote, verify_json, quiet);
        if leftovers.iter().any(|l| !l.ours) || (!repair && !leftovers.is_empty()) {
            return Ok(code.max(1));
        }
    }
    Ok(code)
}

/// Keep `mirror` up to date with `remote` for `serve`: every `every`, a conditional read of
/// index.json; a new release is mirrored (verified, index last). Errors are printed, the
/// reads back off while they fail (`remote::Backoff`), and the last mirrored index stays
/// served.
fn follow_bucket(
    remote: &kbrel::remote::Remote,
    mirror: &Registry,
    etag: kbrel::remote::UpdateVersion,
    every: Duration,
    quiet: bool,
) {
    use kbrel::remote::Polled;
    kbrel::remote::follow(
        remote,
        mirror,
        etag,
        kbrel::remote::Backoff::new(every, kbrel::remote::Backoff::CAP),
        |d| {
            std::thread::sleep(d);
            true
        },
        |polled| match polled {
            Polled::Unchanged => {}
            Polled::Mirrored(pulled) => output::mirrored(&pulled, remote.url(), quiet),
            Polled::Failed {
                error, retry_in, ..
            } => output::mirror_failed(&error, remote.url(), retry_in),
        },
    );
}

/// Find and load the configuration, then apply the global overrides.
fn load_config(g: &Global) -> Result<Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = match &g.config {
        Some(p) => p.clone(),
        None => find_config(&cwd).ok_or_else(|| {
            Usage(format!(
                "no {CONFIG_FILE} in `{}` or any parent folder; pass --config FILE",
                cwd.display()
            ))
        })?,
    };
    let mut cfg = match (&g.from_git, g.config_from_rev) {
        (Some(rev), true) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let repo = Repo::discover(dir)?;
            let rel = repo.relative(&path)?;
            let bytes = repo.read_file(rev, &rel)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Usage(format!("`{rel}` at `{rev}` is not UTF-8")))?;
            Config::parse(&text, &path)?
        }
        _ => Config::load(&path)?,
    };
    if let Some(c) = &g.content {
        cfg.content.root = std::path::absolute(c).context("cannot resolve --content")?;
        // The folder named on the command line is the folder, whatever the version.
        cfg.content.history.clear();
    }
    if let Some(r) = &g.registry {
        cfg.registry.dir = std::path::absolute(r).context("cannot resolve --registry")?;
    }
    Ok(cfg)
}

fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(CONFIG_FILE))
        .find(|p| p.is_file())
}

fn load_kb(cfg: &Config) -> Result<KnowledgeBase> {
    Ok(content::load_dir(cfg, &cfg.content_root())?)
}

/// [`load_kb`], taking the recorded hash of each asset file `known` holds a stamp of.
fn load_kb_with(cfg: &Config, known: &content::KnownHashes) -> Result<KnowledgeBase> {
    Ok(content::load_dir_with(cfg, &cfg.content_root(), known)?)
}

/// The knowledge base the global options name: the working folder, or `--from-git REV`.
fn load_source(g: &Global, cfg: &Config) -> Result<(KnowledgeBase, Option<String>)> {
    load_source_as(g, cfg, None)
}

/// [`load_source`], where `--from-git REV` is read as release `version` when one is given: its
/// content root is the one `[[content.history]]` gives that version, whatever `REV` is called.
fn load_source_as(
    g: &Global,
    cfg: &Config,
    version: Option<&semver::Version>,
) -> Result<(KnowledgeBase, Option<String>)> {
    match &g.from_git {
        Some(rev) if rev.is_empty() => {
            anyhow::bail!(Usage(
                "--from-git needs a revision (a commit, tag or branch)".into()
            ))
        }
        Some(rev) => {
            let repo = Repo::discover(&cfg.base_dir)?;
            let (kb, commit) = match version {
                Some(v) => kbrel::git::load_release(cfg, &repo, rev, rev, Some(v))?,
                None => kbrel::git::load_kb(cfg, &repo, rev)?,
            };
            Ok((kb, Some(commit)))
        }
        None => Ok((load_kb(cfg)?, None)),
    }
}

/// A diff side: `.` (or `--from-git REV` when given), `git:<rev>`, or a published version/tag.
fn load_side(
    g: &Global,
    cfg: &Config,
    reg: &Registry,
    index: Option<&kbrel::manifest::Index>,
    name: &str,
) -> Result<Snapshot> {
    if let Some(rev) = name.strip_prefix("git:") {
        let repo = Repo::discover(&cfg.base_dir)?;
        let (kb, commit) = kbrel::git::load_kb(cfg, &repo, rev)?;
        let mut snap = Snapshot::working_owned(cfg, kb);
        snap.label = format!("git:{}", &commit[..12]);
        return Ok(snap);
    }
    Ok(match SideSpec::parse(name) {
        SideSpec::Working => Snapshot::working(cfg, &load_source(g, cfg)?.0),
        SideSpec::Published(v) => Snapshot::published(reg, index, &v)?,
    })
}

/// The two sides of a comparison. Two git revisions, or a revision and the working content
/// (`.`, or the revision `--from-git` names), hold only the documents that differ: their cost
/// follows the change, as `git diff`'s does. Anything else: both sides (manifests read and
/// verified, or content loaded) whole, in parallel. With `count_documents`, the partial sides
/// count their documents per language ([`Snapshot::documents`]).
fn load_pair(
    g: &Global,
    cfg: &Config,
    reg: &Registry,
    index: Option<&kbrel::manifest::Index>,
    (from, to): (&str, &str),
    count_documents: bool,
) -> Result<(Snapshot, Snapshot)> {
    let working = SideSpec::parse(to) == SideSpec::Working;
    if let Some(ra) = from.strip_prefix("git:") {
        let repo = Repo::discover(&cfg.base_dir)?;
        match (to.strip_prefix("git:"), working, &g.from_git) {
            (Some(rb), _, _) => {
                let walked = &small_change_on_this_thread;
                let pair = snapshot::git_pair_with(cfg, &repo, (ra, rb), count_documents, walked);
                // The command ends after printing: the handle's caches and mapped packs need
                // not be torn down one by one (~1 % of a small diff).
                std::mem::forget(repo);
                return Ok(pair?);
            }
            (None, true, Some(rb)) if !rb.is_empty() => {
                let walked = &small_change_on_this_thread;
                let (a, mut b) =
                    snapshot::git_pair_with(cfg, &repo, (ra, rb), count_documents, walked)?;
                b.label = ".".into();
                return Ok((a, b));
            }
            (None, true, None) => {
                if let Some(pair) = snapshot::git_worktree_pair(cfg, &repo, ra, count_documents)? {
                    return Ok(pair);
                }
            }
            _ => {}
        }
    }
    let (a, b) = rayon::join(
        || load_side(g, cfg, reg, index, from),
        || load_side(g, cfg, reg, index, to),
    );
    Ok((a?, b?))
}

/// Below this many files that differ between two git revisions, the comparison runs on the
/// calling thread ([`small_change_on_this_thread`]).
const SMALL_CHANGE: usize = 256;

/// rayon hands every parallel step to its worker threads and the calling thread waits for
/// them; for a small change that waiting (a wake-up per step, long on a loaded machine) costs
/// more than the work. With fewer than [`SMALL_CHANGE`] files, this thread becomes a pool of
/// its own (one thread: itself, `use_current_thread`), so every later rayon call of this
/// process runs here, in the same order and with the same results, without a hand-off. The
/// pool is kept for the life of the process (rayon keeps this thread its worker anyway).
fn small_change_on_this_thread(files: usize) {
    if files < SMALL_CHANGE
        && let Ok(pool) = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
    {
        std::mem::forget(pool);
    }
}

fn init(args: InitArgs) -> Result<u8> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    if let Some(name) = &args.name
        && let Err(msg) = kbrel::npm::validate_package_name(name)
    {
        anyhow::bail!(Usage(format!("--name `{name}`: {msg}")));
    }
    let proposal = kbrel::init::propose(&dir, args.name.as_deref())?;
    let written = if args.dry_run {
        None
    } else {
        Some(kbrel::init::write(&dir, &proposal.toml, args.force)?)
    };
    output::init(&proposal, written.as_deref(), args.json)?;
    Ok(0)
}

fn check(g: &Global, args: CheckArgs) -> Result<u8> {
    use kbrel::baseline;
    let cfg = load_config(g)?;
    let (kb, _) = load_source(g, &cfg)?;
    let checked = kbrel::lint::check(&kb, &cfg)?;
    let baseline_path = match &args.baseline {
        Some(p) => std::path::absolute(p).context("cannot resolve --baseline")?,
        None => cfg.baseline_path(),
    };
    let format = match (args.json, args.format) {
        (true, _) => CheckFormat::Json,
        (false, f) => f.unwrap_or(CheckFormat::Human),
    };
    let mut view = output::CheckView {
        checked: &checked,
        documents: kb.documents.len(),
        prefix: repo_prefix(g, &cfg),
        layout: (!cfg.plain_folders()).then_some(&cfg),
        baselined: 0,
        prunable: Vec::new(),
        new_errors: checked.errors(),
        baseline: None,
        wrote_baseline: None,
    };
    if args.write_baseline {
        let b = baseline::from_findings(&cfg.package.name, &kb, &checked.findings);
        baseline::write(&baseline_path, &b)?;
        view.baselined = view.new_errors;
        view.new_errors = 0;
        view.wrote_baseline = Some((baseline_path.clone(), b.entries.len()));
        output::check(&view, format, g.quiet)?;
        return Ok(0);
    }
    let loaded = if args.no_baseline {
        None
    } else {
        baseline::load(&baseline_path, &cfg.package.name)?
    };
    let gate = loaded
        .as_ref()
        .map(|b| baseline::apply(b, &kb, &checked.findings));
    if args.prune_baseline {
        let (Some(b), Some(gate)) = (&loaded, &gate) else {
            anyhow::bail!(Usage(format!(
                "--prune-baseline: there is no baseline file at `{}` (write one with --write-baseline)",
                baseline_path.display()
            )));
        };
        baseline::write(&baseline_path, &baseline::prune(b, gate))?;
    }
    if let Some(gate) = gate {
        view.baselined = gate.baselined.len();
        view.new_errors = gate.new.len();
        view.prunable = if args.prune_baseline {
            Vec::new()
        } else {
            gate.prunable
        };
        view.baseline = Some((baseline_path, gate.baselined));
    }
    output::check(&view, format, g.quiet)?;
    Ok(if view.new_errors > 0 { 1 } else { 0 })
}

/// Where the content root is, relative to the repository's work tree (or, outside a
/// repository, to the folder of kbrel.toml): the prefix of the paths CI annotations need.
fn repo_prefix(g: &Global, cfg: &Config) -> String {
    if !cfg.plain_folders() {
        // Findings name files relative to kbrel.toml's folder (`Config::source_path`).
        let mut base = cfg.clone();
        base.content.root = PathBuf::from(".");
        base.content.layout = kbrel::config::Layout::Folders;
        base.content.roots.clear();
        return repo_prefix(g, &base);
    }
    let repo = Repo::try_discover(&cfg.base_dir);
    let rel = match (&g.from_git, &repo) {
        (Some(_), Some(r)) => kbrel::git::content_root_in(cfg, r).ok(),
        (None, Some(r)) => r.relative(&cfg.content_root()).ok(),
        _ => None,
    };
    let rel = rel.unwrap_or_else(|| {
        cfg.content_root()
            .strip_prefix(&cfg.base_dir)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| cfg.content.root.to_string_lossy().into_owned())
    });
    let rel = rel.trim_start_matches("./").trim_end_matches('/');
    if rel.is_empty() || rel == "." {
        String::new()
    } else {
        format!("{rel}/")
    }
}

/// Evaluates every `.js`/`.mjs` file given on stdin (`{"old": [root, [files]], "new": …}`)
/// with node, sandboxed: an ES module is linked and run as a `vm.SourceTextModule` in a fresh
/// context (imports only of the package's own files), a script in a bare `vm` context; neither
/// sees `require`, `process` or `import.meta`. Node itself runs under its permission model
/// (reads only of the unpacked packages, no writes, no child processes) with an empty
/// environment, so even code that escapes the `vm` context can neither write nor read secrets.
/// Prints `{"old": [entries], "new": [entries]}` (values JSON-encoded unless strings; an entry
/// that cannot be evaluated carries `error`).
const EVALUATE_JS: &str = r#"
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const flat = (o) => Object.fromEntries(Object.keys(o).map((k) => [k, typeof o[k] === 'string' ? o[k] : JSON.stringify(o[k]) ?? String(o[k])]));
async function esm(root, file) {
  const context = vm.createContext({});
  const cache = new Map();
  const load = (abs) => {
    if (!cache.has(abs)) cache.set(abs, new vm.SourceTextModule(fs.readFileSync(abs, 'utf8'), { identifier: abs, context }));
    return cache.get(abs);
  };
  const link = async (spec, ref) => {
    if (!spec.startsWith('./') && !spec.startsWith('../')) throw new Error(`imports \`${spec}\`; only the package's own files can be imported`);
    const abs = path.resolve(path.dirname(ref.identifier), spec);
    if (!abs.startsWith(root + path.sep)) throw new Error(`imports \`${spec}\`, outside the package`);
    return load(abs);
  };
  const m = load(path.join(root, file));
  await m.link(link);
  await m.evaluate({ timeout: 10000 });
  return m.namespace.default;
}
const out = {};
for (const [side, [root, files]] of Object.entries(input)) {
  out[side] = [];
  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    try {
      if (/(^|[\s;])export[\s{*]/.test(text)) {
        const d = await esm(root, file);
        out[side].push({ path: file, kind: 'esm', values: d && typeof d === 'object' ? flat(d) : {} });
      } else {
        const ctx = vm.createContext({});
        vm.runInContext(text, ctx, { filename: file, timeout: 10000 });
        const g = Object.keys(ctx)[0];
        const v = g === undefined ? {} : ctx[g];
        out[side].push({ path: file, kind: 'iife', global: g ?? null, values: v && typeof v === 'object' ? flat(v) : {} });
      }
    } catch (e) {
      out[side].push({ path: file, kind: 'error', values: {}, error: String(e && e.message || e) });
    }
  }
}
process.stdout.write(JSON.stringify(out));
"#;

/// How long node may take to evaluate both packages before it is killed.
const EVALUATE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// The flags of node's permission model: `--permission` from node 22 on, the experimental
/// flag of node 20 and 21; `None` before node 20, which has no permission model.
fn node_permission_flag() -> Result<Option<&'static str>> {
    let out = std::process::Command::new("node")
        .arg("--version")
        .env_clear()
        .output()
        .map_err(|e| Usage(format!("compare-package needs node on PATH: {e}")))?;
    let v = String::from_utf8_lossy(&out.stdout);
    let major: u32 = v
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Ok(match major {
        22.. => Some("--permission"),
        20 | 21 => Some("--experimental-permission"),
        _ => None,
    })
}

/// Run [`EVALUATE_JS`] on `input` in a sandboxed node reading only below `root`, killed after
/// [`EVALUATE_DEADLINE`]; its stdout.
fn evaluate_sandboxed(root: &std::path::Path, input: &serde_json::Value) -> Result<Vec<u8>> {
    use std::io::{Read as _, Write as _};
    let Some(permission) = node_permission_flag()? else {
        anyhow::bail!(Usage(
            "compare-package runs the old package's JavaScript under node's permission model, \
             which needs node 20 or later"
                .into()
        ));
    };
    let mut child = std::process::Command::new("node")
        .env_clear()
        .arg(permission)
        .arg(format!("--allow-fs-read={}/", root.display()))
        .args([
            "--experimental-vm-modules",
            "--no-warnings",
            "--input-type=module",
            "-e",
            EVALUATE_JS,
        ])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Usage(format!("compare-package needs node on PATH: {e}")))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).map(|_| b)
    });
    let mut stdin = child.stdin.take().expect("piped");
    // A node that exits early closes the pipe: its status and stderr say why.
    let _ = stdin.write_all(serde_json::to_string(input)?.as_bytes());
    drop(stdin);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > EVALUATE_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stdout = out.join().expect("reader")?;
    let stderr = err.join().expect("reader")?;
    match status {
        None => anyhow::bail!(Usage(format!(
            "node did not finish evaluating the packages within {} s",
            EVALUATE_DEADLINE.as_secs()
        ))),
        Some(s) if !s.success() => anyhow::bail!(Usage(format!(
            "node could not evaluate the packages: {}",
            String::from_utf8_lossy(&stderr).trim()
        ))),
        Some(_) => Ok(stdout),
    }
}

fn compare_package(g: &Global, args: ComparePackageArgs) -> Result<u8> {
    use std::io::Write as _;
    let cfg = load_config(g)?;
    let old_tgz = std::fs::read(&args.old)
        .map_err(|e| Usage(format!("cannot read `{}`: {e}", args.old.display())))?;
    let old = kbrel::package::unpack(
        &old_tgz,
        &args.old.display().to_string(),
        kbrel::package::UnpackLimits::default(),
    )?;
    let reg = Registry::new(cfg.registry_dir());
    let index = reg.read_index()?.map(|(i, _)| i);
    let (version, new) = kbrel::snapshot::package_files(&reg, index.as_ref(), &args.version)?;
    let tmp = tempfile::Builder::new()
        .prefix("kbrel-compare-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let mut input = serde_json::Map::new();
    use std::collections::BTreeMap;
    let mut gzip: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (side, files) in [("old", &old), ("new", &new)] {
        let root = tmp.path().join(side);
        let mut js = Vec::new();
        for (rel, bytes) in files.iter() {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let is_js = rel.ends_with(".js") || rel.ends_with(".mjs");
            if is_js && !rel.starts_with("node_modules/") {
                js.push(rel.clone());
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
                enc.write_all(bytes)?;
                gzip.insert((side.to_string(), rel.clone()), enc.finish()?.len() as u64);
            }
        }
        input.insert(side.into(), serde_json::json!([root, js]));
    }
    let stdout = evaluate_sandboxed(tmp.path(), &serde_json::Value::Object(input))?;
    #[derive(serde::Deserialize)]
    struct Sides {
        old: Vec<kbrel::compat::Entry>,
        new: Vec<kbrel::compat::Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Raw {
        path: String,
        kind: String,
        #[serde(default)]
        global: Option<String>,
        values: BTreeMap<String, String>,
        #[serde(default)]
        error: Option<String>,
    }
    let raw: BTreeMap<String, Vec<Raw>> = serde_json::from_slice(&stdout)
        .context("node printed something that is not the evaluation")?;
    let mut sides = Sides {
        old: Vec::new(),
        new: Vec::new(),
    };
    for (side, entries) in raw {
        let list = if side == "old" {
            &mut sides.old
        } else {
            &mut sides.new
        };
        for r in entries {
            if let Some(error) = r.error {
                let of = if side == "old" {
                    args.old.display().to_string()
                } else {
                    format!("release {version}")
                };
                anyhow::bail!(Usage(format!(
                    "cannot evaluate `{}` of {of} in the sandbox: {error}",
                    r.path
                )));
            }
            let gzip_size = gzip
                .get(&(side.clone(), r.path.clone()))
                .copied()
                .unwrap_or(0);
            list.push(kbrel::compat::Entry {
                path: r.path,
                kind: r.kind,
                global: r.global,
                values: r.values,
                gzip_size,
            });
        }
    }
    let report = kbrel::compat::compare(&sides.old, &sides.new);
    output::compare_package(
        &report,
        &args.old.display().to_string(),
        &version,
        args.json,
    )?;
    Ok(if report.breaks() { 1 } else { 0 })
}

fn pack(g: &Global, args: PackArgs) -> Result<u8> {
    let cfg = load_config(g)?;
    let reg = Registry::new(cfg.registry_dir());
    let index = reg.read_index()?.map(|(i, _)| i);
    let report = kbrel::pack::pack(
        &reg,
        index.as_ref(),
        &cfg.package.name,
        &args.version,
        args.out.as_deref(),
    )?;
    output::pack(&report, args.json, args.list || args.out.is_none(), g.quiet)?;
    Ok(0)
}

fn keys(g: &Global, args: KeysArgs) -> Result<u8> {
    let cfg = load_config(g)?;
    if let Some(lang) = &args.lang
        && !cfg.content.languages.contains(lang)
    {
        anyhow::bail!(Usage(format!(
            "--lang `{lang}` is not one of content.languages ({})",
            cfg.content.languages.join(", ")
        )));
    }
    let (kb, _) = load_source(g, &cfg)?;
    let mut keys = content::effective_keys(&kb);
    if let Some(lang) = &args.lang {
        keys.retain(|k| &k.lang == lang);
    }
    output::keys(&keys, args.json)?;
    Ok(if keys.iter().any(|k| k.id.is_none()) {
        1
    } else {
        0
    })
}

/// The release date: `--date`, else `SOURCE_DATE_EPOCH`, else the clock.
fn release_date(arg: Option<&str>) -> Result<Timestamp> {
    if let Some(d) = arg {
        return Ok(Timestamp::parse(d)?);
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        return Ok(Timestamp::from_epoch_str(&epoch)?);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    Ok(Timestamp(now.as_secs() as i64))
}

fn publish(g: &Global, args: PublishArgs) -> Result<u8> {
    let mut cfg = load_config(g)?;
    if let Some(c) = &args.changelog {
        cfg.changelog.path = std::path::absolute(c).context("cannot resolve --changelog")?;
    }
    let version = match (&args.version, args.bump) {
        (Some(v), _) => VersionSpec::Exact(v.clone()),
        (None, Some(BumpArg::Auto)) => VersionSpec::Auto,
        (None, Some(b)) => VersionSpec::Bump(match b {
            BumpArg::Major => Bump::Major,
            BumpArg::Minor => Bump::Minor,
            BumpArg::Patch => Bump::Patch,
            BumpArg::Prerelease => Bump::Prerelease,
            BumpArg::Auto => unreachable!("handled above"),
        }),
        (None, None) => unreachable!("clap requires a version or --bump"),
    };
    // Validate the version before any expensive work.
    let exact = match &version {
        VersionSpec::Exact(v) => Some(kbrel::version::parse_version(v)?),
        _ => None,
    };
    let repo = Repo::try_discover(&cfg.base_dir);
    // The asset hashes of the last publish from this folder, for files that have not changed
    // since (a cache: the tarball's writer hashes every asset it packs again).
    let cache = kbrel::hashcache::cache_dir(&cfg.base_dir);
    let known = match &g.from_git {
        None => kbrel::hashcache::read(&cache),
        Some(_) => Default::default(),
    };
    let (kb, git) = match (&g.from_git, &repo) {
        (Some(_), _) => {
            let (kb, commit) = load_source_as(g, &cfg, exact.as_ref())?;
            (
                kb,
                commit.map(|commit| GitInfo {
                    commit,
                    dirty: false,
                }),
            )
        }
        (None, Some(r)) => {
            let root = r.relative(&cfg.content_root())?;
            let state = r.head_state(&root)?;
            if let Some((_, true)) = &state
                && !args.allow_dirty
                && !args.dry_run
            {
                anyhow::bail!(Usage(format!(
                    "the content folder `{root}` has uncommitted changes; commit them, or pass --allow-dirty to publish anyway (recorded as dirty)"
                )));
            }
            (
                load_kb_with(&cfg, &known)?,
                state.map(|(commit, dirty)| GitInfo { commit, dirty }),
            )
        }
        (None, None) => (load_kb_with(&cfg, &known)?, None),
    };
    let (sign_key, next_key) = signing_keys(args.sign_key.as_deref(), args.next_key.as_deref())?;
    let baseline = if args.no_baseline {
        None
    } else {
        let path = match &args.baseline {
            Some(p) => std::path::absolute(p).context("cannot resolve --baseline")?,
            None => cfg.baseline_path(),
        };
        kbrel::baseline::load(&path, &cfg.package.name)?
    };
    let tag_name = |v: &str| cfg.registry.tag_format.replace("{version}", v);
    let tag_check = |v: &str| -> kbrel::Result<()> {
        if let (Some(r), Some(gi)) = (&repo, &git)
            && !args.no_tag
            && let Some(existing) = r.tag_target(&tag_name(v))
            && existing != gi.commit
        {
            return Err(kbrel::error::PublishError::TagTaken {
                tag: tag_name(v),
                existing,
                commit: gi.commit.clone(),
            }
            .into());
        }
        Ok(())
    };
    let opts = PublishOptions {
        version,
        date: release_date(args.date.as_deref())?,
        dry_run: args.dry_run,
        tag: args.tag.clone(),
        git: git.clone(),
        lock_wait: Duration::from_secs(args.lock_wait),
        require_translations: args.require_translations,
        guard: Some(&tag_check),
        sign: sign_key.as_ref().map(|k| (k, next_key)),
        package_format: args.package_format,
        lint: publish::LintGate::Block(baseline.as_ref()),
    };
    let reg = Registry::new(cfg.registry_dir());
    let report = match publish::publish(&cfg, &kb, &reg, &opts).and_then(|report| {
        // Nothing was packed, so nothing read the files whose hashes came from the cache.
        if report.outcome != publish::Outcome::Published {
            kbrel::hashcache::confirm(&kb.assets, &known)?;
        }
        Ok(report)
    }) {
        Ok(report) => report,
        Err(e) => {
            // A file may have changed under a recorded stamp: the next publish reads them all.
            let _ = kbrel::hashcache::remove(&cache);
            return Err(e.into());
        }
    };
    if g.from_git.is_none()
        && !kb.assets.is_empty()
        && let Err(e) = kbrel::hashcache::write(&cache, &kb.assets)
        && !g.quiet
    {
        eprintln!(
            "warning: the asset hash cache was not written (the next publish reads every asset): {e}"
        );
    }
    // The process ends soon after: freeing every document one by one would only cost time.
    std::mem::forget(kb);
    let mut tagged = None;
    if report.outcome == publish::Outcome::Published
        && !args.no_tag
        && let (Some(r), Some(gi)) = (&repo, &git)
    {
        let name = tag_name(&report.version);
        let message = format!("{} {}", report.name, report.version);
        if r.create_tag(&name, &gi.commit, &message)? {
            tagged = Some((name, gi.commit.clone()));
        }
    }
    output::publish(&report, &reg, args.json, g.quiet, args.dry_run)?;
    if let Some((name, commit)) = tagged
        && !g.quiet
        && !args.json
    {
        eprintln!("tagged {name} at {}", &commit[..12]);
    }
    Ok(0)
}

fn import(g: &Global, args: ImportArgs) -> Result<u8> {
    use std::io::IsTerminal;
    match g.from_git.as_deref() {
        Some("") => {}
        Some(rev) => anyhow::bail!(Usage(format!(
            "`kbrel import --from-git` reads every release tag and takes no revision (got `{rev}`); use --tags GLOB to choose tags"
        ))),
        None => anyhow::bail!(Usage("kbrel import needs a source: --from-git".into())),
    }
    let cfg = load_config(&Global {
        from_git: None,
        ..g.clone()
    })?;
    let repo = Repo::discover(args.repo.as_deref().unwrap_or(&cfg.base_dir))?;
    let tags = match &args.tags {
        Some(t) => Some(
            globset::Glob::new(t)
                .map_err(|e| Usage(format!("--tags {t}: {e}")))?
                .compile_matcher(),
        ),
        None => None,
    };
    let opts = kbrel::import::ImportOptions {
        tags,
        dry_run: args.dry_run,
        lock_wait: Duration::from_secs(args.lock_wait),
        lint_gate: args.lint_gate,
        skip_unreadable: args.skip_unreadable,
    };
    let reg = Registry::new(cfg.registry_dir());
    let bar = (std::io::stderr().is_terminal() && !g.quiet).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut progress = |done: usize, total: usize, tag: &str| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(tag.to_string());
        }
    };
    let report = kbrel::import::import(&cfg, &repo, &reg, &opts, &mut progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    output::import(&report?, args.dry_run, args.json)?;
    Ok(0)
}

/// Whether to colour stdout.
fn use_color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

fn diff(g: &Global, args: DiffArgs) -> Result<u8> {
    let cfg = load_config(g)?;
    let reg = Registry::new(cfg.registry_dir());
    let from = args.from.clone().unwrap_or_else(|| "latest".into());
    let to = args.to.clone().unwrap_or_else(|| ".".into());
    // Two git revisions name no release: the registry is not read.
    let index = if from.starts_with("git:") && to.starts_with("git:") && !args.package {
        None
    } else {
        reg.read_index()?.map(|(i, _)| i)
    };
    let mode = if args.name_status {
        output::DiffMode::NameStatus
    } else if args.patch {
        output::DiffMode::Patch(args.context)
    } else if args.word {
        output::DiffMode::Word
    } else if args.sections {
        output::DiffMode::Sections
    } else if args.json {
        output::DiffMode::Json
    } else {
        output::DiffMode::Stat
    };
    let color = use_color(args.color);
    for l in &args.lang {
        if !cfg.content.languages.contains(l) {
            anyhow::bail!(Usage(format!(
                "--lang {l}: not one of the configured languages ({})",
                cfg.content.languages.join(", ")
            )));
        }
    }
    let mut globs = globset::GlobSetBuilder::new();
    for p in &args.path {
        globs.add(globset::Glob::new(p).map_err(|e| Usage(format!("--path {p}: {e}")))?);
    }
    let globs = globs.build().context("invalid --path globs")?;
    let keep = |lang: &str, id: Option<&str>, path: &str| {
        (args.lang.is_empty() || args.lang.iter().any(|l| l == lang))
            && (args.doc.is_empty() || id.is_some_and(|id| args.doc.iter().any(|d| d == id)))
            && (args.path.is_empty() || globs.is_match(path))
    };

    if args.package {
        if matches!(mode, output::DiffMode::Word | output::DiffMode::Sections) {
            anyhow::bail!(Usage(
                "--package supports --stat, --name-status, --patch and --json".into()
            ));
        }
        let (fv, old) = snapshot::package_files(&reg, index.as_ref(), &from)?;
        let (tv, new) = snapshot::package_files(&reg, index.as_ref(), &to)?;
        let mut changes = kbrel::diff::diff_files(&old, &new);
        changes.retain(|c| {
            let (lang, rest) = c
                .path
                .strip_prefix("docs/")
                .and_then(|r| r.split_once('/'))
                .unwrap_or(("", &c.path));
            (args.lang.is_empty() && args.doc.is_empty() && args.path.is_empty())
                || (!lang.is_empty() && keep(lang, None, rest))
        });
        output::package_diff(&fv, &tv, &changes, &old, &new, mode, color)?;
        return Ok(if args.exit_code && !changes.is_empty() {
            1
        } else {
            0
        });
    }

    // Consecutive releases, whole: the stored diff.json is the answer.
    let unfiltered = args.lang.is_empty() && args.doc.is_empty() && args.path.is_empty();
    let from_store = matches!(
        mode,
        output::DiffMode::Stat | output::DiffMode::NameStatus | output::DiffMode::Json
    ) && !args.summary
        && unfiltered;
    if from_store && let Some(report) = snapshot::stored_diff(&reg, index.as_ref(), &from, &to)? {
        output::diff(
            &report,
            &|_| anyhow::bail!("no document texts in this mode"),
            mode,
            color,
            g.quiet,
        )?;
        let changed = !report.changes.is_empty();
        std::mem::forget(report);
        return Ok(u8::from(args.exit_code && changed));
    }
    // Other published releases, whole: composed from the stored diffs between them, unless
    // a title they leave unsettled shows.
    let (name, langs) = (&cfg.package.name, &cfg.content.languages);
    let composed = match unfiltered {
        true => snapshot::composed_pair(&reg, index.as_ref(), langs, &from, &to)?,
        false => None,
    };
    let composed = match (composed, &index) {
        (Some(mut c), Some(index)) => {
            let mut report = snapshot::compare(name, langs, &c.from, &c.to)?;
            c.settle(&reg, index, &mut report)?
                .then_some((c.from, c.to, report))
        }
        _ => None,
    };
    let (a, b, report) = match composed {
        Some(sides) => sides,
        None => {
            let json = matches!(mode, output::DiffMode::Json) && !args.summary;
            let (mut a, mut b) = load_pair(g, &cfg, &reg, index.as_ref(), (&from, &to), json)?;
            a.retain(|d| keep(&d.lang, Some(&d.id), &d.path));
            b.retain(|d| keep(&d.lang, Some(&d.id), &d.path));
            let report = snapshot::compare(name, langs, &a, &b)?;
            (a, b, report)
        }
    };
    if args.summary {
        let docs = kbrel::changelog::summary(&cfg.content.languages, &report, &|c| {
            Ok(snapshot::change_texts(&a, &b, c)?)
        })?;
        output::diff_summary(&docs, args.json)?;
    } else {
        output::diff(
            &report,
            &|c| Ok(snapshot::change_texts(&a, &b, c)?),
            mode,
            color,
            g.quiet,
        )?;
    }
    let code = if args.exit_code && !report.changes.is_empty() {
        1
    } else {
        0
    };
    // The process ends right after this: tens of thousands of small allocations need not be
    // freed one by one.
    std::mem::forget((a, b, report));
    Ok(code)
}

fn changelog(g: &Global, args: ChangelogArgs) -> Result<u8> {
    let as_json = args.json || args.format == ChangelogFormat::Json;
    if let Some(file) = &args.from_context {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        let ctx: kbrel::changelog::ChangelogContext = serde_json::from_str(&text).map_err(|e| {
            Usage(format!(
                "`{}` is not a changelog context: {e}",
                file.display()
            ))
        })?;
        return output::changelog(&ctx, as_json).map(|_| 0);
    }
    let cfg = load_config(g)?;
    let reg = Registry::new(cfg.registry_dir());
    let index = reg.read_index()?.map(|(i, _)| i);
    let ctx = match (&args.from, &args.to) {
        (Some(from), Some(to)) => {
            let (a, b) = load_pair(g, &cfg, &reg, index.as_ref(), (from, to), true)?;
            let report = snapshot::compare(&cfg.package.name, &cfg.content.languages, &a, &b)?;
            let date = match (&b.version, index.as_ref()) {
                (Some(v), Some(i)) => i
                    .get(v)
                    .map(|e| e.published[..10].to_string())
                    .unwrap_or_default(),
                _ => release_date(args.date.as_deref())?.date(),
            };
            let version = b.version.clone().unwrap_or_else(|| "Unreleased".into());
            let mut rc = kbrel::changelog::release_context(
                kbrel::changelog::ReleaseInfo {
                    version: &version,
                    date: &date,
                    previous: a.version.as_deref(),
                    repository: cfg.package.repository.as_deref(),
                    tag_format: &cfg.registry.tag_format,
                },
                &cfg.content.languages,
                &report,
            );
            rc.range = Some(kbrel::changelog::Range {
                // A release by its version; `git:` sides and `.` as the user named them.
                from: if a.version.is_some() {
                    a.label.clone()
                } else {
                    from.clone()
                },
                to: if b.version.is_some() {
                    b.label.clone()
                } else {
                    to.clone()
                },
                to_is_release: b.version.is_some(),
                from_is_empty: a
                    .documents
                    .as_ref()
                    .map_or(a.docs.is_empty(), |c| c.values().all(|&n| n == 0)),
            });
            kbrel::changelog::with_details(&mut rc, &report, &|c| {
                Ok(snapshot::change_texts(&a, &b, c)?)
            })?;
            if let (Some(repo), Some(fm), Some(tm)) =
                (Repo::try_discover(&cfg.base_dir), &a.manifest, &b.manifest)
                && let (Some(fg), Some(tg)) = (&fm.git, &tm.git)
            {
                kbrel::history::add_commits(&cfg, &repo, Some(&fg.commit), &tg.commit, &mut rc)?;
            }
            kbrel::changelog::new_context(&cfg.package.name, vec![rc])
        }
        _ => match &index {
            Some(i) => kbrel::history::changelog_context(
                &cfg,
                &reg,
                i,
                Repo::try_discover(&cfg.base_dir).as_ref(),
            )?,
            None => kbrel::changelog::new_context(&cfg.package.name, Vec::new()),
        },
    };
    output::changelog(&ctx, as_json)?;
    Ok(0)
}

fn bump(g: &Global, args: BumpArgs) -> Result<u8> {
    let cfg = load_config(g)?;
    let reg = Registry::new(cfg.registry_dir());
    let index = reg.read_index()?.map(|(i, _)| i);
    let (kb, _) = load_source(g, &cfg)?;
    let (current, suggestion) = publish::suggest_next(&cfg, &kb, &reg, index.as_ref())?;
    output::bump(current.as_ref(), &suggestion, args.json)?;
    Ok(0)
}

fn status(g: &Global, args: StatusArgs) -> Result<u8> {
    use kbrel::diff::TextSource;
    let cfg = load_config(g)?;
    let reg = Registry::new(cfg.registry_dir());
    let index = reg.read_index()?.map(|(i, _)| i);
    let (kb, commit) = load_source(g, &cfg)?;
    let working = Snapshot::working(&cfg, &kb);
    let acks = kbrel::history::load_acks(&cfg)?;
    // The commit the content is read at (`--from-git`, else the work tree's HEAD): only
    // releases published from it or its ancestors are its history.
    let repo = Repo::try_discover(&cfg.base_dir);
    let at = match (&commit, &repo) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(r)) => r.head_state(".").ok().flatten().map(|(c, _)| c),
        (None, None) => None,
    };
    let keep = |_: &kbrel::manifest::IndexVersion, m: &kbrel::manifest::Manifest| match (
        &repo, &at, &m.git,
    ) {
        (Some(r), Some(at), Some(g)) => r.is_ancestor(&g.commit, at),
        _ => true,
    };
    let mut statuses = kbrel::history::status_after_history(
        &cfg.content.languages,
        cfg.source_language(),
        &reg,
        index.as_ref(),
        kbrel::history::HistoryFilter {
            keep: &keep,
            stop_at_same: true,
        },
        ".",
        &working.docs,
        &acks,
    )?;
    statuses.retain(|s| args.lang.is_empty() || args.lang.contains(&s.lang));
    let mut diffs = Vec::new();
    if args.diff {
        let src = cfg.source_language().to_string();
        for s in statuses
            .iter()
            .filter(|s| s.state == kbrel::history::Drift::Outdated)
        {
            let (Some(then), Some(now)) = (&s.source_sha256_then, &s.source_sha256_now) else {
                continue;
            };
            let old = String::from_utf8(reg.read_blob(then)?).unwrap_or_default();
            let new_doc = working
                .docs
                .iter()
                .find(|d| d.lang == src && &d.sha256 == now);
            let new = match new_doc {
                Some(d) => working.text(d)?.into_owned(),
                None => String::from_utf8(reg.read_blob(now)?).unwrap_or_default(),
            };
            let path = format!("{src}/{}", s.source_path.clone().unwrap_or_default());
            diffs.push(kbrel::diff::patch::unified_paths(
                kbrel::manifest::ChangeStatus::Modified,
                &path,
                &path,
                None,
                &old,
                &new,
                3,
            ));
        }
    }
    output::status(
        &statuses,
        cfg.source_language(),
        &diffs,
        args.all,
        args.json,
    )?;
    let bad = statuses
        .iter()
        .any(|s| s.state != kbrel::history::Drift::Current);
    Ok(if args.exit_code && bad { 1 } else { 0 })
}

fn ack(g: &Global, args: AckArgs) -> Result<u8> {
    let cfg = load_config(g)?;
    let kb = load_kb(&cfg)?;
    let src = cfg.source_language();
    let doc = kb
        .documents
        .iter()
        .find(|d| d.lang == src && d.id == args.id)
        .ok_or_else(|| {
            Usage(format!(
                "no `{src}` document has the id `{}` (see `kbrel status`)",
                args.id
            ))
        })?;
    let langs: Vec<String> = if args.lang.is_empty() {
        cfg.content
            .languages
            .iter()
            .filter(|l| *l != src)
            .cloned()
            .collect()
    } else {
        args.lang.clone()
    };
    let mut acks = kbrel::history::load_acks(&cfg)?;
    let mut added = Vec::new();
    for lang in &langs {
        if !cfg.content.languages.contains(lang) || lang == src {
            anyhow::bail!(Usage(format!(
                "--lang {lang}: not a translation language of this knowledge base"
            )));
        }
        if acks.add(kbrel::history::Ack {
            id: args.id.clone(),
            lang: lang.clone(),
            source_sha256: doc.sha256.clone(),
        }) {
            added.push(lang.clone());
        }
    }
    let path = kbrel::history::acks_path(&cfg);
    if !added.is_empty() {
        kbrel::registry::write_atomic(&path, &kbrel::manifest::to_json_bytes(&acks))?;
    }
    output::ack(&args.id, &added, &path, g.quiet);
    Ok(0)
}

fn verify(g: &Global, args: VerifyArgs) -> Result<u8> {
    let reg = Registry::new(registry_arg(g, args.dir.as_ref())?);
    // The package this project publishes, when the registry is the project's own: repair then
    // also requires index.json to name it.
    let cfg = load_config(g).ok();
    let expected = cfg
        .as_ref()
        .filter(|c| same_dir(&reg.dir, &c.registry_dir()))
        .map(|c| c.package.name.as_str());
    let report = kbrel::verify::verify(&reg, args.repair, expected)?;
    output::verify(&report, &reg, args.json, g.quiet)?;
    Ok(if report.ok() { 0 } else { 1 })
}

/// Whether two paths name the same existing folder.
fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The registry directory for commands that take one as an argument.
/// A kbrel.toml that exists but is invalid (say `registry.dir = "."`) is an error, never
/// silently replaced by the default.
fn registry_arg(g: &Global, arg: Option<&PathBuf>) -> Result<PathBuf> {
    Ok(match (arg, &g.registry) {
        (Some(d), _) | (None, Some(d)) => d.clone(),
        (None, None) => match load_config(g) {
            Ok(cfg) => cfg.registry_dir(),
            Err(e)
                if g.config.is_some()
                    || output::core_error(&e)
                        .is_some_and(|e| matches!(e, kbrel::error::CoreError::Config(_))) =>
            {
                return Err(e);
            }
            Err(_) => PathBuf::from("releases"),
        },
    })
}

fn serve(g: &Global, args: ServeArgs) -> Result<u8> {
    if let Some(bad) = args.cors.iter().find(|o| !kbrel::server::is_cors_origin(o)) {
        return Err(Usage(format!(
            "--cors {bad:?}: expected `*` or an origin such as https://console.example.com (scheme, host and optional port; no path)"
        ))
        .into());
    }
    if args.poll.is_some() {
        return Err(Usage(
            "--poll is for a registry in object storage (s3://, gs://, az://); a folder's index.json is checked on every request".into(),
        )
        .into());
    }
    let reg = Registry::new(registry_arg(g, args.dir.as_ref())?);
    kbrel::server::check_registry(&reg)?;
    let quiet = g.quiet;
    let log: kbrel::server::Log = std::sync::Arc::new(move |line: &str| {
        if !quiet || line.starts_with("error") {
            eprintln!("{}", output::sanitize(line));
        }
    });
    let opts = kbrel::server::ServeOptions {
        base_url: args.base_url.clone(),
        log,
        log_requests: !g.quiet,
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        shutdown_grace: Duration::from_secs(10),
        cors: args.cors.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse { " (the port is in use: pick another with --addr)" } else { "" };
            Usage(format!("cannot listen on {}: {e}{hint}", args.addr))
        })?;
        let local = listener.local_addr().context("listener address")?;
        if !g.quiet {
            eprintln!("serving {} on http://{local}/ (Ctrl-C to stop)", reg.dir.display());
        }
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        };
        kbrel::server::serve(listener, reg.clone(), opts, shutdown).await?;
        if !g.quiet {
            eprintln!("stopped");
        }
        anyhow::Ok(())
    });
    // A request still reading a file (on the blocking pool) must not keep the process alive
    // past the grace period: SIGTERM stops `serve` within it.
    rt.shutdown_timeout(Duration::from_secs(1));
    result?;
    Ok(0)
}

fn push(g: &Global, args: PushArgs) -> Result<u8> {
    let reg = Registry::new(registry_arg(g, None)?);
    let index = kbrel::server::check_registry(&reg)?;
    let bucket = kbrel::remote::is_remote_url(&args.to) && !args.to.starts_with("http");
    if args.sign_key.is_some() && (!bucket || args.version == "all") {
        return Err(Usage(
            "--sign-key signs the merged index of one version pushed to object storage; \
             `push all` copies the registry's own index.json.sig, and an npm registry signs nothing"
                .into(),
        )
        .into());
    }
    if bucket {
        let kbrel::remote::Location::Remote(remote) =
            kbrel::remote::parse_location(&args.to, &remote_config())?
        else {
            unreachable!("an object storage URL")
        };
        if args.version == "all" {
            // The whole local registry, in order, index last.
            let before = remote.index_state()?;
            let up = remote.upload_new(&reg, &before)?;
            output::uploaded(&up, remote.url(), g.quiet);
            return Ok(0);
        }
        // One release, merged into the remote index (conditional write), signed when asked.
        let (sign_key, next_key) =
            signing_keys(args.sign_key.as_deref(), args.next_key.as_deref())?;
        let (report, up) = kbrel::push::push_to_bucket(
            &reg,
            &index,
            &args.version,
            &remote,
            args.tag.as_deref(),
            sign_key.as_ref().map(|k| (k, next_key)),
        )?;
        output::uploaded(&up, remote.url(), g.quiet || args.json);
        output::push(&report, args.json)?;
        return Ok(0);
    }
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("KBREL_NPM_TOKEN").ok())
        .or_else(|| std::env::var("NPM_TOKEN").ok())
        .filter(|t| !t.is_empty());
    let opts = kbrel::push::PushOptions {
        to: args.to.clone(),
        token,
        tag: args.tag.clone(),
        timeout: Duration::from_secs(120),
    };
    let report = kbrel::push::push(&reg, &index, &args.version, &opts)?;
    output::push(&report, args.json)?;
    Ok(0)
}

fn key(cmd: KeyCommand) -> Result<u8> {
    match cmd {
        KeyCommand::Generate { out } => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let key = kbrel::sign::generate()?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .with_context(|| {
                    format!("cannot create `{}` (it must not exist yet)", out.display())
                })?;
            f.write_all(kbrel::sign::private_key_text(&key).as_bytes())
                .and_then(|_| f.sync_all())
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            output::public_key(&kbrel::sign::public_key_string(&key.verifying_key()))?;
            eprintln!(
                "private key written to {} (mode 0600); keep it secret",
                out.display()
            );
        }
        KeyCommand::Public { file } => {
            let key = kbrel::sign::read_private_key(&file)?;
            output::public_key(&kbrel::sign::public_key_string(&key.verifying_key()))?;
        }
    }
    Ok(0)
}

fn sync(g: &Global, args: SyncArgs) -> Result<u8> {
    use std::io::IsTerminal;
    if args.offline {
        let report =
            kbrel::sync::check_offline(&args.into).map_err(|e| sync_failed(e, args.json))?;
        output::sync_offline(&report, args.json)?;
        return Ok(if report.problems.is_empty() { 0 } else { 1 });
    }
    let from = args.from.clone().unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    let opts = kbrel::sync::SyncOptions {
        from,
        version: args.version.clone(),
        langs: (!args.lang.is_empty()).then(|| args.lang.clone()),
        dry_run: args.dry_run,
        trust_keys: args.trust_key.clone(),
        allow_downgrade: args.allow_downgrade,
        now: Timestamp(now.as_secs() as i64),
        parallel: args.jobs,
        retries: 3,
        timeout: Duration::from_secs(args.timeout.max(1)),
        // Every 10 s, or three times per attempt for a shorter --timeout.
        stall_report: Duration::from_secs(10).min(Duration::from_secs(args.timeout.max(1)) / 3),
        max_document_size: args.max_document_size,
        max_asset_size: args.max_asset_size,
    };
    let bar = (std::io::stderr().is_terminal() && !g.quiet && !args.json).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} documents")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let timeout = args.timeout.max(1);
    let mut progress = |p: kbrel::sync::Progress| {
        if let Some(w) = &p.waiting {
            if !g.quiet {
                let line = format!(
                    "waiting for {}: {} bytes in {} s (each attempt gives up after {timeout} s, --timeout)",
                    kbrel::server::printable(&w.url),
                    w.bytes,
                    w.idle.as_secs()
                );
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            return;
        }
        if let Some(b) = &bar {
            b.set_length(p.total);
            b.set_position(p.done);
        }
    };
    let result = kbrel::sync::sync(&args.into, &opts, &mut progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = result.map_err(|e| sync_failed(e, args.json))?;
    output::sync(&report, &args.into, args.json)?;
    Ok(0)
}

/// A failed sync: with `--json`, the failure as data on stdout first (`sync::FailureJson`);
/// then the error as every command reports it (a refusal's message, or the library error with
/// its hint).
fn sync_failed(e: kbrel::sync::SyncError, as_json: bool) -> anyhow::Error {
    if as_json && let Err(printing) = output::sync_failure(&e.to_json()) {
        return printing;
    }
    match e {
        kbrel::sync::SyncError::Refused(r) => anyhow::Error::new(*r),
        kbrel::sync::SyncError::Other(e) => e.into(),
    }
}

/// `--sign-key FILE` and `--next-key PUBLIC` (publish, push): the private key read from its
/// file, the announced next public key parsed.
fn signing_keys(
    sign_key: Option<&std::path::Path>,
    next_key: Option<&str>,
) -> kbrel::Result<(
    Option<ed25519_dalek::SigningKey>,
    Option<ed25519_dalek::VerifyingKey>,
)> {
    Ok((
        sign_key.map(kbrel::sign::read_private_key).transpose()?,
        next_key.map(kbrel::sign::parse_public_key).transpose()?,
    ))
}

//! One function per subcommand: turn arguments into library options, call the library, hand
//! the typed result to `output`. The environment and the clock are read here, nowhere else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use kbrel::config::{CONFIG_FILE, Config};
use kbrel::content::{self, KnowledgeBase};
use kbrel::date::Timestamp;
use kbrel::publish::{self, Bump, PublishOptions, VersionSpec};
use kbrel::registry::Registry;

use crate::cli::{BumpArg, CheckArgs, Cli, Command, Global, PublishArgs};
use crate::output;

pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check(args) => check(&cli.global, args),
        Command::Publish(args) => publish(&cli.global, args),
    }
}

/// Find and load the configuration, then apply the global overrides.
fn load_config(g: &Global) -> Result<Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = match &g.config {
        Some(p) => p.clone(),
        None => find_config(&cwd).ok_or_else(|| {
            kbrel::Error::Usage(format!(
                "no {CONFIG_FILE} in `{}` or any parent folder; pass --config FILE",
                cwd.display()
            ))
        })?,
    };
    let mut cfg = Config::load(&path)?;
    if let Some(c) = &g.content {
        cfg.content.root = std::path::absolute(c).context("cannot resolve --content")?;
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

fn check(g: &Global, args: CheckArgs) -> Result<u8> {
    let cfg = load_config(g)?;
    let kb = load_kb(&cfg)?;
    let findings = kbrel::lint::lint(&kb, &cfg);
    output::findings(&findings, kb.documents.len(), args.json, g.quiet)?;
    Ok(if kbrel::lint::has_errors(&findings) { 1 } else { 0 })
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
        (None, Some(b)) => VersionSpec::Bump(match b {
            BumpArg::Major => Bump::Major,
            BumpArg::Minor => Bump::Minor,
            BumpArg::Patch => Bump::Patch,
            BumpArg::Prerelease => Bump::Prerelease,
        }),
        (None, None) => unreachable!("clap requires a version or --bump"),
    };
    // Validate the version before any expensive work.
    if let VersionSpec::Exact(v) = &version {
        publish::parse_version(v)?;
    }
    let opts = PublishOptions {
        version,
        date: release_date(args.date.as_deref())?,
        dry_run: args.dry_run,
        tag: args.tag.clone(),
        git: None,
        lock_wait: Duration::from_secs(args.lock_wait),
    };
    let kb = load_kb(&cfg)?;
    let reg = Registry::new(cfg.registry_dir());
    let report = publish::publish(&cfg, &kb, &reg, &opts)?;
    output::publish(&report, &reg, args.json, g.quiet)?;
    Ok(0)
}

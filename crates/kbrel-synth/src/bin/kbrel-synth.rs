//! `kbrel-synth`: write a deterministic synthetic bilingual knowledge base (for benchmarks).
//!
//! `kbrel-synth --docs-per-lang 10000 --out DIR` writes `DIR/kbrel.toml` and
//! `DIR/content/{en,zh}/…`. `--generation K` writes version K of the same knowledge base:
//! generation 1 is the generated base, each later generation applies one `evolve` step to the
//! previous one (edits, drift, additions, removals, renames). `--on-generation CMD` writes
//! every generation 1..=K into the same folder in turn (later ones only rewrite what changed)
//! and runs CMD after each, e.g. to commit and tag it in a git repository.
//!
//! `kbrel-synth --messy --out DIR` writes instead a git repository holding the messy knowledge
//! base of `kbrel_synth::messy` (numbered CJK folders, missing front matter, duplicate urls, MDX
//! components, 50–130 lint errors per release) with one tagged commit per release
//! (`--releases`, default 14), and an untracked `DIR/kbrel.toml`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use kbrel_synth::synth::{self, EvolveSpec, Spec};

#[derive(Debug, Parser)]
#[command(
    name = "kbrel-synth",
    version,
    about = "Write a deterministic synthetic bilingual (en/zh) knowledge base",
    after_help = "Examples:
  kbrel-synth --docs-per-lang 10000 --out bench/out/kb-v1
  kbrel-synth --docs-per-lang 10000 --out bench/out/kb-v2 --generation 2
  kbrel-synth --docs-per-lang 2000 --out repo --generation 50 --changed-pct 2 --added-pct 0 \\
      --on-generation 'git add -A && git commit -qm g$KBREL_SYNTH_GENERATION'
  kbrel --config bench/out/kb-v1/kbrel.toml check
  kbrel-synth --messy --out /tmp/handbook && cd /tmp/handbook && kbrel import --from-git"
)]
struct Cli {
    /// Documents per language [default: 1000; 46 with --messy]
    #[arg(long, value_name = "N")]
    docs_per_lang: Option<usize>,
    /// Seed: the same seed and generation always give the same bytes
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed: u64,
    /// Output folder (gets kbrel.toml and content/)
    #[arg(long, value_name = "DIR", required_unless_present = "digest")]
    out: Option<PathBuf>,
    /// Version of the knowledge base: 1 = generated, K > 1 = K-1 evolve steps applied
    #[arg(long, default_value_t = 1, value_name = "K")]
    generation: u32,
    /// Percentage of documents edited per evolve step [default: 5]; with --messy, per
    /// release (instead of three edits a release)
    #[arg(long, value_name = "PCT")]
    changed_pct: Option<f64>,
    /// Percentage of documents added per evolve step (removed and renamed: half of it each)
    #[arg(long, default_value_t = 1.0, value_name = "PCT")]
    added_pct: f64,
    /// Write every generation 1..=K into --out in turn and run this shell command (`sh -c`) in
    /// --out after each, with KBREL_SYNTH_GENERATION=<k> in its environment. Generation k+1
    /// rewrites only the files that changed and deletes the removed ones, so the folder always
    /// holds exactly generation k while CMD runs. A failing CMD stops with an error.
    #[arg(long, value_name = "CMD")]
    on_generation: Option<String>,
    /// Write nothing: print a sha256 over the kbrel.toml and every file (path and bytes) of the
    /// requested generation, to tell whether a copy written earlier is still what this
    /// generator writes
    #[arg(long, conflicts_with_all = ["out", "on_generation", "force"])]
    digest: bool,
    /// Write into a non-empty folder (its content/ folder is replaced)
    #[arg(long)]
    force: bool,
    /// Print nothing
    #[arg(long, short)]
    quiet: bool,
    /// Write the messy knowledge base with its git history (one tagged commit per release)
    /// instead of a clean synthetic one; --docs-per-lang defaults to 46 here
    #[arg(long, conflicts_with_all = ["digest", "on_generation", "generation"])]
    messy: bool,
    /// With --messy: the number of releases (tags)
    #[arg(long, default_value_t = 14, value_name = "N", requires = "messy")]
    releases: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kbrel-synth: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn is_empty_dir(dir: &Path) -> std::io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if cli.generation == 0 {
        return Err("--generation starts at 1 (the generated knowledge base)".into());
    }
    if cli.docs_per_lang == Some(0) {
        return Err("--docs-per-lang must be at least 1".into());
    }
    if cli.messy {
        return run_messy(cli);
    }
    let spec = Spec {
        docs_per_lang: cli.docs_per_lang.unwrap_or(1000),
        seed: cli.seed,
        languages: vec!["en".into(), "zh".into()],
    };
    let Some(out) = &cli.out else {
        // --digest: the last generation, computed in memory.
        let mut files = synth::generate(&spec);
        for g in 2..=cli.generation {
            files = synth::evolve(&files, &evolve_spec(cli, g));
        }
        println!("{}", synth::digest(&synth::config_toml(&spec), &files));
        return Ok(());
    };
    let empty = is_empty_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    if !empty && !cli.force {
        return Err(format!(
            "{} is not empty; pass --force to replace its kbrel.toml and content/",
            out.display()
        ));
    }
    let content = out.join("content");
    let prepare = || -> Result<(), String> {
        if content.exists() {
            std::fs::remove_dir_all(&content)
                .map_err(|e| format!("cannot remove {}: {e}", content.display()))?;
        }
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        std::fs::write(out.join("kbrel.toml"), synth::config_toml(&spec))
            .map_err(|e| format!("cannot write kbrel.toml: {e}"))
    };
    let hook = cli.on_generation.as_deref();
    let mut files = synth::generate(&spec);
    if let Some(cmd) = hook {
        prepare()?;
        synth::write_to(&content, &files).map_err(|e| format!("cannot write content: {e}"))?;
        run_hook(cmd, out, 1)?;
    }
    for g in 2..=cli.generation {
        let (next, st) = synth::evolve_with_stats(&files, &evolve_spec(cli, g));
        if !cli.quiet {
            eprintln!(
                "generation {g}: {} edited, {} edited in en only, {} added, {} removed, {} renamed, {} relinked (of {})",
                st.edited,
                st.edited_source_only,
                st.added,
                st.removed,
                st.renamed,
                st.relinked,
                st.documents
            );
        }
        if let Some(cmd) = hook {
            synth::update_to(&content, &files, &next)
                .map_err(|e| format!("cannot update content to generation {g}: {e}"))?;
            run_hook(cmd, out, g)?;
        }
        files = next;
    }
    if hook.is_none() {
        prepare()?;
        synth::write_to(&content, &files).map_err(|e| format!("cannot write content: {e}"))?;
    }
    if !cli.quiet {
        let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
        eprintln!(
            "wrote {} files ({:.1} MB) to {}",
            files.len(),
            bytes as f64 / 1e6,
            content.display()
        );
    }
    Ok(())
}

/// `--messy`: a git repository with the messy knowledge base's release history.
fn run_messy(cli: &Cli) -> Result<(), String> {
    let out = cli.out.as_ref().ok_or("--messy needs --out DIR")?;
    let empty = is_empty_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    if !empty {
        return Err(format!(
            "{} is not empty; --messy writes a new git repository",
            out.display()
        ));
    }
    if cli.releases == 0 {
        return Err("--releases must be at least 1".into());
    }
    let spec = kbrel_synth::messy::MessySpec {
        seed: cli.seed,
        docs_per_lang: cli
            .docs_per_lang
            .unwrap_or(kbrel_synth::messy::MessySpec::default().docs_per_lang),
        releases: cli.releases,
        non_utf8_release: None,
        changed_pct: cli.changed_pct,
    };
    let releases = kbrel_synth::messy::history(&spec);
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    kbrel_synth::repo::write_history(out, &kbrel_synth::messy::commits(&releases))
        .map_err(|e| e.to_string())?;
    std::fs::write(out.join("kbrel.toml"), kbrel_synth::messy::config_toml())
        .map_err(|e| format!("cannot write kbrel.toml: {e}"))?;
    if !cli.quiet {
        eprintln!(
            "wrote a git repository with {} tagged releases ({} … {}) to {}",
            releases.len(),
            releases[0].tag,
            releases[releases.len() - 1].tag,
            out.display()
        );
    }
    Ok(())
}

/// The evolve step that turns generation `g - 1` into generation `g`.
fn evolve_spec(cli: &Cli, g: u32) -> EvolveSpec {
    EvolveSpec {
        seed: cli.seed.wrapping_mul(1_000_003).wrapping_add(g as u64),
        changed_pct: cli.changed_pct.unwrap_or(5.0),
        added_pct: cli.added_pct,
        removed_pct: cli.added_pct / 2.0,
        renamed_pct: cli.added_pct / 2.0,
        ..EvolveSpec::default()
    }
}

/// Run `cmd` with `sh -c` in `dir` once generation `g` is in place.
fn run_hook(cmd: &str, dir: &Path, g: u32) -> Result<(), String> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .env("KBREL_SYNTH_GENERATION", g.to_string())
        .status()
        .map_err(|e| format!("cannot run the --on-generation command: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the --on-generation command failed after generation {g} ({status})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(
            [
                "kbrel-synth",
                "--docs-per-lang",
                "40",
                "--seed",
                "3",
                "--quiet",
            ]
            .iter()
            .chain(args),
        )
        .unwrap()
    }

    fn tree(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
        kbrel_synth::synth::read_tree(dir).unwrap()
    }

    #[test]
    fn on_generation_sees_every_generation_as_a_fresh_write_would() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("kb");
        let snaps = tmp.path().join("snaps");
        std::fs::create_dir(&snaps).unwrap();
        let out_s = out.to_str().unwrap();
        // Copy the folder as the hook sees it, once per generation.
        let cmd = format!("cp -r . '{}'/g$KBREL_SYNTH_GENERATION", snaps.display());
        let evolve = ["--changed-pct", "20", "--added-pct", "10"];
        let mut args = vec!["--generation", "4", "--out", out_s, "--on-generation", &cmd];
        args.extend(evolve);
        run(&cli(&args)).unwrap();
        let mut seen: Vec<String> = std::fs::read_dir(&snaps)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        seen.sort();
        assert_eq!(seen, ["g1", "g2", "g3", "g4"]);
        for g in 1..=4 {
            let fresh = tmp.path().join(format!("fresh{g}"));
            let gs = g.to_string();
            let mut args = vec!["--generation", &gs, "--out", fresh.to_str().unwrap()];
            args.extend(evolve);
            run(&cli(&args)).unwrap();
            assert_eq!(
                tree(&snaps.join(format!("g{g}"))),
                tree(&fresh),
                "generation {g}"
            );
        }
        assert_eq!(tree(&out), tree(&tmp.path().join("fresh4")));
        // A failing command stops the run and names the generation.
        let err = run(&cli(&[
            "--generation",
            "3",
            "--out",
            out_s,
            "--force",
            "--on-generation",
            "test $KBREL_SYNTH_GENERATION -lt 2",
        ]))
        .unwrap_err();
        assert!(err.contains("after generation 2"), "{err}");
    }

    #[test]
    fn digest_writes_nothing_and_needs_no_out() {
        assert!(Cli::try_parse_from(["kbrel-synth", "--digest"]).is_ok());
        assert!(Cli::try_parse_from(["kbrel-synth"]).is_err());
        assert!(Cli::try_parse_from(["kbrel-synth", "--digest", "--out", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["kbrel-synth", "--digest", "--on-generation", "true"]).is_err()
        );
        run(&cli(&["--digest", "--generation", "3"])).unwrap();
    }

    #[test]
    fn messy_writes_a_tagged_repository_and_its_config() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("handbook");
        let out_s = out.to_str().unwrap();
        let args = [
            "kbrel-synth",
            "--messy",
            "--releases",
            "12",
            "--quiet",
            "--out",
            out_s,
        ];
        run(&Cli::try_parse_from(args).unwrap()).unwrap();
        let repo = git2::Repository::open(&out).unwrap();
        let names = repo.tag_names(None).unwrap();
        let mut tags: Vec<String> = (0..names.len())
            .map(|i| names.get(i).unwrap().unwrap().to_string())
            .collect();
        tags.sort();
        assert_eq!(tags.len(), 12);
        assert!(tags.contains(&"v1.0.0".to_string()), "{tags:?}");
        let cfg = kbrel_core::config::Config::load(&out.join("kbrel.toml")).unwrap();
        assert_eq!(cfg.package.name, kbrel_synth::messy::PACKAGE);
        // HEAD is checked out: the last release's files are in the work tree.
        let last = kbrel_synth::messy::history(&kbrel_synth::messy::MessySpec {
            releases: 12,
            seed: 1,
            ..Default::default()
        })
        .pop()
        .unwrap();
        for f in &last.files {
            assert_eq!(
                std::fs::read(out.join(&f.path)).unwrap(),
                f.bytes,
                "{}",
                f.path
            );
        }
        // A second run refuses the non-empty folder.
        let err = run(&Cli::try_parse_from(args).unwrap()).unwrap_err();
        assert!(err.contains("not empty"), "{err}");
        assert!(Cli::try_parse_from(["kbrel-synth", "--messy", "--digest"]).is_err());
    }
}

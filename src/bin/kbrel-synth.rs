//! `kbrel-synth`: write a deterministic synthetic bilingual knowledge base (for benchmarks).
//!
//! `kbrel-synth --docs-per-lang 10000 --out DIR` writes `DIR/kbrel.toml` and
//! `DIR/content/{en,zh}/…`. `--generation K` writes version K of the same knowledge base:
//! generation 1 is the generated base, each later generation applies one `evolve` step to the
//! previous one (edits, drift, additions, removals, renames).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use kbrel::synth::{self, EvolveSpec, Spec};

#[derive(Debug, Parser)]
#[command(
    name = "kbrel-synth",
    version,
    about = "Write a deterministic synthetic bilingual (en/zh) knowledge base",
    after_help = "Examples:
  kbrel-synth --docs-per-lang 10000 --out bench/out/kb-v1
  kbrel-synth --docs-per-lang 10000 --out bench/out/kb-v2 --generation 2
  kbrel --config bench/out/kb-v1/kbrel.toml check"
)]
struct Cli {
    /// Documents per language
    #[arg(long, default_value_t = 1000, value_name = "N")]
    docs_per_lang: usize,
    /// Seed: the same seed and generation always give the same bytes
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed: u64,
    /// Output folder (gets kbrel.toml and content/)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Version of the knowledge base: 1 = generated, K > 1 = K-1 evolve steps applied
    #[arg(long, default_value_t = 1, value_name = "K")]
    generation: u32,
    /// Percentage of documents edited per evolve step
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    changed_pct: f64,
    /// Percentage of documents added per evolve step (removed and renamed: half of it each)
    #[arg(long, default_value_t = 1.0, value_name = "PCT")]
    added_pct: f64,
    /// Write into a non-empty folder (its content/ folder is replaced)
    #[arg(long)]
    force: bool,
    /// Print nothing
    #[arg(long, short)]
    quiet: bool,
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
    if cli.docs_per_lang == 0 {
        return Err("--docs-per-lang must be at least 1".into());
    }
    let out = &cli.out;
    let empty = is_empty_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    if !empty && !cli.force {
        return Err(format!(
            "{} is not empty; pass --force to replace its kbrel.toml and content/",
            out.display()
        ));
    }
    let spec = Spec {
        docs_per_lang: cli.docs_per_lang,
        seed: cli.seed,
        languages: vec!["en".into(), "zh".into()],
    };
    let mut files = synth::generate(&spec);
    for g in 2..=cli.generation {
        let es = EvolveSpec {
            seed: cli.seed.wrapping_mul(1_000_003).wrapping_add(g as u64),
            changed_pct: cli.changed_pct,
            added_pct: cli.added_pct,
            removed_pct: cli.added_pct / 2.0,
            renamed_pct: cli.added_pct / 2.0,
            ..EvolveSpec::default()
        };
        let (next, st) = synth::evolve_with_stats(&files, &es);
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
        files = next;
    }
    let content = out.join("content");
    if content.exists() {
        std::fs::remove_dir_all(&content)
            .map_err(|e| format!("cannot remove {}: {e}", content.display()))?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    std::fs::write(out.join("kbrel.toml"), synth::config_toml(&spec))
        .map_err(|e| format!("cannot write kbrel.toml: {e}"))?;
    synth::write_to(&content, &files).map_err(|e| format!("cannot write content: {e}"))?;
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

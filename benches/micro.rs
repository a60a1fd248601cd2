//! Micro-benchmarks (divan) of the hot functions under `kbrel publish` and `kbrel diff`:
//! hashing documents (sha256), line and word differences, and building the npm package.
//!
//! Inputs are deterministic synthetic knowledge bases (`kbrel_synth::synth`, seed 1), generated once.
//!
//! ```sh
//! cargo bench --bench micro                 # everything
//! cargo bench --bench micro -- diffing      # one group (a name filter)
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use kbrel::content::{Document, KnowledgeBase};

fn main() {
    divan::main();
}

/// A knowledge base of `docs_per_lang` documents per language (en + zh), and its next
/// generation (`synth::evolve` with the default spec: 5 % edited, 1 % added, …).
struct Kb {
    cfg: kbrel::config::Config,
    v1: KnowledgeBase,
    v2: KnowledgeBase,
}

fn build(docs_per_lang: usize) -> Kb {
    let spec = kbrel_synth::synth::Spec {
        docs_per_lang,
        seed: 1,
        ..Default::default()
    };
    let cfg = kbrel::config::Config::parse(
        &kbrel_synth::synth::config_toml(&spec),
        Path::new("/bench/kbrel.toml"),
    )
    .expect("synthetic config");
    let files = kbrel_synth::synth::generate(&spec);
    let next = kbrel_synth::synth::evolve(&files, &kbrel_synth::synth::EvolveSpec::default());
    let load = |files: Vec<kbrel::content::SourceFile>| {
        let all = files.iter().map(|f| f.path.clone()).collect();
        kbrel::content::build(&cfg, files, all, &Default::default()).expect("synthetic content")
    };
    let (v1, v2) = (load(files), load(next));
    Kb { cfg, v1, v2 }
}

/// 300 documents (150 per language).
fn kb300() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| build(150))
}

/// 2000 documents (1000 per language).
fn kb2000() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| build(1000))
}

/// (old, new) texts of every document of `lang` that the evolve step edited in place.
fn edited_pairs<'a>(kb: &'a Kb, lang: &'a str) -> Vec<(&'a str, &'a str)> {
    let old: BTreeMap<&str, &Document> =
        kb.v1.docs_in(lang).map(|d| (d.path.as_str(), d)).collect();
    kb.v2
        .docs_in(lang)
        .filter_map(|n| {
            let o = old.get(n.path.as_str())?;
            (o.sha256 != n.sha256).then_some((o.text.as_str(), n.text.as_str()))
        })
        .collect()
}

/// One large document (every `lang` document of the knowledge base, concatenated) and the
/// same with the evolve step's edits.
fn large_pair(lang: &str) -> &'static (String, String) {
    static EN: OnceLock<(String, String)> = OnceLock::new();
    static ZH: OnceLock<(String, String)> = OnceLock::new();
    let cell = if lang == "en" { &EN } else { &ZH };
    cell.get_or_init(|| {
        let kb = kb300();
        let old: BTreeMap<&str, &Document> =
            kb.v1.docs_in(lang).map(|d| (d.path.as_str(), d)).collect();
        let mut a = String::new();
        let mut b = String::new();
        for n in kb.v2.docs_in(lang) {
            if let Some(o) = old.get(n.path.as_str()) {
                a.push_str(&o.text);
                b.push_str(&n.text);
            }
        }
        (a, b)
    })
}

fn bytes_of(pairs: &[(&str, &str)]) -> usize {
    pairs.iter().map(|(a, b)| a.len() + b.len()).sum()
}

mod hashing {
    use super::*;

    /// sha256 (lowercase hex) of one markdown text of the given size.
    #[divan::bench(args = [1_000, 10_000, 100_000, 1_000_000])]
    fn sha256_hex(bencher: Bencher, len: usize) {
        let all: String = kb300()
            .v1
            .documents
            .iter()
            .map(|d| d.text.as_str())
            .collect();
        let mut text = all.repeat(len / all.len() + 1);
        text.truncate(text.floor_char_boundary(len));
        bencher
            .counter(BytesCount::new(text.len()))
            .bench(|| kbrel::hash::sha256_hex(black_box(text.as_bytes())));
    }

    /// Every document of the 300-document knowledge base, one after another.
    #[divan::bench]
    fn sha256_every_document(bencher: Bencher) {
        let docs = &kb300().v1.documents;
        let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
        bencher.counter(BytesCount::new(bytes)).bench(|| {
            for d in docs {
                black_box(kbrel::hash::sha256_hex(d.text.as_bytes()));
            }
        });
    }
}

mod diffing {
    use super::*;

    /// `diff::line_counts` (minimal +/- line counts) of every edited document of a language.
    #[divan::bench(args = ["en", "zh"])]
    fn line_counts_edited_documents(bencher: Bencher, lang: &str) {
        let pairs = edited_pairs(kb300(), lang);
        bencher
            .counter(ItemsCount::new(pairs.len()))
            .counter(BytesCount::new(bytes_of(&pairs)))
            .bench(|| {
                for (a, b) in &pairs {
                    black_box(kbrel::diff::line_counts(a, b));
                }
            });
    }

    /// `diff::word::word_diff` of every edited document of a language.
    #[divan::bench(args = ["en", "zh"])]
    fn word_diff_edited_documents(bencher: Bencher, lang: &str) {
        let pairs = edited_pairs(kb300(), lang);
        bencher
            .counter(ItemsCount::new(pairs.len()))
            .counter(BytesCount::new(bytes_of(&pairs)))
            .bench(|| {
                for (a, b) in &pairs {
                    black_box(kbrel::diff::word::word_diff(a, b));
                }
            });
    }

    /// `line_counts` of one large document (all 150 documents of a language concatenated).
    #[divan::bench(args = ["en", "zh"], sample_count = 20)]
    fn line_counts_large_document(bencher: Bencher, lang: &str) {
        let (a, b) = large_pair(lang);
        bencher
            .counter(BytesCount::new(a.len() + b.len()))
            .bench(|| kbrel::diff::line_counts(black_box(a), black_box(b)));
    }

    /// `word_diff` of one large document (all 150 documents of a language concatenated).
    #[divan::bench(args = ["en", "zh"], sample_count = 20)]
    fn word_diff_large_document(bencher: Bencher, lang: &str) {
        let (a, b) = large_pair(lang);
        bencher
            .counter(BytesCount::new(a.len() + b.len()))
            .bench(|| kbrel::diff::word::word_diff(black_box(a), black_box(b)));
    }
}

mod packing {
    use super::*;

    fn package(kb: &Kb, bencher: Bencher) {
        let cfg = &kb.cfg;
        let docs = &kb.v1.documents;
        let globals: BTreeMap<String, String> = cfg
            .content
            .languages
            .iter()
            .map(|l| (l.clone(), cfg.bundle_global(l)))
            .collect();
        let contents = kbrel::package::Contents {
            languages: &cfg.content.languages,
            globals,
            documents: docs,
            gzip_level: cfg.registry.gzip_level,
            format: kbrel::package::FORMAT,
            keyed_only: false,
            meta: cfg.bundle.meta,
            lazy: cfg.bundle.lazy,
            assets: &[],
            bundle_texts: &kbrel::package::NO_TEXTS,
        };
        let release = kbrel::package::Release {
            name: &cfg.package.name,
            version: "1.0.0",
            description: &cfg.package.description,
            license: &cfg.package.license,
            repository: None,
            source_language: cfg.source_language(),
            manifest_json: b"{}\n",
            fields: None,
        };
        let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
        bencher.counter(BytesCount::new(bytes)).bench(|| {
            let mut size = 0;
            kbrel::package::build(black_box(&contents), &release, &mut |part: &[u8]| {
                size += part.len();
                Ok(())
            })
            .expect("package");
            size
        });
    }

    /// `package::build` (tar + ESM/IIFE bundles + parallel gzip, level 6) of 300 documents.
    #[divan::bench(sample_count = 20)]
    fn build_300_documents(bencher: Bencher) {
        package(kb300(), bencher);
    }

    /// `package::build` of 2000 documents.
    #[divan::bench(sample_count = 10)]
    fn build_2000_documents(bencher: Bencher) {
        package(kb2000(), bencher);
    }
}

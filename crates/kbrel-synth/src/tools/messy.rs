//! A deterministic knowledge base shaped like the ones real docs teams keep, warts and all,
//! with a release history: the fixture for adopting kbrel on an imperfect knowledge base.
//!
//! [`synth`](crate::synth) writes clean corpora for benchmarks; this module writes the other
//! kind. Each release of [`history`] holds:
//!
//! - numbered folders and files with spaces and Chinese (`1. On-call/4. 配置/4.1 Channels.md`),
//!   different file names per language, paired by the front-matter `url`
//!   (`pairing = "front-matter:url"`);
//! - documents without front matter (KB015, and KB006 since their ids are their differing
//!   paths), two English documents claiming the same `url` (KB005; the later one is released under
//!   its path id);
//! - a static-site home page `index.md` with `layout: home` and nested YAML (KB002 × 3 per
//!   language, and a root-relative link, KB009);
//! - HTML blocks and MDX-style `<Tabs>` / `<Tab>` components (balanced: no finding), a typo'd
//!   closing tag `</dev>` (KB012), links to pages outside the knowledge base (`/img/…`,
//!   `../../../static/…`: KB009), to retired pages of the docs site (KB010), from Chinese pages
//!   into the English site (KB011);
//! - from release to release: edits, additions, removals, defects fixed and introduced, url
//!   changes on fixed paths, moves with edits (a new path and edited text, same url).
//!
//! Every release has between 50 and 130 lint errors (checked by the tests). Pure, like
//! `synth`: a seeded splitmix64 is the only randomness, so the same [`MessySpec`] gives the same
//! bytes everywhere.
//!
//! # API (for tests and benchmarks)
//!
//! ```no_run
//! use kbrel_synth::messy::{self, MessySpec};
//! let spec = MessySpec::default(); // 14 releases, 46 documents per language
//! let releases = messy::history(&spec); // Vec<Release>: tag, version, time, files
//! // Files are relative to the repository root (`docs/en/…`, `static/…`, `package.json`).
//! kbrel_synth::repo::write_history(std::path::Path::new("/tmp/kb"), &messy::commits(&releases))
//!     .unwrap(); // a git repository, one commit and tag per release, HEAD checked out
//! std::fs::write("/tmp/kb/kbrel.toml", messy::config_toml()).unwrap();
//! ```
//!
//! [`content`] gives one release's files relative to the content root (`en/…`), for tests
//! that build a knowledge base in memory. `kbrel-synth --messy --out DIR` writes the same
//! repository from the command line.

use super::synth::Rng;
use crate::content::SourceFile;

/// What [`history`] builds.
#[derive(Debug, Clone, PartialEq)]
pub struct MessySpec {
    pub seed: u64,
    /// Documents per language in the first release (later releases add a few, remove a few).
    pub docs_per_lang: usize,
    /// Number of releases (tags); at least 1.
    pub releases: usize,
    /// Add a file that is not UTF-8 (a GBK-encoded page) to this release (0-based) only.
    pub non_utf8_release: Option<usize>,
    /// Percentage of the documents edited per release (distinct documents, at least one),
    /// instead of three edits a release: for benchmarks at a given change fraction.
    pub changed_pct: Option<f64>,
}

impl Default for MessySpec {
    fn default() -> Self {
        MessySpec {
            seed: 7,
            docs_per_lang: 46,
            releases: 14,
            non_utf8_release: None,
            changed_pct: None,
        }
    }
}

/// One release of the history.
#[derive(Debug, Clone)]
pub struct Release {
    /// `v1.0.0`, `v1.1.0`, `v1.1.1` …
    pub tag: String,
    /// `1.0.0` …
    pub version: String,
    /// Commit and tag time, seconds since the epoch (UTC).
    pub time: i64,
    /// The commit message.
    pub message: String,
    /// Every file of the repository at this release, relative to its root, sorted by path.
    pub files: Vec<SourceFile>,
}

/// The content root inside the repository.
pub const CONTENT_ROOT: &str = "docs";
/// The docs site; `{lang}` is the language.
pub const BASE_URL: &str = "https://docs.example.com/{lang}/";
/// The package name in [`config_toml`].
pub const PACKAGE: &str = "@acme/handbook";

/// The `kbrel.toml` a team would write on day one (no lint policy yet).
pub fn config_toml() -> String {
    format!(
        "# The Acme on-call handbook: a knowledge base kept for years before kbrel.\n\
         [package]\n\
         name = \"{PACKAGE}\"\n\
         description = \"Acme on-call handbook\"\n\
         license = \"UNLICENSED\"\n\
         \n\
         [content]\n\
         root = \"{CONTENT_ROOT}\"\n\
         languages = [\"en\", \"zh\"]\n\
         pairing = \"front-matter:url\"\n\
         base_url = \"{BASE_URL}\"\n\
         \n\
         [registry]\n\
         dir = \"releases\"\n\
         \n\
         [changelog]\n\
         path = \"CHANGELOG.md\"\n"
    )
}

/// The commits [`write_history`](super::repo::write_history) writes for these releases (one per release,
/// tagged).
pub fn commits(releases: &[Release]) -> Vec<super::repo::HistoryCommit> {
    releases
        .iter()
        .map(|r| super::repo::HistoryCommit {
            files: r.files.clone(),
            message: r.message.clone(),
            time: r.time,
            tag: Some(r.tag.clone()),
        })
        .collect()
}

/// The files of `release` below the content root, relative to it (`en/…`, `zh/…`).
pub fn content(release: &Release) -> Vec<SourceFile> {
    let prefix = format!("{CONTENT_ROOT}/");
    release
        .files
        .iter()
        .filter_map(|f| {
            f.path.strip_prefix(&prefix).map(|p| SourceFile {
                path: p.to_string(),
                bytes: f.bytes.clone(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------

/// Sections: (English folder, Chinese folder, url segment).
const SECTIONS: [(&str, &str, &str); 5] = [
    ("On-call", "值班", "on-call"),
    ("Incidents", "故障处理", "incidents"),
    ("Integrations", "集成", "integrations"),
    ("Dashboards", "仪表盘", "dashboards"),
    ("Account & Billing", "账户与计费", "account"),
];

/// Topics: (English title, Chinese title, url segment).
const TOPICS: [(&str, &str, &str); 24] = [
    ("Overview", "概述", "overview"),
    ("Channels", "通知渠道", "channels"),
    ("Escalation policies", "升级策略", "escalation"),
    ("Schedules", "排班", "schedules"),
    ("Routing rules", "路由规则", "routing"),
    ("Silences", "静默", "silences"),
    ("Webhooks", "Webhook 回调", "webhooks"),
    ("Slack", "Slack 集成", "slack"),
    ("Lark", "飞书", "lark"),
    ("DingTalk", "钉钉", "dingtalk"),
    ("Postmortems", "复盘", "postmortems"),
    ("Severity levels", "故障等级", "severity"),
    ("Status pages", "状态页", "status-pages"),
    ("API tokens", "API 令牌", "api-tokens"),
    ("SSO", "单点登录", "sso"),
    ("Audit log", "审计日志", "audit-log"),
    ("Invoices", "发票", "invoices"),
    ("Quotas", "配额", "quotas"),
    ("Heartbeats", "心跳监控", "heartbeats"),
    ("Maintenance windows", "维护窗口", "maintenance"),
    ("Runbooks", "运行手册", "runbooks"),
    ("Mobile app", "移动端", "mobile"),
    ("Labels", "标签", "labels"),
    ("FAQ", "常见问题", "faq"),
];

/// A deliberate problem in one language of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    /// `![](/img/x.png)`: a docs-site static path, outside the knowledge base (KB009).
    StaticImage,
    /// `[logo](../../../static/…)`: climbs above the content root (KB009).
    ClimbLink,
    /// A link to a retired page of the docs site (KB010).
    RetiredPage,
    /// A `<div>` closed by `</dev>` (KB012).
    DevTypo,
    /// A Chinese page linking into the English site (KB011; only used in `zh`).
    CrossLanguage,
    /// `<Tab>` left open inside `<Tabs>` (KB012).
    OpenTab,
}

const DEFECTS: [Defect; 6] = [
    Defect::StaticImage,
    Defect::ClimbLink,
    Defect::RetiredPage,
    Defect::DevTypo,
    Defect::CrossLanguage,
    Defect::OpenTab,
];

#[derive(Debug, Clone)]
struct Doc {
    serial: usize,
    section: usize,
    /// The section named by the url (a move keeps the url).
    url_section: usize,
    /// In the section's "4. 配置" subfolder (English folder name kept in Chinese, as teams do).
    in_config: bool,
    order: usize,
    topic: usize,
    /// Bumped by a url change on a fixed path.
    url_rev: usize,
    front_matter: bool,
    /// Defects per language: `[en, zh]`.
    defects: [Vec<Defect>; 2],
    /// Paragraphs added by edits, per language.
    edits: [usize; 2],
    /// The English-only duplicate that claims another document's url.
    duplicate_of: Option<usize>,
}

impl Doc {
    fn slug(&self) -> String {
        let (_, _, sec) = SECTIONS[self.url_section];
        let (_, _, topic) = TOPICS[self.topic];
        let base = if self.in_config {
            format!("{sec}/config/{topic}")
        } else {
            format!("{sec}/{topic}-{}", self.serial)
        };
        match self.url_rev {
            0 => base,
            n => format!("{base}-v{}", n + 1),
        }
    }

    fn url(&self, lang: usize) -> String {
        format!("{}{}", BASE_URL.replace("{lang}", LANGS[lang]), self.slug())
    }

    fn path(&self, lang: usize) -> String {
        let (en_sec, zh_sec, _) = SECTIONS[self.section];
        let (en_t, zh_t, _) = TOPICS[self.topic];
        let sec_n = self.section + 1;
        let folder = if lang == 0 {
            format!("{sec_n}. {en_sec}")
        } else {
            format!("{sec_n}. {zh_sec}")
        };
        let title = if lang == 0 { en_t } else { zh_t };
        let suffix = if self.duplicate_of.is_some() {
            " (old)"
        } else {
            ""
        };
        if self.in_config {
            // The English tree kept the Chinese folder name of the first translation.
            format!("{folder}/4. 配置/4.{} {title}{suffix}.md", self.order)
        } else {
            format!(
                "{folder}/{sec_n}.{} {title} {}{suffix}.md",
                self.order, self.serial
            )
        }
    }

    fn title(&self, lang: usize) -> String {
        let (en_t, zh_t, _) = TOPICS[self.topic];
        if lang == 0 {
            format!("{en_t} ({})", self.serial)
        } else {
            format!("{zh_t}（{}）", self.serial)
        }
    }
}

const LANGS: [&str; 2] = ["en", "zh"];

struct State {
    docs: Vec<Doc>,
    next_serial: usize,
}

fn new_doc(rng: &mut Rng, serial: usize) -> Doc {
    let section = rng.below(SECTIONS.len());
    let in_config = serial % 9 == 1;
    let mut doc = Doc {
        serial,
        section,
        url_section: section,
        in_config,
        order: 1 + serial % 9,
        topic: rng.below(TOPICS.len()),
        url_rev: 0,
        front_matter: serial % 11 != 3,
        defects: [Vec::new(), Vec::new()],
        edits: [0, 0],
        duplicate_of: None,
    };
    if in_config {
        doc.topic = 1 + serial % 5;
    }
    // Defects: most documents carry one or two, in one language or both.
    let n = [0, 1, 1, 1, 2][rng.below(5)];
    for _ in 0..n {
        let d = DEFECTS[rng.below(DEFECTS.len())];
        match (d, rng.below(3)) {
            (Defect::CrossLanguage, _) | (_, 1) => doc.defects[1].push(d),
            (_, 0) => doc.defects[0].push(d),
            _ => {
                doc.defects[0].push(d);
                doc.defects[1].push(d);
            }
        }
    }
    doc
}

fn first_state(spec: &MessySpec) -> State {
    let mut rng = Rng::new(spec.seed, 1);
    let mut docs: Vec<Doc> = (0..spec.docs_per_lang.max(2))
        .map(|i| new_doc(&mut rng, i))
        .collect();
    // Two documents claiming one url: an English copy kept "just in case".
    let mut dup = docs[0].clone();
    dup.serial = docs.len();
    dup.duplicate_of = Some(0);
    dup.defects = [Vec::new(), Vec::new()];
    docs.push(dup);
    let next_serial = docs.len();
    State { docs, next_serial }
}

/// One release step: what teams do between two releases.
fn evolve(state: &mut State, seed: u64, k: usize, changed_pct: Option<f64>) {
    let mut rng = Rng::new(seed, 100 + k as u64);
    let live: Vec<usize> = (0..state.docs.len())
        .filter(|&i| state.docs[i].duplicate_of.is_none())
        .collect();
    // Edits (some only in English: translation drift).
    match changed_pct {
        None => {
            for _ in 0..3 {
                let i = live[rng.below(live.len())];
                state.docs[i].edits[0] += 1;
                if rng.chance(60) {
                    state.docs[i].edits[1] += 1;
                }
            }
        }
        Some(pct) => {
            // Distinct documents: the first `n` of a partial shuffle.
            let n = ((live.len() as f64 * pct / 100.0).round() as usize).clamp(1, live.len());
            let mut pool = live.clone();
            for j in 0..n {
                let pick = j + rng.below(pool.len() - j);
                pool.swap(j, pick);
                let i = pool[j];
                state.docs[i].edits[0] += 1;
                if rng.chance(60) {
                    state.docs[i].edits[1] += 1;
                }
            }
        }
    }
    // Fix a few defects, introduce a few.
    for _ in 0..3 {
        let i = live[rng.below(live.len())];
        let lang = rng.below(2);
        state.docs[i].defects[lang].pop();
    }
    for _ in 0..2 {
        let i = live[rng.below(live.len())];
        let d = DEFECTS[rng.below(DEFECTS.len())];
        let lang = if d == Defect::CrossLanguage {
            1
        } else {
            rng.below(2)
        };
        state.docs[i].defects[lang].push(d);
    }
    // A url change on a fixed path.
    if k.is_multiple_of(3) {
        let i = live[rng.below(live.len())];
        state.docs[i].url_rev += 1;
    }
    // A move with edits: new folder and number, edited text, same url.
    if k % 4 == 1 {
        let i = live[rng.below(live.len())];
        let d = &mut state.docs[i];
        if !d.in_config {
            d.section = (d.section + 1) % SECTIONS.len();
            d.order = 1 + (d.order + 3) % 9;
            d.edits = [d.edits[0] + 1, d.edits[1] + 1];
        }
    }
    // Additions, and now and then a removal.
    for _ in 0..2 {
        let serial = state.next_serial;
        state.next_serial += 1;
        let d = new_doc(&mut rng, serial);
        state.docs.push(d);
    }
    if k.is_multiple_of(5) {
        let i = live[rng.below(live.len())];
        if i != 0 {
            state.docs.remove(i);
        }
    }
}

fn paragraph(rng: &mut Rng, lang: usize) -> String {
    const EN: [&str; 8] = [
        "Alerts are grouped by service before they reach the on-call engineer.",
        "If nobody acknowledges an alert within five minutes, the policy escalates it.",
        "Use a dedicated channel per team so that notifications stay readable.",
        "The retry interval doubles after every failed delivery, up to one hour.",
        "Tokens are shown once; store them in your secret manager right away.",
        "Maintenance windows mute alerts but keep recording them for reports.",
        "Each rule is evaluated top to bottom and the first match wins.",
        "Changes take effect within a minute and are written to the audit log.",
    ];
    const ZH: [&str; 8] = [
        "告警在到达值班工程师之前会按服务分组。",
        "如果五分钟内无人认领，升级策略会自动升级该告警。",
        "建议每个团队使用独立的通知渠道，避免消息刷屏。",
        "每次投递失败后重试间隔翻倍，最长一小时。",
        "令牌只显示一次，请立即保存到密钥管理服务中。",
        "维护窗口期间告警会被静默，但仍会记录用于报表。",
        "规则自上而下匹配，命中第一条即停止。",
        "修改在一分钟内生效，并写入审计日志。",
    ];
    let pool = if lang == 0 { &EN } else { &ZH };
    let a = rng.below(pool.len());
    let b = (a + 1 + rng.below(pool.len() - 1)) % pool.len();
    let sep = if lang == 0 { " " } else { "" };
    format!("{}{sep}{}", pool[a], pool[b])
}

/// Percent-encode the spaces of a relative link target (as editors write them).
fn href(path: &str) -> String {
    path.replace(' ', "%20")
}

fn relative(from: &str, to: &str) -> String {
    let depth = from.matches('/').count();
    format!("{}{}", "../".repeat(depth), href(to))
}

/// `stable_links`: with [`MessySpec::changed_pct`], the first release's document count, so
/// that links stay put and a release changes only what it edits.
fn render(state: &State, i: usize, lang: usize, seed: u64, stable_links: Option<usize>) -> String {
    let doc = &state.docs[i];
    let mut rng = Rng::new(seed ^ doc.serial as u64, 10 + lang as u64);
    let l = LANGS[lang];
    let mut s = String::new();
    if doc.front_matter {
        let url = match doc.duplicate_of {
            Some(j) => state
                .docs
                .iter()
                .find(|d| d.serial == j)
                .map_or_else(|| doc.url(lang), |d| d.url(lang)),
            None => doc.url(lang),
        };
        s.push_str(&format!(
            "---\ntitle: \"{}\"\ndescription: {}\ndate: 2023-0{}-1{}\nurl: {url}\nsidebar_position: {}\ntags: [ops, {}]\n---\n\n",
            doc.title(lang),
            if lang == 0 {
                format!("How {} works", TOPICS[doc.topic].0.to_lowercase())
            } else {
                format!("{}说明", TOPICS[doc.topic].1)
            },
            1 + doc.serial % 9,
            doc.serial % 10,
            doc.order,
            SECTIONS[doc.section].2,
        ));
    }
    s.push_str(&format!(
        "# {}\n\n{}\n\n",
        doc.title(lang),
        paragraph(&mut rng, lang)
    ));
    // A link to a neighbour (relative, valid) and one absolute docs link (valid).
    let me = doc.path(lang);
    let neighbours = match stable_links {
        // Any other document, picked among all of them (an addition moves every pick).
        None => {
            let others: Vec<&Doc> = state
                .docs
                .iter()
                .filter(|d| d.serial != doc.serial && d.duplicate_of.is_none())
                .collect();
            (!others.is_empty()).then(|| {
                let a = others[rng.below(others.len())];
                (a, others[rng.below(others.len())])
            })
        }
        // The first other document from a serial picked among the first release's: the
        // same neighbour from release to release while it lives (docs are in serial order).
        Some(n) => {
            let pick = |rng: &mut Rng| {
                let target = rng.below(n.max(1));
                let from = state.docs.partition_point(|d| d.serial < target);
                state.docs[from..]
                    .iter()
                    .chain(&state.docs[..from])
                    .find(|d| d.serial != doc.serial && d.duplicate_of.is_none())
            };
            let a = pick(&mut rng);
            let b = pick(&mut rng);
            a.zip(b)
        }
    };
    if let Some((a, b)) = neighbours {
        let see = if lang == 0 { "See also" } else { "另见" };
        s.push_str(&format!(
            "{see}: [{}]({}) · [{}]({})\n\n",
            a.title(lang),
            relative(&me, &a.path(lang)),
            b.title(lang),
            if b.front_matter {
                b.url(lang)
            } else {
                relative(&me, &b.path(lang))
            },
        ));
    }
    let external = if lang == 0 {
        "Status codes follow [RFC 9110](https://www.rfc-editor.org/rfc/rfc9110)."
    } else {
        "状态码遵循 [RFC 9110](https://www.rfc-editor.org/rfc/rfc9110)。"
    };
    s.push_str(external);
    s.push_str("\n\n");
    if doc.serial.is_multiple_of(3) {
        s.push_str("<div class=\"admonition tip\">\n<p>");
        s.push_str(&paragraph(&mut rng, lang));
        s.push_str("</p>\n</div>\n\n");
    }
    let open_tab = doc.defects[lang].contains(&Defect::OpenTab);
    if doc.serial % 4 == 1 || open_tab {
        s.push_str("<Tabs groupId=\"client\">\n<Tab value=\"curl\" label=\"curl\">\n\n```bash\ncurl -X POST https://api.example.com/v1/alerts -d '{\"x\": 1}'\n```\n\n");
        if !open_tab {
            s.push_str("</Tab>\n");
        }
        s.push_str("<Tab value=\"py\" label=\"Python\">\n\n```python\nclient.alerts.create(x=1)\n```\n\n</Tab>\n</Tabs>\n\n");
    }
    s.push_str("## ");
    s.push_str(if lang == 0 { "Steps" } else { "步骤" });
    s.push_str("\n\n");
    for n in 1..=3 {
        s.push_str(&format!("{n}. {}\n", paragraph(&mut rng, lang)));
    }
    s.push('\n');
    for d in &doc.defects[lang] {
        match d {
            Defect::StaticImage => s.push_str(&format!(
                "![{}](/img/{}/{}.png)\n\n",
                if lang == 0 { "screenshot" } else { "截图" },
                SECTIONS[doc.section].2,
                TOPICS[doc.topic].2
            )),
            Defect::ClimbLink => s.push_str(&format!(
                "[{}](../../../static/files/{}.pdf)\n\n",
                if lang == 0 {
                    "Download the PDF"
                } else {
                    "下载 PDF"
                },
                TOPICS[doc.topic].2
            )),
            Defect::RetiredPage => s.push_str(&format!(
                "[{}]({}legacy/{})\n\n",
                if lang == 0 {
                    "Old guide"
                } else {
                    "旧版指南"
                },
                BASE_URL.replace("{lang}", l),
                TOPICS[doc.topic].2
            )),
            Defect::DevTypo => s.push_str(&format!(
                "<div class=\"warning\">\n{}\n</dev>\n\n",
                paragraph(&mut rng, lang)
            )),
            Defect::CrossLanguage => s.push_str(&format!(
                "英文原文见 [English]({}{})。\n\n",
                BASE_URL.replace("{lang}", "en"),
                doc.slug()
            )),
            Defect::OpenTab => {}
        }
    }
    for e in 0..doc.edits[lang] {
        s.push_str(&format!(
            "{} {}\n\n",
            if lang == 0 { "Update:" } else { "更新：" },
            paragraph(&mut Rng::new(seed ^ e as u64, 77 + doc.serial as u64), lang)
        ));
    }
    s
}

fn home(lang: usize, k: usize) -> String {
    let (title, tagline, start) = if lang == 0 {
        (
            "Acme Handbook",
            "Everything the on-call engineer needs",
            "Get started",
        )
    } else {
        ("Acme 手册", "值班工程师需要的一切", "快速开始")
    };
    format!(
        "---\nlayout: home\ntitle: {title}\nhero:\n  name: {title}\n  tagline: {tagline}\n  actions:\n    - theme: brand\n      text: {start}\n      link: /{l}/on-call/overview\nfeatures:\n  - title: On-call\n    details: Schedules, escalation, channels\n  - title: Incidents\n    details: Severity, postmortems\n---\n\n<div class=\"home-grid\">\n  <a class=\"card\" href=\"https://status.example.com\">Status</a>\n  <img src=\"https://cdn.example.com/hero-{k}.svg\" alt=\"\">\n</div>\n\n[{start}](/{l}/on-call/overview)\n",
        l = LANGS[lang]
    )
}

fn snapshot(state: &State, spec: &MessySpec, k: usize) -> Vec<SourceFile> {
    let stable = spec.changed_pct.map(|_| spec.docs_per_lang);
    let mut files = Vec::new();
    let mut push = |path: String, bytes: Vec<u8>| files.push(SourceFile { path, bytes });
    for (i, doc) in state.docs.iter().enumerate() {
        for (lang, l) in LANGS.iter().enumerate() {
            if lang == 1 && doc.duplicate_of.is_some() {
                continue;
            }
            push(
                format!("{CONTENT_ROOT}/{l}/{}", doc.path(lang)),
                render(state, i, lang, spec.seed, stable).into_bytes(),
            );
        }
    }
    for (lang, l) in LANGS.iter().enumerate() {
        push(
            format!("{CONTENT_ROOT}/{l}/index.md"),
            home(lang, k).into_bytes(),
        );
    }
    if spec.non_utf8_release == Some(k) {
        // "告警" in GBK: not UTF-8.
        let mut bytes = b"---\ntitle: legacy\n---\n\n".to_vec();
        bytes.extend_from_slice(&[0xB8, 0xE6, 0xBE, 0xAF, b'\n']);
        push(format!("{CONTENT_ROOT}/zh/3. 集成/旧版 GBK.md"), bytes);
    }
    push(
        "package.json".into(),
        format!(
            "{{\n  \"name\": \"{PACKAGE}\",\n  \"version\": \"{}\",\n  \"private\": true,\n  \"scripts\": {{ \"build\": \"vitepress build docs\", \"pack\": \"npm pack\" }}\n}}\n",
            version(k)
        )
        .into_bytes(),
    );
    push(
        "static/files/README.txt".into(),
        b"Downloads served by the docs site.\n".to_vec(),
    );
    push(
        "README.md".into(),
        b"# Acme handbook\n\nRun `npm run build` to build the site.\n".to_vec(),
    );
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The version of release `k` (0-based): minor releases, every third one a patch.
fn version(k: usize) -> String {
    let (mut minor, mut patch) = (0, 0);
    for i in 1..=k {
        if i % 3 == 2 {
            patch += 1;
        } else {
            minor += 1;
            patch = 0;
        }
    }
    format!("1.{minor}.{patch}")
}

/// Every release, oldest first.
pub fn history(spec: &MessySpec) -> Vec<Release> {
    let mut state = first_state(spec);
    let mut out = Vec::with_capacity(spec.releases);
    // 2023-01-02T09:00:00Z, then about a month apart.
    let start = 1_672_650_000;
    for k in 0..spec.releases.max(1) {
        if k > 0 {
            evolve(&mut state, spec.seed, k, spec.changed_pct);
        }
        let v = version(k);
        out.push(Release {
            tag: format!("v{v}"),
            message: format!("docs: release {v}"),
            time: start + k as i64 * 30 * 86_400 + (k as i64 * 3_607) % 86_400,
            version: v,
            files: snapshot(&state, spec, k),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_spec_same_bytes_and_versions_increase() {
        let spec = MessySpec::default();
        let a = history(&spec);
        let b = history(&spec);
        assert_eq!(a.len(), 14);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.tag, y.tag);
            assert_eq!(x.files.len(), y.files.len());
            for (f, g) in x.files.iter().zip(&y.files) {
                assert_eq!((&f.path, &f.bytes), (&g.path, &g.bytes));
            }
        }
        let versions: Vec<semver::Version> = a
            .iter()
            .map(|r| semver::Version::parse(&r.version).unwrap())
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert!(a.windows(2).all(|w| w[0].time < w[1].time));
        let paths: Vec<&str> = a[0].files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths
                .iter()
                .any(|p| p.contains("/4. 配置/4.") && p.starts_with("docs/en/"))
        );
        assert!(paths.contains(&"docs/en/index.md"));
    }

    #[test]
    fn changed_pct_edits_that_share_of_the_documents() {
        let spec = |changed_pct| MessySpec {
            docs_per_lang: 400,
            releases: 2,
            changed_pct,
            ..MessySpec::default()
        };
        // Documents of release 1 whose English text differs from release 0's at one path.
        let edited = |releases: &[Release]| {
            let before: std::collections::BTreeMap<&str, &[u8]> = releases[0]
                .files
                .iter()
                .map(|f| (f.path.as_str(), f.bytes.as_slice()))
                .collect();
            releases[1]
                .files
                .iter()
                .filter(|f| f.path.starts_with("docs/en/") && !f.path.ends_with("index.md"))
                .filter(|f| before.get(f.path.as_str()).is_some_and(|b| *b != f.bytes))
                .count()
        };
        let twenty = edited(&history(&spec(Some(20.0))));
        let default = edited(&history(&spec(None)));
        // 20 % of 400, plus what a release's other steps touch (defects, a move and the links
        // to it); without it, most documents (an addition moves every link).
        assert!((80..=110).contains(&twenty), "{twenty}");
        assert!(default > 300, "{default}");
    }

    #[test]
    fn every_release_has_50_to_130_lint_errors() {
        use crate::findings::{Code, Severity};
        let cfg = crate::config::Config::parse(&config_toml(), std::path::Path::new("kbrel.toml"))
            .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut counts = Vec::new();
        // The default seed, and kbrel-synth's default seed.
        let runs = [7, 1].into_iter().flat_map(|seed| {
            history(&MessySpec {
                seed,
                ..MessySpec::default()
            })
        });
        for r in runs {
            let files = content(&r);
            let all = files.iter().map(|f| f.path.clone()).collect();
            let kb = crate::content::build(&cfg, files, all, &Default::default()).unwrap();
            let findings = crate::lint::lint(&kb, &cfg);
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            eprintln!(
                "{} {} docs, {} errors, {} findings",
                r.tag,
                kb.documents.len(),
                errors,
                findings.len()
            );
            counts.push((r.tag.clone(), errors));
            seen.extend(findings.iter().map(|f| f.code));
        }
        assert!(
            counts.iter().all(|(_, n)| (50..=130).contains(n)),
            "{counts:?}"
        );
        for code in [
            Code::MissingField,
            Code::DuplicateSlug,
            Code::MissingTranslation,
            Code::BrokenLink,
            Code::UnknownSlug,
            Code::CrossLanguageLink,
            Code::UnbalancedHtml,
            Code::NoFrontMatter,
        ] {
            assert!(seen.contains(&code), "{code} never raised");
        }
    }
}

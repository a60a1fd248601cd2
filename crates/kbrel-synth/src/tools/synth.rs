//! Deterministic synthetic knowledge bases for tests and benchmarks.
//!
//! [`generate`] builds a bilingual (en/zh) knowledge base of `docs_per_lang` documents per
//! language that lints clean: front matter with every required field, a unique PascalCase
//! `key`, realistic markdown (headings, paragraphs, lists, tables, fenced code, inline code)
//! and relative links to other generated documents. [`evolve`] derives the "next version" of a
//! knowledge base: edited documents (some only in the source language, creating translation
//! drift), added, removed and renamed ones, with every link kept valid.
//!
//! Pure: the only randomness is a seeded splitmix64, so the same spec gives the same bytes on
//! every machine. The only I/O is [`write_to`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::content::{SourceFile, resolve_relative};

/// What [`generate`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Documents per language (every document exists in every language).
    pub docs_per_lang: usize,
    pub seed: u64,
    /// Language folders; `zh` gets Chinese text, any other language English.
    pub languages: Vec<String>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            docs_per_lang: 100,
            seed: 1,
            languages: vec!["en".into(), "zh".into()],
        }
    }
}

/// What [`evolve`] changes. Percentages are of the documents (per language) of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct EvolveSpec {
    pub seed: u64,
    /// Documents whose text is edited (a few lines).
    pub changed_pct: f64,
    /// Of the edited documents, the share edited only in the source language (drift).
    pub source_only_pct: f64,
    pub added_pct: f64,
    pub removed_pct: f64,
    pub renamed_pct: f64,
    /// The language whose edits are not always translated.
    pub source_language: String,
}

impl Default for EvolveSpec {
    fn default() -> Self {
        EvolveSpec {
            seed: 2,
            changed_pct: 5.0,
            source_only_pct: 20.0,
            added_pct: 1.0,
            removed_pct: 0.5,
            renamed_pct: 0.5,
            source_language: "en".into(),
        }
    }
}

/// What one [`evolve`] step did, counted per document (a document = all its languages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvolveStats {
    /// Documents before.
    pub documents: usize,
    /// Edited in every language.
    pub edited: usize,
    /// Edited only in the source language.
    pub edited_source_only: usize,
    pub added: usize,
    pub removed: usize,
    pub renamed: usize,
    /// Documents whose links were rewritten because a target moved or disappeared.
    pub relinked: usize,
}

// ---------------------------------------------------------------------------------------------
// PRNG

/// splitmix64: tiny, fast, good enough for synthetic text, identical everywhere.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator of one stream of a seed (`messy` uses it too).
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// A generator for one purpose: independent of the order other items are generated in.
    fn derive(seed: u64, stream: u64, item: u64) -> Rng {
        let mut r = Rng::new(seed, stream);
        let a = r.next();
        Rng(a ^ item.wrapping_mul(0xE703_7ED1_A0B4_28DB))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }

    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    pub(crate) fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
}

const STREAM_META: u64 = 1;
const STREAM_BODY: u64 = 2;
const STREAM_EVOLVE: u64 = 3;

// ---------------------------------------------------------------------------------------------
// Vocabulary

const SECTIONS: [&str; 12] = [
    "getting-started",
    "guides",
    "guides/advanced",
    "concepts",
    "reference/api",
    "reference/cli",
    "integrations",
    "operations",
    "security",
    "troubleshooting",
    "tutorials",
    "faq",
];

/// (English, Chinese) pairs so titles and headings translate consistently.
const NOUNS: [(&str, &str); 40] = [
    ("alert", "告警"),
    ("dashboard", "仪表盘"),
    ("pipeline", "流水线"),
    ("cluster", "集群"),
    ("node", "节点"),
    ("log", "日志"),
    ("metric", "指标"),
    ("trace", "链路"),
    ("database", "数据库"),
    ("user", "用户"),
    ("role", "角色"),
    ("permission", "权限"),
    ("token", "令牌"),
    ("certificate", "证书"),
    ("webhook", "回调"),
    ("workspace", "工作空间"),
    ("project", "项目"),
    ("release", "版本"),
    ("index", "索引"),
    ("queue", "队列"),
    ("cache", "缓存"),
    ("bucket", "存储桶"),
    ("backup", "备份"),
    ("policy", "策略"),
    ("rule", "规则"),
    ("template", "模板"),
    ("agent", "采集器"),
    ("gateway", "网关"),
    ("endpoint", "端点"),
    ("session", "会话"),
    ("monitor", "监控器"),
    ("report", "报表"),
    ("schedule", "计划"),
    ("quota", "配额"),
    ("region", "地域"),
    ("namespace", "命名空间"),
    ("secret", "密钥"),
    ("integration", "集成"),
    ("notification", "通知"),
    ("audit log", "审计日志"),
];

const VERBS: [(&str, &str); 24] = [
    ("configure", "配置"),
    ("enable", "启用"),
    ("disable", "停用"),
    ("create", "创建"),
    ("delete", "删除"),
    ("update", "更新"),
    ("rotate", "轮换"),
    ("export", "导出"),
    ("import", "导入"),
    ("monitor", "监控"),
    ("migrate", "迁移"),
    ("troubleshoot", "排查"),
    ("secure", "加固"),
    ("scale", "扩容"),
    ("restore", "恢复"),
    ("share", "共享"),
    ("filter", "筛选"),
    ("tag", "标记"),
    ("archive", "归档"),
    ("verify", "验证"),
    ("schedule", "调度"),
    ("deploy", "部署"),
    ("audit", "审计"),
    ("connect", "连接"),
];

const ADJECTIVES: [(&str, &str); 16] = [
    ("default", "默认的"),
    ("custom", "自定义的"),
    ("global", "全局的"),
    ("shared", "共享的"),
    ("private", "私有的"),
    ("existing", "已有的"),
    ("new", "新的"),
    ("inactive", "未激活的"),
    ("critical", "关键的"),
    ("temporary", "临时的"),
    ("encrypted", "加密的"),
    ("regional", "区域级的"),
    ("read-only", "只读的"),
    ("scheduled", "定时的"),
    ("external", "外部的"),
    ("primary", "主要的"),
];

const EN_SUBJECTS: [&str; 10] = [
    "You",
    "Administrators",
    "Each team",
    "The agent",
    "The platform",
    "Workspace owners",
    "Operators",
    "The scheduler",
    "Every project",
    "Each service",
];
const EN_MODALS: [&str; 8] = [
    "can",
    "should",
    "must",
    "may",
    "will",
    "usually",
    "can always",
    "need to",
];
const EN_PLACES: [&str; 12] = [
    "in the console",
    "from the command line",
    "before the next release",
    "for every region",
    "without downtime",
    "during maintenance windows",
    "on the settings page",
    "after the upgrade",
    "in a staging workspace",
    "for audit purposes",
    "within a few minutes",
    "across all projects",
];
const EN_OPENERS: [&str; 10] = [
    "By default,",
    "In most cases,",
    "If needed,",
    "For example,",
    "Note that",
    "As a rule,",
    "In production,",
    "When possible,",
    "Optionally,",
    "Afterwards,",
];
const EN_REASONS: [&str; 8] = [
    "so that changes stay traceable",
    "to avoid losing data",
    "because limits apply per workspace",
    "which keeps costs predictable",
    "to reduce alert noise",
    "so that every team sees the same state",
    "because older clients ignore the field",
    "which makes rollbacks simple",
];

const ZH_SUBJECTS: [&str; 9] = [
    "您",
    "管理员",
    "每个团队",
    "采集器",
    "平台",
    "工作空间所有者",
    "运维人员",
    "调度器",
    "系统",
];
const ZH_MODALS: [&str; 8] = [
    "可以",
    "需要",
    "应当",
    "必须",
    "会",
    "通常会",
    "随时可以",
    "建议",
];
const ZH_PLACES: [&str; 12] = [
    "在控制台中",
    "通过命令行",
    "在下一次发布之前",
    "在每个地域",
    "在不中断服务的情况下",
    "在维护窗口内",
    "在设置页面",
    "在升级完成后",
    "在测试工作空间中",
    "出于审计目的",
    "在几分钟内",
    "在所有项目中",
];
const ZH_OPENERS: [&str; 10] = [
    "默认情况下，",
    "在大多数情况下，",
    "如有需要，",
    "例如，",
    "需要注意的是，",
    "一般来说，",
    "在生产环境中，",
    "如果条件允许，",
    "此外，",
    "完成之后，",
];
const ZH_REASONS: [&str; 8] = [
    "以便追踪每一次变更",
    "以避免数据丢失",
    "因为限额按工作空间计算",
    "这样可以使成本保持可预期",
    "以减少告警噪音",
    "以便所有团队看到相同的状态",
    "因为旧版本客户端会忽略该字段",
    "这样回滚会更加简单",
];

const INLINE_CODE: [&str; 14] = [
    "kbrel check",
    "config.yaml",
    "--dry-run",
    "retention_days",
    "GET /v1/projects",
    "true",
    "region: eu-west-1",
    "max_connections",
    "X-Request-Id",
    "agentctl status",
    "timeout",
    "/var/log/agent",
    "--force",
    "404",
];

// ---------------------------------------------------------------------------------------------
// Document metadata (a function of seed and index only, so links can name any target)

#[derive(Debug, Clone)]
struct Meta {
    idx: usize,
    section: &'static str,
    /// File stem without the index: `configure-alert-rules`.
    stem: String,
    en_title: String,
    zh_title: String,
    key: String,
    date: String,
}

impl Meta {
    /// Path relative to the language folder.
    fn path(&self) -> String {
        format!("{}/{}-{}.md", self.section, self.stem, self.idx)
    }

    fn title(&self, lang: &str) -> &str {
        if lang == "zh" {
            &self.zh_title
        } else {
            &self.en_title
        }
    }
}

fn pascal(words: &str) -> String {
    words
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            let first = cs
                .next()
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or_default();
            std::iter::once(first).chain(cs).collect::<String>()
        })
        .collect()
}

fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('y') {
        format!("{stem}ies")
    } else if noun.ends_with(['x', 's', 'h']) {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn capitalize(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + cs.as_str(),
        None => String::new(),
    }
}

fn meta(seed: u64, idx: usize) -> Meta {
    let mut r = Rng::derive(seed, STREAM_META, idx as u64);
    let section = SECTIONS[r.below(SECTIONS.len())];
    let (ev, zv) = VERBS[r.below(VERBS.len())];
    let (ea, za) = ADJECTIVES[r.below(ADJECTIVES.len())];
    let (en, zn) = NOUNS[r.below(NOUNS.len())];
    let (en2, zn2) = NOUNS[r.below(NOUNS.len())];
    let shape = r.below(4);
    let (en_title, zh_title, stem) = match shape {
        0 => (
            format!("{} {} {}", capitalize(ev), ea, plural(en)),
            format!("{zv}{za}{zn}"),
            format!("{ev}-{ea}-{}", plural(en)),
        ),
        1 => (
            format!("{} the {} {}", capitalize(ev), en, en2),
            format!("{zv}{zn}{zn2}"),
            format!("{ev}-{en}-{en2}"),
        ),
        2 => (
            format!("{} {} overview", capitalize(en), plural(en2)),
            format!("{zn}{zn2}概览"),
            format!("{en}-{}-overview", plural(en2)),
        ),
        _ => (
            format!("How to {ev} {ea} {}", plural(en)),
            format!("如何{zv}{za}{zn}"),
            format!("how-to-{ev}-{ea}-{}", plural(en)),
        ),
    };
    let stem = stem.replace(' ', "-");
    let key = format!("{}{}{}", pascal(section), pascal(&stem), idx);
    let date = format!("2026-{:02}-{:02}", r.range(1, 10), r.range(1, 28));
    Meta {
        idx,
        section,
        stem,
        en_title,
        zh_title,
        key,
        date,
    }
}

/// `from` and `to` are paths relative to the same language folder; the result is the
/// relative link from the first to the second (`../reference/api/x.md`, `y.md`).
fn relative_link(from: &str, to: &str) -> String {
    let from_dir: Vec<&str> = match from.rsplit_once('/') {
        Some((d, _)) => d.split('/').collect(),
        None => Vec::new(),
    };
    let to_parts: Vec<&str> = to.split('/').collect();
    let (to_dir, to_file) = to_parts.split_at(to_parts.len() - 1);
    let common = from_dir
        .iter()
        .zip(to_dir)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = String::new();
    for _ in common..from_dir.len() {
        out.push_str("../");
    }
    for d in &to_dir[common..] {
        out.push_str(d);
        out.push('/');
    }
    out.push_str(to_file[0]);
    out
}

// ---------------------------------------------------------------------------------------------
// Text

struct Writer<'a> {
    lang: &'a str,
    out: String,
}

impl Writer<'_> {
    fn zh(&self) -> bool {
        self.lang == "zh"
    }

    fn sentence(&mut self, r: &mut Rng) {
        let (_, zv) = VERBS[r.below(VERBS.len())];
        let (ev, _) = VERBS[r.below(VERBS.len())];
        let (ea, za) = ADJECTIVES[r.below(ADJECTIVES.len())];
        let (en, zn) = NOUNS[r.below(NOUNS.len())];
        let shape = r.below(6);
        let code = if r.chance(25) {
            Some(INLINE_CODE[r.below(INLINE_CODE.len())])
        } else {
            None
        };
        if self.zh() {
            let s = &mut self.out;
            match shape {
                0 => {
                    s.push_str(r.pick(&ZH_OPENERS));
                    s.push_str(r.pick(&ZH_SUBJECTS));
                    s.push_str(r.pick(&ZH_MODALS));
                    s.push_str(r.pick(&ZH_PLACES));
                    s.push_str(zv);
                    s.push_str(za);
                    s.push_str(zn);
                    s.push('，');
                    s.push_str(r.pick(&ZH_REASONS));
                }
                1 => {
                    s.push_str(zn);
                    s.push('的');
                    s.push_str(NOUNS[r.below(NOUNS.len())].1);
                    s.push_str("会在");
                    s.push_str(NOUNS[r.below(NOUNS.len())].1);
                    s.push_str(VERBS[r.below(VERBS.len())].1);
                    s.push_str("之后自动");
                    s.push_str(zv);
                }
                2 => {
                    s.push_str("如果");
                    s.push_str(za);
                    s.push_str(zn);
                    s.push_str("不可用，请先检查");
                    s.push_str(NOUNS[r.below(NOUNS.len())].1);
                    s.push_str("的状态；");
                    s.push_str(r.pick(&ZH_SUBJECTS));
                    s.push('也');
                    s.push_str(r.pick(&ZH_MODALS));
                    s.push_str(zv);
                    s.push_str("相关的");
                    s.push_str(NOUNS[r.below(NOUNS.len())].1);
                }
                3 => {
                    s.push_str("每个");
                    s.push_str(zn);
                    s.push_str("最多可以关联");
                    s.push_str(&r.range(2, 500).to_string());
                    s.push('个');
                    s.push_str(NOUNS[r.below(NOUNS.len())].1);
                    s.push_str("，超出限额后");
                    s.push_str(r.pick(&ZH_SUBJECTS));
                    s.push_str("需要联系管理员");
                }
                4 => {
                    s.push_str(r.pick(&ZH_PLACES));
                    s.push_str(zv);
                    s.push_str(zn);
                    s.push_str("时，");
                    s.push_str("平台会记录操作人、时间和变更内容，");
                    s.push_str(r.pick(&ZH_REASONS));
                }
                _ => {
                    s.push_str("注意：");
                    s.push_str(za);
                    s.push_str(zn);
                    s.push('在');
                    s.push_str(NOUNS[r.below(NOUNS.len())].1);
                    s.push_str("中只保留");
                    s.push_str(&r.range(3, 90).to_string());
                    s.push('天');
                }
            }
            if let Some(c) = code {
                s.push_str("，详见 `");
                s.push_str(c);
                s.push('`');
            }
            s.push('。');
        } else {
            let s = &mut self.out;
            match shape {
                0 => {
                    s.push_str(r.pick(&EN_OPENERS));
                    s.push(' ');
                    s.push_str(&r.pick(&EN_SUBJECTS).to_lowercase());
                    s.push(' ');
                    s.push_str(r.pick(&EN_MODALS));
                    s.push(' ');
                    s.push_str(ev);
                    s.push_str(" the ");
                    s.push_str(ea);
                    s.push(' ');
                    s.push_str(en);
                    s.push(' ');
                    s.push_str(r.pick(&EN_PLACES));
                    s.push_str(", ");
                    s.push_str(r.pick(&EN_REASONS));
                }
                1 => {
                    s.push_str("The ");
                    s.push_str(en);
                    s.push_str(" of each ");
                    s.push_str(NOUNS[r.below(NOUNS.len())].0);
                    s.push_str(" is updated automatically when you ");
                    s.push_str(ev);
                    s.push_str(" a ");
                    s.push_str(NOUNS[r.below(NOUNS.len())].0);
                }
                2 => {
                    s.push_str("If the ");
                    s.push_str(ea);
                    s.push(' ');
                    s.push_str(en);
                    s.push_str(" is unavailable, check the status of the ");
                    s.push_str(NOUNS[r.below(NOUNS.len())].0);
                    s.push_str(" first; ");
                    s.push_str(&r.pick(&EN_SUBJECTS).to_lowercase());
                    s.push(' ');
                    s.push_str(r.pick(&EN_MODALS));
                    s.push_str(" also ");
                    s.push_str(ev);
                    s.push_str(" related ");
                    s.push_str(&plural(NOUNS[r.below(NOUNS.len())].0));
                }
                3 => {
                    s.push_str("Each ");
                    s.push_str(en);
                    s.push_str(" can reference up to ");
                    s.push_str(&r.range(2, 500).to_string());
                    s.push(' ');
                    s.push_str(&plural(NOUNS[r.below(NOUNS.len())].0));
                    s.push_str("; beyond that limit, ");
                    s.push_str(&r.pick(&EN_SUBJECTS).to_lowercase());
                    s.push_str(" must contact an administrator");
                }
                4 => {
                    s.push_str("When you ");
                    s.push_str(ev);
                    s.push_str(" a ");
                    s.push_str(en);
                    s.push(' ');
                    s.push_str(r.pick(&EN_PLACES));
                    s.push_str(", the platform records who made the change and when, ");
                    s.push_str(r.pick(&EN_REASONS));
                }
                _ => {
                    s.push_str("Note: ");
                    s.push_str(ea);
                    s.push(' ');
                    s.push_str(&plural(en));
                    s.push_str(" are kept for ");
                    s.push_str(&r.range(3, 90).to_string());
                    s.push_str(" days in each ");
                    s.push_str(NOUNS[r.below(NOUNS.len())].0);
                }
            }
            if let Some(c) = code {
                s.push_str(" (see `");
                s.push_str(c);
                s.push_str("`)");
            }
            s.push('.');
        }
    }

    fn paragraph(&mut self, r: &mut Rng) {
        let n = r.range(2, 4);
        for i in 0..n {
            if i > 0 && !self.zh() {
                self.out.push(' ');
            }
            self.sentence(r);
        }
        self.out.push_str("\n\n");
    }

    fn heading(&mut self, level: usize, r: &mut Rng, step: usize) {
        let (ev, zv) = VERBS[r.below(VERBS.len())];
        let (ea, za) = ADJECTIVES[r.below(ADJECTIVES.len())];
        let (en, zn) = NOUNS[r.below(NOUNS.len())];
        self.out.push_str(if level == 2 { "## " } else { "### " });
        let text = match (self.zh(), level, r.below(3)) {
            (true, 3, _) => format!("第 {step} 步：{zv}{zn}"),
            (false, 3, _) => format!("Step {step}: {} the {en}", capitalize(ev)),
            (true, _, 0) => format!("{zv}{za}{zn}"),
            (true, _, 1) => format!("{zn}的限制"),
            (true, _, _) => format!("关于{zn}"),
            (false, _, 0) => format!("{} {ea} {}", capitalize(ev), plural(en)),
            (false, _, 1) => format!("Limits of {}", plural(en)),
            (false, _, _) => format!("About {}", plural(en)),
        };
        self.out.push_str(&text);
        self.out.push_str("\n\n");
    }

    fn list(&mut self, r: &mut Rng) {
        let n = r.range(3, 6);
        let ordered = r.chance(30);
        for i in 0..n {
            if ordered {
                self.out.push_str(&format!("{}. ", i + 1));
            } else {
                self.out.push_str("- ");
            }
            let (ev, zv) = VERBS[r.below(VERBS.len())];
            let (ea, za) = ADJECTIVES[r.below(ADJECTIVES.len())];
            let (en, zn) = NOUNS[r.below(NOUNS.len())];
            if self.zh() {
                if r.chance(40) {
                    self.out
                        .push_str(&format!("**{zn}**：{zv}{za}{zn}，{}", r.pick(&ZH_REASONS)));
                } else {
                    self.out
                        .push_str(&format!("{}{zv}{za}{zn}", r.pick(&ZH_PLACES)));
                }
                if r.chance(20) {
                    self.out.push_str(&format!(
                        "（`{}`）",
                        INLINE_CODE[r.below(INLINE_CODE.len())]
                    ));
                }
                self.out.push('；');
            } else {
                if r.chance(40) {
                    self.out.push_str(&format!(
                        "**{}**: {ev} the {ea} {en} {}",
                        capitalize(en),
                        r.pick(&EN_REASONS)
                    ));
                } else {
                    self.out.push_str(&format!(
                        "{} the {ea} {en} {}",
                        capitalize(ev),
                        r.pick(&EN_PLACES)
                    ));
                }
                if r.chance(20) {
                    self.out
                        .push_str(&format!(" (`{}`)", INLINE_CODE[r.below(INLINE_CODE.len())]));
                }
            }
            self.out.push('\n');
        }
        self.out.push('\n');
    }

    fn table(&mut self, r: &mut Rng) {
        let rows = r.range(3, 6);
        if self.zh() {
            self.out
                .push_str("| 参数 | 类型 | 默认值 | 说明 |\n| --- | --- | --- | --- |\n");
        } else {
            self.out.push_str(
                "| Parameter | Type | Default | Description |\n| --- | --- | --- | --- |\n",
            );
        }
        for _ in 0..rows {
            let (en, zn) = NOUNS[r.below(NOUNS.len())];
            let (en2, _) = NOUNS[r.below(NOUNS.len())];
            let (ev, zv) = VERBS[r.below(VERBS.len())];
            let param = format!("{}_{}", en.replace(' ', "_"), en2.replace(' ', "_"));
            let (ty, default) = match r.below(4) {
                0 => ("string", format!("\"{}\"", ADJECTIVES[r.below(16)].0)),
                1 => ("integer", r.range(1, 3600).to_string()),
                2 => (
                    "boolean",
                    if r.chance(50) { "true" } else { "false" }.to_string(),
                ),
                _ => ("duration", format!("{}s", r.range(5, 600))),
            };
            let desc = if self.zh() {
                format!("{zv}{zn}时使用的{}", NOUNS[r.below(NOUNS.len())].1)
            } else {
                format!(
                    "The {} used to {ev} the {en}",
                    NOUNS[r.below(NOUNS.len())].0
                )
            };
            self.out
                .push_str(&format!("| `{param}` | {ty} | `{default}` | {desc} |\n"));
        }
        self.out.push('\n');
    }

    /// Code is ASCII and identical in every language.
    fn code(&mut self, r: &mut Rng) {
        let (en, _) = NOUNS[r.below(NOUNS.len())];
        let name = en.replace(' ', "-");
        match r.below(3) {
            0 => {
                self.out.push_str("```yaml\n");
                self.out.push_str(&format!("{name}:\n"));
                for _ in 0..r.range(2, 6) {
                    let (k, _) = NOUNS[r.below(NOUNS.len())];
                    let k = k.replace(' ', "_");
                    match r.below(3) {
                        0 => self
                            .out
                            .push_str(&format!("  {k}_limit: {}\n", r.range(1, 1000))),
                        1 => self
                            .out
                            .push_str(&format!("  {k}_enabled: {}\n", r.chance(50))),
                        _ => self
                            .out
                            .push_str(&format!("  {k}_mode: {}\n", ADJECTIVES[r.below(16)].0)),
                    }
                }
                if r.chance(50) {
                    self.out
                        .push_str("  regions:\n    - eu-west-1\n    - ap-southeast-1\n");
                }
            }
            1 => {
                self.out.push_str("```bash\n");
                for _ in 0..r.range(1, 4) {
                    let (v, _) = VERBS[r.below(VERBS.len())];
                    match r.below(3) {
                        0 => self.out.push_str(&format!(
                            "agentctl {v} {name} --region eu-west-{} --wait\n",
                            r.range(1, 3)
                        )),
                        1 => self.out.push_str(&format!(
                            "curl -sS -X POST https://api.example.com/v1/{name}s/{} -H 'Authorization: Bearer $TOKEN'\n",
                            r.range(100, 99999)
                        )),
                        _ => self.out.push_str(&format!(
                            "export {}_TIMEOUT={}\n",
                            name.to_uppercase().replace('-', "_"),
                            r.range(5, 300)
                        )),
                    }
                }
            }
            _ => {
                self.out.push_str("```json\n{\n");
                self.out.push_str(&format!(
                    "  \"id\": \"{name}-{}\",\n",
                    r.range(1000, 999_999)
                ));
                self.out.push_str(&format!(
                    "  \"{}\": {},\n",
                    NOUNS[r.below(NOUNS.len())].0.replace(' ', "_"),
                    r.range(0, 10_000)
                ));
                self.out.push_str(&format!(
                    "  \"status\": \"{}\",\n",
                    ["active", "pending", "disabled"][r.below(3)]
                ));
                self.out
                    .push_str(&format!("  \"enabled\": {}\n}}\n", r.chance(70)));
            }
        }
        self.out.push_str("```\n\n");
    }

    fn links(&mut self, from: &str, targets: &[Meta]) {
        if targets.is_empty() {
            return;
        }
        self.out.push_str(if self.zh() {
            "## 相关文档\n\n"
        } else {
            "## Related documents\n\n"
        });
        for t in targets {
            self.out.push_str(&format!(
                "- [{}]({})\n",
                t.title(self.lang),
                relative_link(from, &t.path())
            ));
        }
        self.out.push('\n');
    }
}

fn yaml_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn front_matter(m: &Meta, lang: &str, path: &str, date: &str) -> String {
    let description = if lang == "zh" {
        format!("本文介绍{}的步骤、参数与常见问题。", m.zh_title)
    } else {
        format!("{}: steps, parameters and common questions.", m.en_title)
    };
    format!(
        "---\ntitle: {}\ndescription: {}\ndate: {date}\nurl: https://docs.example.com/{lang}/{}\nkey: {}\n---\n",
        yaml_quote(m.title(lang)),
        yaml_quote(&description),
        path.strip_suffix(".md").unwrap_or(path),
        m.key
    )
}

/// The marker that makes every body unique: the document's index.
fn article_id(lang: &str, idx: usize, date: &str) -> String {
    if lang == "zh" {
        format!("> 文章编号：KB-{idx:06}。最近审阅：{date}。\n\n")
    } else {
        format!("> Article ID: KB-{idx:06}. Last reviewed: {date}.\n\n")
    }
}

/// One document in one language. `links` are the targets (same language, same paths in
/// every language).
fn render(seed: u64, m: &Meta, lang: &str, links: &[Meta]) -> String {
    let path = m.path();
    let mut w = Writer {
        lang,
        out: String::with_capacity(6 * 1024),
    };
    w.out.push_str(&front_matter(m, lang, &path, &m.date));
    w.out.push_str(&format!("# {}\n\n", m.title(lang)));
    w.out.push_str(&article_id(lang, m.idx, &m.date));
    // The structure is drawn from one generator, the text of each block from its own, so
    // every language has the same outline, code and links.
    let mut plan = Rng::derive(seed, STREAM_BODY, m.idx as u64);
    let text = |block: u64| Rng::derive(seed ^ block, STREAM_BODY, m.idx as u64);
    w.paragraph(&mut text(1));
    let sections = plan.range(1, 4);
    let mut block = 10u64;
    for _ in 0..sections {
        block += 1;
        w.heading(2, &mut text(block), 0);
        block += 1;
        w.paragraph(&mut text(block));
        let subs = plan.range(1, 3);
        for step in 1..=subs {
            block += 1;
            w.heading(3, &mut text(block), step);
            block += 1;
            w.paragraph(&mut text(block));
            block += 1;
            match plan.below(5) {
                0 => w.list(&mut text(block)),
                1 => w.table(&mut text(block)),
                2 | 3 => w.code(&mut text(block)),
                _ => w.paragraph(&mut text(block)),
            }
        }
    }
    w.links(&path, links);
    w.out
}

/// Link targets of document `idx` among `0..n`: a few others, some in the same section.
fn link_targets(seed: u64, idx: usize, n: usize, metas: &[Meta]) -> Vec<usize> {
    if n < 2 {
        return Vec::new();
    }
    let mut r = Rng::derive(seed, STREAM_BODY, (idx as u64) | (1 << 62));
    let count = r.range(2, 4).min(n - 1);
    let mut out: Vec<usize> = Vec::with_capacity(count);
    let mut tries = 0;
    while out.len() < count && tries < 50 {
        tries += 1;
        // Neighbours are often in the same section; anything else is random.
        let t = if r.chance(40) {
            (idx + 1 + r.below(20)) % n
        } else {
            r.below(n)
        };
        if t != idx && !out.contains(&t) && metas[t].path() != metas[idx].path() {
            out.push(t);
        }
    }
    out
}

/// Generate a knowledge base: `<lang>/<section>/<topic>-<n>.md` for every language.
/// Sorted by language (spec order) then path.
pub fn generate(spec: &Spec) -> Vec<SourceFile> {
    let n = spec.docs_per_lang;
    let metas: Vec<Meta> = (0..n).map(|i| meta(spec.seed, i)).collect();
    let mut out = Vec::with_capacity(n * spec.languages.len());
    for lang in &spec.languages {
        let mut files: Vec<SourceFile> = metas
            .iter()
            .map(|m| {
                let links: Vec<Meta> = link_targets(spec.seed, m.idx, n, &metas)
                    .into_iter()
                    .map(|t| metas[t].clone())
                    .collect();
                SourceFile {
                    path: format!("{lang}/{}", m.path()),
                    bytes: render(spec.seed, m, lang, &links).into_bytes(),
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        out.extend(files);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Evolution

/// The index `n` of a generated file name `…-<n>.md`.
fn index_of(path: &str) -> Option<usize> {
    let stem = path.strip_suffix(".md")?;
    stem.rsplit_once('-')?.1.parse().ok()
}

/// Markdown links `[text](target)` whose target is a relative `.md` path: (start of `[`,
/// end after `)`, text range, target).
fn md_links(text: &str) -> Vec<(usize, usize, std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(p) = text[from..].find("](") {
        let mid = from + p;
        from = mid + 2;
        let Some(close) = text[mid + 2..].find(')') else {
            break;
        };
        let target = &text[mid + 2..mid + 2 + close];
        let Some(open) = text[..mid].rfind('[') else {
            continue;
        };
        if text[open..mid].contains('\n')
            || target.contains("://")
            || target.starts_with('#')
            || !target.split('#').next().unwrap_or("").ends_with(".md")
        {
            continue;
        }
        let end = mid + 2 + close + 1;
        debug_assert!(bytes[end - 1] == b')');
        out.push((open, end, open + 1..mid, target.to_string()));
        from = end;
    }
    out
}

fn edit_lines(text: &str, lang: &str, r: &mut Rng, date: &str) -> String {
    let body_start = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.find("\n---\n").map(|i| 4 + i + 5))
        .unwrap_or(0);
    let (fm, body) = text.split_at(body_start);
    let fm: String = fm
        .lines()
        .map(|l| {
            if l.starts_with("date: ") {
                format!("date: {date}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    // Prose lines outside code fences are candidates for an edit.
    let mut lines: Vec<String> = body.split('\n').map(str::to_string).collect();
    let mut in_code = false;
    let mut prose = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let plain = !l.is_empty() && !l.starts_with(['#', '|', '>', '-', '[']) && !in_code;
        if plain && !l.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            prose.push(i);
        }
    }
    let edits = r.range(1, 3).min(prose.len());
    let mut w = Writer {
        lang,
        out: String::new(),
    };
    for _ in 0..edits {
        let i = prose[r.below(prose.len())];
        w.out.clear();
        match r.below(3) {
            // Rewrite the line.
            0 => {
                for k in 0..r.range(2, 4) {
                    if k > 0 && lang != "zh" {
                        w.out.push(' ');
                    }
                    w.sentence(r);
                }
                lines[i] = w.out.clone();
            }
            // Append a sentence.
            1 => {
                w.sentence(r);
                let sep = if lang == "zh" { "" } else { " " };
                lines[i] = format!("{}{sep}{}", lines[i], w.out);
            }
            // Insert a new paragraph after it.
            _ => {
                w.paragraph(r);
                let para = w.out.trim_end().to_string();
                lines[i] = format!("{}\n\n{para}", lines[i]);
            }
        }
    }
    fm + &lines.join("\n")
}

/// The next version of a generated knowledge base (see [`EvolveSpec`]).
pub fn evolve(files: &[SourceFile], spec: &EvolveSpec) -> Vec<SourceFile> {
    evolve_with_stats(files, spec).0
}

/// [`evolve`], also returning what it did.
pub fn evolve_with_stats(
    files: &[SourceFile],
    spec: &EvolveSpec,
) -> (Vec<SourceFile>, EvolveStats) {
    // Documents by path relative to the language folder; languages in first-seen order.
    let mut languages: Vec<String> = Vec::new();
    let mut by_doc: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut others: Vec<SourceFile> = Vec::new();
    for f in files {
        let Some((lang, rest)) = f.path.split_once('/') else {
            others.push(f.clone());
            continue;
        };
        let Ok(text) = std::str::from_utf8(&f.bytes) else {
            others.push(f.clone());
            continue;
        };
        if !rest.ends_with(".md") {
            others.push(f.clone());
            continue;
        }
        if !languages.iter().any(|l| l == lang) {
            languages.push(lang.to_string());
        }
        by_doc
            .entry(rest.to_string())
            .or_default()
            .insert(lang.to_string(), text.to_string());
    }
    let ids: Vec<String> = by_doc.keys().cloned().collect();
    let n = ids.len();
    let mut stats = EvolveStats {
        documents: n,
        ..EvolveStats::default()
    };
    let mut r = Rng::derive(spec.seed, STREAM_EVOLVE, n as u64);
    let count = |pct: f64| ((n as f64) * pct / 100.0).round() as usize;

    // Pick disjoint sets: a random permutation, cut in slices.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = r.below(i + 1);
        order.swap(i, j);
    }
    let n_removed = count(spec.removed_pct).min(n.saturating_sub(1));
    let n_renamed = count(spec.renamed_pct).min(n - n_removed);
    let n_changed = count(spec.changed_pct).min(n - n_removed - n_renamed);
    let removed: BTreeSet<usize> = order[..n_removed].iter().copied().collect();
    let renamed: Vec<usize> = order[n_removed..n_removed + n_renamed].to_vec();
    let changed: Vec<usize> =
        order[n_removed + n_renamed..n_removed + n_renamed + n_changed].to_vec();
    let date = format!("2026-{:02}-{:02}", r.range(11, 12), r.range(1, 28));

    // Final path of every surviving document.
    let taken: BTreeSet<String> = ids.iter().cloned().collect();
    let mut new_path: BTreeMap<String, String> = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for &i in &renamed {
        let old = &ids[i];
        let idx = index_of(old).unwrap_or(i);
        let mut tries = 0u64;
        loop {
            let m = meta(spec.seed ^ (tries << 32) ^ 0x5EED, idx);
            let p = format!("{}/{}-{}.md", m.section, m.stem, idx);
            tries += 1;
            if (p != *old && !taken.contains(&p) && !used.contains(&p)) || tries > 20 {
                if p != *old && !taken.contains(&p) && !used.contains(&p) {
                    used.insert(p.clone());
                    new_path.insert(old.clone(), p);
                    stats.renamed += 1;
                }
                break;
            }
        }
    }
    let source = spec.source_language.as_str();
    let mut out_docs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let changed_set: BTreeMap<usize, bool> = changed
        .iter()
        .map(|&i| (i, r.below(10_000) < (spec.source_only_pct * 100.0) as usize))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        if removed.contains(&i) {
            stats.removed += 1;
            continue;
        }
        let langs = &by_doc[id];
        let dest = new_path.get(id).cloned().unwrap_or_else(|| id.clone());
        let mut texts = BTreeMap::new();
        let edit = changed_set.get(&i);
        match edit {
            Some(true) => stats.edited_source_only += 1,
            Some(false) => stats.edited += 1,
            None => {}
        }
        for (lang, text) in langs {
            let mut t = text.clone();
            if let Some(&source_only) = edit
                && (!source_only || lang == source)
            {
                let mut er = Rng::derive(spec.seed, STREAM_EVOLVE, ((i as u64) << 8) | 1);
                t = edit_lines(&t, lang, &mut er, &date);
            }
            if dest != *id {
                let old_url = format!("/{lang}/{}\n", id.strip_suffix(".md").unwrap_or(id));
                let new_url = format!("/{lang}/{}\n", dest.strip_suffix(".md").unwrap_or(&dest));
                t = t.replacen(&old_url, &new_url, 1);
            }
            texts.insert(lang.clone(), t);
        }
        out_docs.insert(id.clone(), texts);
    }

    // New documents: indices after the highest one, linking to surviving documents.
    let n_added = count(spec.added_pct);
    let max_idx = ids
        .iter()
        .filter_map(|p| index_of(p))
        .max()
        .map_or(0, |m| m + 1);
    let survivors: Vec<String> = out_docs.keys().cloned().collect();
    let mut added: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut k = 0;
    while stats.added < n_added && k < n_added * 4 + 8 {
        let idx = max_idx + k;
        k += 1;
        let m = meta(spec.seed, idx);
        let p = m.path();
        if taken.contains(&p) || used.contains(&p) {
            continue;
        }
        let mut lr = Rng::derive(spec.seed, STREAM_EVOLVE, (idx as u64) << 8 | 2);
        let mut link_ids: Vec<&String> = Vec::new();
        for _ in 0..lr.range(2, 4) {
            if survivors.is_empty() {
                break;
            }
            let t = &survivors[lr.below(survivors.len())];
            if !link_ids.contains(&t) {
                link_ids.push(t);
            }
        }
        let mut texts = BTreeMap::new();
        for lang in &languages {
            // Link targets as metas carrying their current title and final path.
            let links: Vec<Meta> = link_ids
                .iter()
                .map(|id| {
                    let text = out_docs[*id]
                        .get(lang)
                        .or_else(|| out_docs[*id].values().next());
                    let title = text
                        .and_then(|t| title_of(t))
                        .unwrap_or_else(|| (*id).clone());
                    let dest = new_path.get(*id).unwrap_or(id);
                    target_meta(dest, title)
                })
                .collect();
            texts.insert(lang.clone(), render(spec.seed, &m, lang, &links));
        }
        used.insert(p.clone());
        added.insert(p, texts);
        stats.added += 1;
    }

    // Rewrite links from their old paths to the final ones; unlink removed targets.
    let removed_ids: BTreeSet<&str> = removed.iter().map(|&i| ids[i].as_str()).collect();
    let mut result: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (id, texts) in out_docs {
        let dest = new_path.get(&id).cloned().unwrap_or_else(|| id.clone());
        let mut relinked = false;
        let mut new_texts = BTreeMap::new();
        for (lang, text) in texts {
            let links = md_links(&text);
            let mut t = String::with_capacity(text.len());
            let mut last = 0;
            for (start, end, label, target) in links {
                let (tpath, frag) = match target.split_once('#') {
                    Some((p, f)) => (p.to_string(), format!("#{f}")),
                    None => (target.clone(), String::new()),
                };
                let Some(resolved) = resolve_relative(&format!("{lang}/{id}"), &tpath) else {
                    continue;
                };
                let Some(rel) = resolved.strip_prefix(&format!("{lang}/")) else {
                    continue;
                };
                if removed_ids.contains(rel) {
                    t.push_str(&text[last..start]);
                    t.push_str(&text[label.clone()]);
                    last = end;
                    relinked = true;
                    continue;
                }
                let final_target = new_path.get(rel).map(String::as_str).unwrap_or(rel);
                let link = relative_link(&dest, final_target) + &frag;
                if link != target {
                    t.push_str(&text[last..start]);
                    t.push_str(&format!("[{}]({link})", &text[label.clone()]));
                    last = end;
                    if dest == id {
                        relinked = true;
                    }
                }
            }
            t.push_str(&text[last..]);
            new_texts.insert(lang, t);
        }
        if relinked && !changed_set.contains_key(&ids.binary_search(&id).unwrap_or(usize::MAX)) {
            stats.relinked += 1;
        }
        result.insert(dest, new_texts);
    }
    result.extend(added);

    let mut out: Vec<SourceFile> = Vec::with_capacity(result.len() * languages.len());
    for lang in &languages {
        for (path, texts) in &result {
            if let Some(t) = texts.get(lang) {
                out.push(SourceFile {
                    path: format!("{lang}/{path}"),
                    bytes: t.clone().into_bytes(),
                });
            }
        }
    }
    out.extend(others);
    (out, stats)
}

fn title_of(text: &str) -> Option<String> {
    let line = text.lines().take(12).find(|l| l.starts_with("title: "))?;
    let v = line["title: ".len()..].trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    Some(v.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// A stand-in [`Meta`] for a link target that only needs a title and a path.
fn target_meta(path: &str, title: String) -> Meta {
    let (section, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem_idx = file.strip_suffix(".md").unwrap_or(file);
    let (stem, idx) = match stem_idx.rsplit_once('-') {
        Some((s, i)) if i.parse::<usize>().is_ok() => (s.to_string(), i.parse().unwrap_or(0)),
        _ => (stem_idx.to_string(), 0),
    };
    let section: &'static str = SECTIONS
        .iter()
        .find(|s| **s == section)
        .copied()
        .unwrap_or("guides");
    Meta {
        idx,
        section,
        stem,
        en_title: title.clone(),
        zh_title: title,
        key: String::new(),
        date: String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Output

/// Write `files` below `dir` (creating folders). The only I/O in this module.
pub fn write_to(dir: &Path, files: &[SourceFile]) -> std::io::Result<()> {
    let mut made: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent()
            && made.insert(parent.to_path_buf())
        {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.bytes)?;
    }
    Ok(())
}

/// Turn `dir`, which holds `old` (as written by [`write_to`]), into `new`: write only the files
/// that are new or whose bytes changed, delete the files `new` no longer has (and folders left
/// empty by that). Afterwards `dir` holds exactly what `write_to(dir, new)` would write into an
/// empty folder. Returns (files written, files deleted).
pub fn update_to(
    dir: &Path,
    old: &[SourceFile],
    new: &[SourceFile],
) -> std::io::Result<(usize, usize)> {
    let before: BTreeMap<&str, &[u8]> = old
        .iter()
        .map(|f| (f.path.as_str(), &f.bytes[..]))
        .collect();
    let after: BTreeSet<&str> = new.iter().map(|f| f.path.as_str()).collect();
    let mut deleted = 0;
    for f in old {
        if after.contains(f.path.as_str()) {
            continue;
        }
        let path = dir.join(&f.path);
        std::fs::remove_file(&path)?;
        deleted += 1;
        // Remove folders the deletion left empty, up to (not including) `dir`.
        let mut parent = path.parent();
        while let Some(p) = parent {
            if p == dir || std::fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
    }
    let changed: Vec<SourceFile> = new
        .iter()
        .filter(|f| before.get(f.path.as_str()) != Some(&&f.bytes[..]))
        .cloned()
        .collect();
    write_to(dir, &changed)?;
    Ok((changed.len(), deleted))
}

/// Every file below `dir` (relative path → its bytes) and every folder (→ `None`, so an
/// empty one shows): what tests compare a written or updated folder with.
pub fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<String, Option<Vec<u8>>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p)?));
            }
        }
    }
    Ok(out)
}

/// A sha256 (lowercase hex) over what [`write_to`] would write: every file's path and bytes in
/// order, after `config` (the `kbrel.toml` text). Equal digests mean equal output, so a cached
/// copy can be checked without writing or reading it.
pub fn digest(config: &str, files: &[SourceFile]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(config.as_bytes());
    for f in files {
        field(f.path.as_bytes());
        field(&f.bytes);
    }
    crate::hash::hex(&h.finalize())
}

/// The `kbrel.toml` for a generated knowledge base written under `content/`.
pub fn config_toml(spec: &Spec) -> String {
    let langs = spec
        .languages
        .iter()
        .map(|l| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let globals = spec
        .languages
        .iter()
        .map(|l| format!("{l} = \"SyntheticKb{}\"", pascal(l)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "# Generated by kbrel-synth: a synthetic bilingual knowledge base for benchmarks.\n\
         [package]\n\
         name = \"synthetic-kb\"\n\
         description = \"Synthetic bilingual knowledge base generated by kbrel-synth.\"\n\
         license = \"MIT\"\n\
         \n\
         [content]\n\
         root = \"content\"\n\
         languages = [{langs}]\n\
         source_language = \"{}\"\n\
         pairing = \"path\"\n\
         base_url = \"https://docs.example.com/{{lang}}/\"\n\
         required_fields = [\"title\", \"description\", \"date\", \"url\"]\n\
         \n\
         [bundle]\n\
         globals = {{ {globals} }}\n\
         \n\
         [registry]\n\
         dir = \"releases\"\n\
         gzip_level = 6\n",
        spec.languages.first().map_or("en", String::as_str)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize, seed: u64) -> Spec {
        Spec {
            docs_per_lang: n,
            seed,
            languages: vec!["en".into(), "zh".into()],
        }
    }

    fn text(f: &SourceFile) -> &str {
        std::str::from_utf8(&f.bytes).unwrap()
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = generate(&spec(60, 7));
        let b = generate(&spec(60, 7));
        assert_eq!(a.len(), 120);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.path == y.path && x.bytes == y.bytes)
        );
        let c = generate(&spec(60, 8));
        assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
        let ea = evolve(&a, &EvolveSpec::default());
        let eb = evolve(&b, &EvolveSpec::default());
        assert!(
            ea.iter()
                .zip(&eb)
                .all(|(x, y)| x.path == y.path && x.bytes == y.bytes)
        );
    }

    #[test]
    fn sizes_and_shape() {
        let files = generate(&spec(400, 1));
        for lang in ["en", "zh"] {
            let docs: Vec<&SourceFile> = files
                .iter()
                .filter(|f| f.path.starts_with(&format!("{lang}/")))
                .collect();
            assert_eq!(docs.len(), 400);
            let avg = docs.iter().map(|f| f.bytes.len()).sum::<usize>() / docs.len();
            assert!((3000..=6000).contains(&avg), "{lang} average {avg}");
            let min = docs.iter().map(|f| f.bytes.len()).min().unwrap();
            let max = docs.iter().map(|f| f.bytes.len()).max().unwrap();
            assert!(max > min * 2, "sizes vary: {min}..{max}");
        }
        let zh = files.iter().find(|f| f.path.starts_with("zh/")).unwrap();
        let t = text(zh);
        assert!(t.contains('，') && t.contains('。'));
        assert!(
            t.chars()
                .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                .count()
                > 300
        );
        for needle in ["\n## ", "\n### ", "```", "](", "`"] {
            assert!(
                files.iter().filter(|f| text(f).contains(needle)).count() > 300,
                "{needle}"
            );
        }
        assert!(files.iter().any(|f| text(f).contains("\n| ")));
        assert!(files.iter().any(|f| text(f).contains("\n- ")));
    }

    #[test]
    fn front_matter_and_paths() {
        let files = generate(&spec(200, 3));
        let mut keys = BTreeSet::new();
        let en: BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.path.strip_prefix("en/"))
            .collect();
        let zh: BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.path.strip_prefix("zh/"))
            .collect();
        assert_eq!(en, zh);
        assert_eq!(en.len(), 200);
        for f in &files {
            let t = text(f);
            let fm = crate::content::raw_front_matter(t);
            for field in ["title", "description", "date", "url", "key"] {
                assert!(fm.contains_key(field), "{} lacks {field}", f.path);
            }
            let (lang, rest) = f.path.split_once('/').unwrap();
            assert_eq!(
                fm["url"].raw,
                format!(
                    "https://docs.example.com/{lang}/{}",
                    rest.strip_suffix(".md").unwrap()
                )
            );
            let key = &fm["key"].raw;
            assert!(crate::npm::is_js_identifier(key) && key.starts_with(char::is_uppercase));
            if lang == "en" {
                assert!(keys.insert(key.clone()), "duplicate key {key}");
            }
        }
    }

    fn assert_links_resolve(files: &[SourceFile]) {
        let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let mut n = 0;
        for f in files {
            for (_, _, _, target) in md_links(text(f)) {
                let resolved = resolve_relative(&f.path, &target).unwrap();
                assert!(paths.contains(resolved.as_str()), "{}: {target}", f.path);
                n += 1;
            }
        }
        assert!(n > files.len(), "{n} links");
    }

    #[test]
    fn links_resolve_and_bodies_unique() {
        let files = generate(&spec(300, 5));
        assert_links_resolve(&files);
        let mut bodies = BTreeSet::new();
        for f in &files {
            assert!(bodies.insert(crate::content::body_of(text(f)).to_string()));
        }
    }

    #[test]
    fn update_to_equals_a_fresh_write() {
        let v1 = generate(&spec(300, 21));
        // Removals and renames too, so files and whole folders disappear.
        let es = EvolveSpec {
            seed: 22,
            changed_pct: 4.0,
            added_pct: 6.0,
            removed_pct: 3.0,
            renamed_pct: 3.0,
            ..EvolveSpec::default()
        };
        let v2 = evolve(&v1, &es);
        let v3 = evolve(&v2, &EvolveSpec { seed: 23, ..es });
        let tmp = tempfile::tempdir().unwrap();
        let (inc, fresh) = (tmp.path().join("inc"), tmp.path().join("fresh"));
        write_to(&inc, &v1).unwrap();
        let (written, deleted) = update_to(&inc, &v1, &v2).unwrap();
        // Edits, additions, renames and the links rewritten to follow them: far from all.
        assert!(
            written > 0 && written < v2.len() / 2,
            "{written} of {}",
            v2.len()
        );
        assert!(deleted > 0, "{deleted}");
        write_to(&fresh, &v2).unwrap();
        assert_eq!(read_tree(&inc).unwrap(), read_tree(&fresh).unwrap());
        update_to(&inc, &v2, &v3).unwrap();
        let fresh3 = tmp.path().join("fresh3");
        write_to(&fresh3, &v3).unwrap();
        assert_eq!(read_tree(&inc).unwrap(), read_tree(&fresh3).unwrap());
        // Nothing to do when nothing changed.
        assert_eq!(update_to(&inc, &v3, &v3).unwrap(), (0, 0));
        // A folder emptied by a removal is removed too.
        let file = |path: &str| SourceFile {
            path: path.into(),
            bytes: b"x".to_vec(),
        };
        let d = tmp.path().join("empty");
        write_to(&d, &[file("en/faq/x.md")]).unwrap();
        update_to(&d, &[file("en/faq/x.md")], &[file("en/y.md")]).unwrap();
        assert!(!d.join("en/faq").exists() && d.join("en/y.md").exists());
    }

    #[test]
    fn digest_tells_outputs_apart() {
        let s = spec(50, 4);
        let (a, cfg) = (generate(&s), config_toml(&s));
        assert_eq!(digest(&cfg, &a), digest(&cfg, &generate(&s)));
        assert_eq!(digest(&cfg, &a).len(), 64);
        assert_ne!(digest(&cfg, &a), digest(&cfg, &generate(&spec(50, 5))));
        assert_ne!(
            digest(&cfg, &a),
            digest(&cfg, &evolve(&a, &EvolveSpec::default()))
        );
        assert_ne!(digest(&cfg, &a), digest("", &a));
        // Moving bytes between a path and its content changes the digest.
        let f = |p: &str, b: &[u8]| SourceFile {
            path: p.into(),
            bytes: b.to_vec(),
        };
        assert_ne!(digest("", &[f("ab", b"c")]), digest("", &[f("a", b"bc")]));
    }

    #[test]
    fn relative_links() {
        assert_eq!(relative_link("guides/a.md", "guides/b.md"), "b.md");
        assert_eq!(relative_link("guides/a.md", "faq/b.md"), "../faq/b.md");
        assert_eq!(
            relative_link("guides/advanced/a.md", "reference/api/b.md"),
            "../../reference/api/b.md"
        );
        assert_eq!(
            relative_link("guides/a.md", "guides/advanced/b.md"),
            "advanced/b.md"
        );
        assert_eq!(
            relative_link("guides/advanced/a.md", "guides/b.md"),
            "../b.md"
        );
    }

    #[test]
    fn evolve_stats_and_validity() {
        let v1 = generate(&spec(1000, 11));
        let es = EvolveSpec {
            seed: 12,
            changed_pct: 10.0,
            ..EvolveSpec::default()
        };
        let (v2, st) = evolve_with_stats(&v1, &es);
        assert_eq!(st.documents, 1000);
        assert_eq!(st.edited + st.edited_source_only, 100);
        assert!((10..=35).contains(&st.edited_source_only), "{st:?}");
        assert_eq!(st.removed, 5);
        assert_eq!(st.renamed, 5);
        assert_eq!(st.added, 10);
        assert_eq!(v2.len(), 2 * (1000 - 5 + 10));
        assert_links_resolve(&v2);

        // Same paths in both languages; en changed ≈ requested share (+ relinked docs).
        let old: BTreeMap<&str, &[u8]> =
            v1.iter().map(|f| (f.path.as_str(), &f.bytes[..])).collect();
        let en_changed = v2
            .iter()
            .filter(|f| f.path.starts_with("en/"))
            .filter(|f| old.get(f.path.as_str()).is_some_and(|b| *b != &f.bytes[..]))
            .count();
        let zh_changed = v2
            .iter()
            .filter(|f| f.path.starts_with("zh/"))
            .filter(|f| old.get(f.path.as_str()).is_some_and(|b| *b != &f.bytes[..]))
            .count();
        assert!(
            (100..=100 + st.relinked + 5).contains(&en_changed),
            "{en_changed} {st:?}"
        );
        assert!(
            zh_changed < en_changed,
            "drift: zh {zh_changed} < en {en_changed}"
        );
        let en: BTreeSet<&str> = v2
            .iter()
            .filter_map(|f| f.path.strip_prefix("en/"))
            .collect();
        let zh: BTreeSet<&str> = v2
            .iter()
            .filter_map(|f| f.path.strip_prefix("zh/"))
            .collect();
        assert_eq!(en, zh);
        // Unique bodies and keys survive evolution; a second step still works.
        let bodies: BTreeSet<&str> = v2
            .iter()
            .filter(|f| f.path.starts_with("en/"))
            .map(|f| crate::content::body_of(text(f)))
            .collect();
        assert_eq!(bodies.len(), en.len());
        let v3 = evolve(&v2, &EvolveSpec { seed: 13, ..es });
        assert_links_resolve(&v3);
    }
}

//! `/diff/<from>...<to>`: the documents that changed between two versions, and the same diff as a patch.

use super::*;

/// One document in one language that differs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<'a> {
    lang: &'a str,
    /// The id it is grouped under (the newer id, or the old one for removals).
    group: &'a str,
    status: ChangeStatus,
    old: Option<&'a ManifestDoc>,
    new: Option<&'a ManifestDoc>,
    /// Line counts, when known without reading texts (from the release's stored diff).
    counts: Option<(u64, u64)>,
}

impl Entry<'_> {
    fn path(&self) -> &str {
        &self.new.or(self.old).expect("an entry has a side").path
    }
    fn paths(&self) -> Vec<String> {
        let mut v = vec![format!("{}/{}", self.lang, self.path())];
        if let (Some(o), Some(n)) = (self.old, self.new)
            && o.path != n.path
        {
            v.push(format!("{}/{}", self.lang, o.path));
        }
        v
    }
}

pub(super) type ByKey<'a> = HashMap<(&'a str, &'a str), &'a ManifestDoc>;

pub(super) fn by_key(docs: &[ManifestDoc]) -> ByKey<'_> {
    docs.iter()
        .map(|d| ((d.lang.as_str(), d.id.as_str()), d))
        .collect()
}

/// Document-level differences: from the release's stored diff when `to` was diffed against
/// `from` at publish time (renames by similarity and line counts included), else by comparing
/// hashes (renames between ids only when the text is identical). No text is read.
pub(super) fn entries<'a>(
    old: &'a Manifest,
    new: &'a Manifest,
    stored: Option<&'a DiffFile>,
) -> Vec<Entry<'a>> {
    let (old_by, new_by) = (by_key(&old.documents), by_key(&new.documents));
    if let Some(d) = stored {
        let mut out = Vec::with_capacity(d.changes.len());
        let mut consistent = true;
        for c in &d.changes {
            let n = (c.status != ChangeStatus::Removed)
                .then(|| new_by.get(&(c.lang.as_str(), c.id.as_str())).copied());
            let o = (c.status != ChangeStatus::Added).then(|| {
                old_by
                    .get(&(c.lang.as_str(), c.old_id.as_deref().unwrap_or(&c.id)))
                    .copied()
            });
            if n.is_some_and(|x| x.is_none()) || o.is_some_and(|x| x.is_none()) {
                consistent = false;
                break;
            }
            out.push(Entry {
                lang: &c.lang,
                group: &c.id,
                status: c.status,
                old: o.flatten(),
                new: n.flatten(),
                counts: Some((c.added_lines, c.removed_lines)),
            });
        }
        if consistent {
            return out;
        }
    }
    let mut out = Vec::new();
    let mut added: Vec<&ManifestDoc> = Vec::new();
    for n in &new.documents {
        match old_by.get(&(n.lang.as_str(), n.id.as_str())) {
            None => added.push(n),
            Some(o) if o.sha256 == n.sha256 && o.path == n.path && o.key == n.key => {}
            Some(o) => out.push(Entry {
                lang: &n.lang,
                group: &n.id,
                status: if o.path != n.path {
                    ChangeStatus::Renamed
                } else {
                    ChangeStatus::Modified
                },
                old: Some(o),
                new: Some(n),
                counts: None,
            }),
        }
    }
    let mut twins = diff::Twins::new(&added);
    for o in &old.documents {
        if new_by.contains_key(&(o.lang.as_str(), o.id.as_str())) {
            continue;
        }
        match twins.find(o) {
            Some(i) => {
                twins.claim(i);
                out.push(Entry {
                    lang: &o.lang,
                    group: &added[i].id,
                    status: ChangeStatus::Renamed,
                    old: Some(o),
                    new: Some(added[i]),
                    counts: Some((0, 0)),
                });
            }
            None => out.push(Entry {
                lang: &o.lang,
                group: &o.id,
                status: ChangeStatus::Removed,
                old: Some(o),
                new: None,
                counts: None,
            }),
        }
    }
    for (i, n) in added.iter().enumerate() {
        if !twins.is_claimed(i) {
            out.push(Entry {
                lang: &n.lang,
                group: &n.id,
                status: ChangeStatus::Added,
                old: None,
                new: Some(n),
                counts: None,
            });
        }
    }
    out
}

/// Entries grouped by id, each group's entries in language order, groups by path.
pub(super) fn group<'a>(
    languages: &[String],
    entries: Vec<Entry<'a>>,
) -> Vec<(&'a str, Vec<Entry<'a>>)> {
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    let mut map: HashMap<&'a str, Vec<Entry<'a>>> = HashMap::new();
    for e in entries {
        map.entry(e.group).or_default().push(e);
    }
    let mut groups: Vec<(&'a str, Vec<Entry<'a>>)> = map.into_iter().collect();
    for (_, es) in &mut groups {
        es.sort_by(|a, b| (rank(a.lang), a.lang, a.path()).cmp(&(rank(b.lang), b.lang, b.path())));
    }
    groups.sort_by(|a, b| (a.1[0].path(), a.0).cmp(&(b.1[0].path(), b.0)));
    groups
}

pub(super) fn matches_filter(entries: &[Entry<'_>], id: &str, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    id.to_lowercase().contains(&f)
        || entries
            .iter()
            .flat_map(|e| e.paths())
            .any(|p| p.to_lowercase().contains(&f))
}

/// The two sides of a diff request, in ascending order, and whether they were swapped.
pub(super) struct Pair<'a> {
    from: &'a IndexVersion,
    to: &'a IndexVersion,
    swapped: bool,
}

pub(super) fn pair<'a>(
    index: &'a Index,
    from: &str,
    to: &str,
) -> std::result::Result<Pair<'a>, String> {
    let f = crate::snapshot::resolve_version(Some(index), from).map_err(|e| e.to_string())?;
    let t = crate::snapshot::resolve_version(Some(index), to).map_err(|e| e.to_string())?;
    let swapped = f.version > t.version;
    Ok(if swapped {
        Pair {
            from: t,
            to: f,
            swapped,
        }
    } else {
        Pair {
            from: f,
            to: t,
            swapped,
        }
    })
}

/// Two published versions being compared, with what the diff pages read of them.
pub(super) struct Comparison<'a> {
    pair: Pair<'a>,
    old: Arc<Manifest>,
    new: Arc<Manifest>,
    stored: Option<Arc<DiffFile>>,
}

impl<'a> Comparison<'a> {
    /// The comparison, or (inner `Err`) the 404 page naming an unknown version.
    fn load(
        reg: &Registry,
        index: &'a Index,
        from: &str,
        to: &str,
    ) -> Result<std::result::Result<Comparison<'a>, Page>> {
        let pair = match pair(index, from, to) {
            Ok(p) => p,
            Err(msg) => return Ok(Err(not_found(index, &msg))),
        };
        let (old, new) = (manifest_of(reg, pair.from)?, manifest_of(reg, pair.to)?);
        let stored = stored_diff(reg, &pair)?;
        Ok(Ok(Comparison {
            pair,
            old,
            new,
            stored,
        }))
    }

    /// Changed documents grouped by id, in the newer version's language order.
    fn groups(&self) -> Vec<(&str, Vec<Entry<'_>>)> {
        group(
            &self.new.languages,
            entries(&self.old, &self.new, self.stored.as_deref()),
        )
    }
}

/// The stored diff of `to` when it was taken against `from`.
pub(super) fn stored_diff(reg: &Registry, p: &Pair<'_>) -> Result<Option<Arc<DiffFile>>> {
    static CACHE: OnceLock<Recent<DiffFile>> = OnceLock::new();
    if p.to.previous.as_ref().map(ToString::to_string).as_deref()
        != Some(p.from.version.to_string().as_str())
    {
        return Ok(None);
    }
    let key = format!("{}:{}", reg.dir.display(), p.to.diff.sha256);
    let load = || {
        let bytes = reg.read_verified(&p.to.diff)?;
        Ok(manifest::parse_diff(&bytes, &reg.path(&p.to.diff.path))?)
    };
    recent(CACHE.get_or_init(Default::default), key, load).map(Some)
}

/// The texts of an entry's two sides (empty for a missing side).
pub(super) fn texts(reg: &Registry, e: &Entry<'_>) -> Result<(String, String)> {
    let old = match e.old {
        Some(o) => blob_text(reg, &o.sha256)?,
        None => String::new(),
    };
    let new = match (e.new, e.old) {
        (Some(n), Some(o)) if n.sha256 == o.sha256 => old.clone(),
        (Some(n), _) => blob_text(reg, &n.sha256)?,
        (None, _) => String::new(),
    };
    Ok((old, new))
}

/// The full [`DocChange`] of an entry, as [`diff::diff_docs`] computes it.
pub(super) fn doc_change(
    languages: &[String],
    e: &Entry<'_>,
    old: &str,
    new: &str,
) -> Result<DocChange> {
    let olds: Vec<ManifestDoc> = e.old.into_iter().cloned().collect();
    let news: Vec<ManifestDoc> = e.new.into_iter().cloned().collect();
    let old_sha = e.old.map(|o| o.sha256.clone());
    let src = |d: &ManifestDoc| -> Result<String, crate::error::CoreError> {
        Ok(if Some(&d.sha256) == old_sha.as_ref() {
            old.to_string()
        } else {
            new.to_string()
        })
    };
    let changes = diff::diff_docs(languages, &olds, &src, &news, &src)?;
    let found = changes
        .iter()
        .position(|c| c.status == e.status)
        .unwrap_or(0);
    changes
        .into_iter()
        .nth(found)
        .ok_or_else(|| Error::corrupt(".", "document change without a difference"))
}

/// The diff page between two versions.
pub fn diff_page(
    reg: &Registry,
    index: &Index,
    from: &str,
    to: &str,
    page: usize,
    filter: &str,
) -> Result<Page> {
    let c = match Comparison::load(reg, index, from, to)? {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let (p, new) = (&c.pair, &c.new);
    let languages = new.languages.clone();
    let groups = c.groups();
    let total_groups = groups.len();
    let (per_lang, lines) = language_totals(&groups);
    let shown: Vec<&(&str, Vec<Entry<'_>>)> = groups
        .iter()
        .filter(|(id, es)| matches_filter(es, id, filter))
        .collect();
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages);
    let start = (page - 1) * PAGE_SIZE;
    let on_page = &shown[start.min(shown.len())..(start + PAGE_SIZE).min(shown.len())];
    let (fv, tv) = (&p.from.version.to_string(), &p.to.version.to_string());
    let base = diff_url(fv, tv);
    let new_by = by_key(&new.documents);

    let mut m = String::new();
    heading(&mut m, p, total_groups);
    summary_table(&mut m, &languages, &per_lang, &lines);
    toolbar(&mut m, &base, filter, &languages);
    if !filter.is_empty() {
        let _ = writeln!(
            m,
            "<p class=\"notice\" role=\"status\">{} match “{}”. <a href=\"{}\">Show all documents</a>.</p>",
            plural(shown.len() as u64, "document", "documents"),
            esc(filter),
            esc(&base)
        );
    }
    if shown.len() > PAGE_SIZE {
        let _ = writeln!(
            m,
            "<p class=\"notice pagination\" role=\"status\">This diff is large: {} changed documents are shown \
{} per page. This is page {} of {} (documents {}–{}).</p>",
            num(shown.len() as u64),
            PAGE_SIZE,
            num(page as u64),
            num(pages as u64),
            num(start as u64 + 1),
            num((start + on_page.len()) as u64)
        );
    }
    let nav = pager(&base, filter, page, pages);
    m.push_str(&nav);
    if shown.is_empty() {
        m.push_str("<p>No document changed.</p>\n");
    }
    if page == 1 {
        asset_section(&mut m, &c.old, new, fv, tv);
    }
    let cx = GroupContext {
        reg,
        languages: &languages,
        new_by: &new_by,
        to: tv,
        base: &base,
    };
    for (n, (id, es)) in on_page.iter().enumerate() {
        render_group(&mut m, &cx, start + n + 1, id, es)?;
    }
    m.push_str(&nav);
    let title = format!("Changes from {fv} to {tv}");
    Ok(Page::ok(layout(index, &title, Nav::Diff, &m)))
}

/// Documents added, changed, removed and renamed per language, and the lines added and
/// removed (`None` once a document's line counts are unknown).
#[allow(clippy::type_complexity)]
fn language_totals<'a>(
    groups: &[(&'a str, Vec<Entry<'a>>)],
) -> (
    BTreeMap<&'a str, [u64; 4]>,
    BTreeMap<&'a str, Option<(u64, u64)>>,
) {
    let mut per_lang: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    let mut lines: BTreeMap<&str, Option<(u64, u64)>> = BTreeMap::new();
    for (_, es) in groups {
        for e in es {
            let c = per_lang.entry(e.lang).or_default();
            c[match e.status {
                ChangeStatus::Added => 0,
                ChangeStatus::Modified => 1,
                ChangeStatus::Removed => 2,
                ChangeStatus::Renamed => 3,
            }] += 1;
            let l = lines.entry(e.lang).or_insert(Some((0, 0)));
            *l = match (*l, e.counts) {
                (Some((a, r)), Some((x, y))) => Some((a + x, r + y)),
                _ => None,
            };
        }
    }
    (per_lang, lines)
}

/// The heading, the swap notice and the versions' dates.
fn heading(m: &mut String, p: &Pair<'_>, total_groups: usize) {
    let (fv, tv) = (&p.from.version.to_string(), &p.to.version.to_string());
    let _ = writeln!(m, "<h1>Changes from {} to {}</h1>", esc(fv), esc(tv));
    if p.swapped {
        let _ = writeln!(
            m,
            "<p class=\"notice\" role=\"status\">You asked for the changes from {} to {}, but {} is the newer version, \
so the versions were swapped: this page shows the changes from {} to {}.</p>",
            esc(&p.to.version.to_string()),
            esc(&p.from.version.to_string()),
            esc(&p.to.version.to_string()),
            esc(fv),
            esc(tv)
        );
    }
    let _ = writeln!(
        m,
        "<p>{} published {}; {} published {}. {} changed.</p>",
        esc(fv),
        esc(date_of(&p.from.published)),
        esc(tv),
        esc(date_of(&p.to.published)),
        plural(total_groups as u64, "document", "documents")
    );
}

/// The summary per language.
fn summary_table(
    m: &mut String,
    languages: &[String],
    per_lang: &BTreeMap<&str, [u64; 4]>,
    lines: &BTreeMap<&str, Option<(u64, u64)>>,
) {
    // Summary per language.
    m.push_str(
        "<table class=\"grid summary\">\n<caption class=\"sr\">Summary per language</caption>\n<thead><tr><th scope=\"col\">Language</th>\
<th scope=\"col\" class=\"num\">Added</th><th scope=\"col\" class=\"num\">Changed</th><th scope=\"col\" class=\"num\">Removed</th>\
<th scope=\"col\" class=\"num\">Renamed</th><th scope=\"col\">Lines</th></tr></thead>\n<tbody>\n",
    );
    for l in languages {
        let c = per_lang.get(l.as_str()).copied().unwrap_or_default();
        let ln = match lines.get(l.as_str()).copied().unwrap_or(Some((0, 0))) {
            Some((a, r)) => counts_html(a, r),
            None => "<span class=\"muted\">per document below</span>".to_string(),
        };
        let _ = writeln!(
            m,
            "<tr><th scope=\"row\" lang=\"{}\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(l),
            esc(l),
            num(c[0]),
            num(c[1]),
            num(c[2]),
            num(c[3]),
            ln
        );
    }
    m.push_str("</tbody>\n</table>\n");
}

/// The toolbar: the filter (a GET form: works without JavaScript, across pages), the language
/// toggle and the patch download.
fn toolbar(m: &mut String, base: &str, filter: &str, languages: &[String]) {
    let patch_url = if filter.is_empty() {
        format!("{base}.patch")
    } else {
        format!("{base}.patch?q={}", enc(filter))
    };
    let _ = write!(
        m,
        "<div class=\"toolbar\">\n<form method=\"get\" action=\"{base}\" role=\"search\">\n\
<label for=\"filter\">Filter by path</label>\n\
<input id=\"filter\" name=\"q\" type=\"search\" value=\"{q}\" placeholder=\"e.g. guide/\" autocomplete=\"off\">\n\
<button type=\"submit\">Filter all pages</button>\n</form>\n\
<span id=\"filter-count\" class=\"muted\" aria-live=\"polite\"></span>\n\
<fieldset id=\"lang-toggle\" hidden>\n<legend>Show</legend>\n\
<label><input type=\"radio\" name=\"lang\" value=\"all\" checked> All languages</label>\n",
        base = esc(base),
        q = esc(filter)
    );
    for l in languages {
        let _ = writeln!(
            m,
            "<label><input type=\"radio\" name=\"lang\" value=\"{0}\"> {0} only</label>",
            esc(l)
        );
    }
    let _ = write!(
        m,
        "</fieldset>\n<a href=\"{}\" download>Download as a patch</a>\n</div>\n",
        esc(&patch_url)
    );
}

/// What every document group of one diff page shares.
pub(super) struct GroupContext<'a> {
    reg: &'a Registry,
    languages: &'a [String],
    new_by: &'a ByKey<'a>,
    /// The newer version.
    to: &'a str,
    /// The diff page's path.
    base: &'a str,
}

pub(super) fn render_group(
    m: &mut String,
    cx: &GroupContext<'_>,
    n: usize,
    id: &str,
    es: &[Entry<'_>],
) -> Result<()> {
    let paths: Vec<String> = es.iter().flat_map(|e| e.paths()).collect();
    let title = es
        .iter()
        .find_map(|e| e.new.or(e.old).and_then(|d| d.title.clone()));
    let _ = write!(
        m,
        "<section class=\"doc\" data-nav tabindex=\"-1\" data-paths=\"{}\" aria-labelledby=\"g{n}\">\n<h2 id=\"g{n}\">{}",
        esc(&paths.join("\n")).replace('\n', "&#10;"),
        esc(id)
    );
    if let Some(t) = &title {
        let lang = es[0].lang;
        let _ = write!(
            m,
            " <span class=\"muted\" lang=\"{}\">{}</span>",
            esc(lang),
            esc(t)
        );
    }
    m.push_str("</h2>\n<div class=\"sides\">\n");
    // One column per language: the change, or what the document is in that language.
    let mut langs: Vec<&str> = cx.languages.iter().map(String::as_str).collect();
    for e in es {
        if !langs.contains(&e.lang) {
            langs.push(e.lang);
        }
    }
    for lang in langs {
        let _ = writeln!(m, "<div class=\"side\" data-lang=\"{}\">", esc(lang));
        match es.iter().find(|e| e.lang == lang) {
            Some(e) => render_entry(m, cx, e)?,
            None => {
                let note = match cx.new_by.get(&(lang, id)) {
                    Some(d) => format!(
                        "<a href=\"{}\">{}</a> is unchanged in {}.",
                        esc(&doc_url(cx.to, lang, &d.path)),
                        esc(&format!("{lang}/{}", d.path)),
                        esc(cx.to)
                    ),
                    None => format!("No {} document in {}.", esc(lang), esc(cx.to)),
                };
                let _ = writeln!(
                    m,
                    "<h3>{}</h3>\n<p class=\"unchanged\">{note}</p>",
                    esc(lang)
                );
            }
        }
        m.push_str("</div>\n");
    }
    m.push_str("</div>\n</section>\n");
    Ok(())
}

pub(super) fn render_entry(m: &mut String, cx: &GroupContext<'_>, e: &Entry<'_>) -> Result<()> {
    let (old, new) = texts(cx.reg, e)?;
    let c = doc_change(cx.languages, e, &old, &new)?;
    let anchor = doc_anchor(e.lang, e.path());
    let full = format!("{}/{}", e.lang, e.path());
    let _ = writeln!(
        m,
        "<h3 id=\"{a}\"><a href=\"#{a}\" title=\"Link to this document\">{p}</a></h3>",
        a = esc(&anchor),
        p = esc(&full)
    );
    let _ = write!(
        m,
        "<p class=\"meta\"><span class=\"tag\">{}</span> ",
        status_word(c.status)
    );
    m.push_str(&counts_html(c.added_lines, c.removed_lines));
    if c.approximate {
        m.push_str(" <span class=\"muted\">(approximate)</span>");
    }
    if e.new.is_some() {
        let _ = write!(
            m,
            " · <a href=\"{}\">View in {}</a>",
            esc(&doc_url(cx.to, e.lang, e.path())),
            esc(cx.to)
        );
    }
    let _ = writeln!(
        m,
        " · <a href=\"{}\">Only this document</a></p>",
        esc(&format!("{}?q={}#{}", cx.base, enc(&full), anchor))
    );
    let lang = esc(e.lang);
    if let Some(op) = &c.old_path {
        let _ = writeln!(
            m,
            "<p class=\"change\">Renamed from <del><code>{}</code></del> to <ins><code>{}</code></ins>{}</p>",
            esc(&format!("{}/{op}", e.lang)),
            esc(&full),
            c.similarity
                .map(|s| format!(" ({s}% similar)"))
                .unwrap_or_default()
        );
    }
    if let Some(ot) = &c.old_title {
        let _ = writeln!(
            m,
            "<p class=\"change\">Title: <del lang=\"{lang}\">{}</del> → <ins lang=\"{lang}\">{}</ins></p>",
            esc(ot),
            esc(c.title.as_deref().unwrap_or(""))
        );
    } else if c.status != ChangeStatus::Modified
        && let Some(t) = &c.title
    {
        let _ = writeln!(
            m,
            "<p class=\"meta\">Title: <span lang=\"{lang}\">{}</span></p>",
            esc(t)
        );
    }
    if let Some(ok) = &c.old_key {
        let _ = writeln!(
            m,
            "<p class=\"change\">Key: <del><code>{}</code></del> → <ins><code>{}</code></ins></p>",
            esc(ok),
            esc(&c.key)
        );
    }
    if !c.fields_changed.is_empty() {
        let (of, nf) = (raw_front_matter(&old), raw_front_matter(&new));
        m.push_str("<details class=\"fm-changes\" open>\n<summary>Front matter changed: ");
        m.push_str(&esc(&c.fields_changed.join(", ")));
        let _ = writeln!(m, "</summary>\n<dl class=\"fm change\" lang=\"{lang}\">");
        for f in &c.fields_changed {
            let o = of
                .get(f)
                .map(|x| format!("<del>{}</del>", esc(&x.raw)))
                .unwrap_or_else(|| "<span class=\"muted\">(absent)</span>".into());
            let n = nf
                .get(f)
                .map(|x| format!("<ins>{}</ins>", esc(&x.raw)))
                .unwrap_or_else(|| "<span class=\"muted\">(absent)</span>".into());
            let _ = writeln!(m, "<dt>{}</dt><dd>{o} → {n}</dd>", esc(f));
        }
        m.push_str("</dl>\n</details>\n");
    }
    render_hunks(m, e.lang, &old, &new);
    Ok(())
}

/// `/diff/<from>...<to>.patch`: the unified patch of the same changes (all pages).
pub fn diff_patch(
    reg: &Registry,
    index: &Index,
    from: &str,
    to: &str,
    filter: &str,
) -> Result<Page> {
    let c = match Comparison::load(reg, index, from, to)? {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let new = &c.new;
    let languages = new.languages.clone();
    let groups = c.groups();
    let mut out = String::new();
    // Patch order: by language, then path (as `kbrel diff --patch`).
    let mut es: Vec<Entry<'_>> = groups
        .into_iter()
        .filter(|(id, es)| matches_filter(es, id, filter))
        .flat_map(|(_, es)| es)
        .collect();
    let rank = |l: &str| languages.iter().position(|x| x == l).unwrap_or(usize::MAX);
    es.sort_by(|a, b| (rank(a.lang), a.path()).cmp(&(rank(b.lang), b.path())));
    for e in &es {
        let (o, n) = texts(reg, e)?;
        let c = doc_change(&languages, e, &o, &n)?;
        out.push_str(&patch::unified(&c, &o, &n, CONTEXT));
    }
    Ok(Page {
        status: 200,
        content_type: PATCH_TYPE,
        body: out,
    })
}

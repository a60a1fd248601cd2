//! Sections of a markdown document by heading anchor, and which changed between two texts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A heading and the text up to the next heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub anchor: String,
    pub title: String,
    pub level: usize,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionStatus {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionChange {
    pub anchor: String,
    pub title: String,
    pub status: SectionStatus,
}

/// GitHub-style anchor: lowercase, punctuation dropped (letters of any script kept), spaces → `-`.
pub fn anchor(title: &str) -> String {
    title
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The sections of a document body (ATX headings outside fenced code blocks).
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fence: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
        } else if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
        } else if let Some(level) = heading_level(t) {
            let title = t[level..].trim().trim_end_matches('#').trim().to_string();
            let base = anchor(&title);
            let n = seen.entry(base.clone()).or_insert(0);
            let anchor = if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            *n += 1;
            out.push(Section {
                anchor,
                title,
                level,
                text: String::new(),
            });
        }
        if let Some(s) = out.last_mut() {
            s.text.push_str(line);
        }
    }
    out
}

fn heading_level(line: &str) -> Option<usize> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    ((1..=6).contains(&hashes) && line[hashes..].starts_with([' ', '\t', '\n'])).then_some(hashes)
}

/// Which sections were added, removed or changed, in the order of the newer text (removed last).
pub fn section_changes(old: &str, new: &str) -> Vec<SectionChange> {
    let (o, n) = (sections(old), sections(new));
    let old_by: BTreeMap<&str, &Section> = o.iter().map(|s| (s.anchor.as_str(), s)).collect();
    let new_by: BTreeMap<&str, &Section> = n.iter().map(|s| (s.anchor.as_str(), s)).collect();
    let mut out = Vec::new();
    for s in &n {
        let status = match old_by.get(s.anchor.as_str()) {
            None => Some(SectionStatus::Added),
            Some(os) if os.text != s.text => Some(SectionStatus::Changed),
            Some(_) => None,
        };
        if let Some(status) = status {
            out.push(SectionChange {
                anchor: s.anchor.clone(),
                title: s.title.clone(),
                status,
            });
        }
    }
    for s in &o {
        if !new_by.contains_key(s.anchor.as_str()) {
            out.push(SectionChange {
                anchor: s.anchor.clone(),
                title: s.title.clone(),
                status: SectionStatus::Removed,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_changes() {
        assert_eq!(anchor("Getting Started!"), "getting-started");
        assert_eq!(anchor("快速 开始"), "快速-开始");
        let old = "# A\nx\n## B\ny\n```\n# not a heading\n```\n## C\nz\n";
        let new = "# A\nx\n## B\nY\n## D\nw\n";
        let ch = section_changes(old, new);
        let got: Vec<(&str, SectionStatus)> =
            ch.iter().map(|c| (c.anchor.as_str(), c.status)).collect();
        assert_eq!(
            got,
            [
                ("b", SectionStatus::Changed),
                ("d", SectionStatus::Added),
                ("c", SectionStatus::Removed)
            ]
        );
    }
}

//! Unified diffs with git-style headers, accepted by `git apply` run in the content folder.

use similar::{Algorithm, TextDiff};

use crate::manifest::{ChangeStatus, DocChange};

/// The full `diff --git` text for one changed document (`old`/`new` are the normalised texts).
/// Paths are relative to the content root (`en/guide/a.md`).
pub fn unified(change: &DocChange, old: &str, new: &str, context: usize) -> String {
    let new_path = format!("{}/{}", change.lang, change.path);
    let old_path = format!(
        "{}/{}",
        change.lang,
        change.old_path.as_deref().unwrap_or(&change.path)
    );
    unified_paths(
        change.status,
        &old_path,
        &new_path,
        change.similarity,
        old,
        new,
        context,
    )
}

/// The `diff --git` text for any file, paths relative to the diff root.
pub fn unified_paths(
    status: ChangeStatus,
    old_path: &str,
    new_path: &str,
    similarity: Option<u8>,
    old: &str,
    new: &str,
    context: usize,
) -> String {
    let in_place = !matches!(status, ChangeStatus::Added | ChangeStatus::Removed);
    if old == new && old_path == new_path && in_place {
        // Only metadata changed (e.g. the bundle key): nothing for `git apply` to do, and a
        // bare `diff --git` header would make it reject the whole patch.
        return String::new();
    }
    let mut s = format!("diff --git a/{old_path} b/{new_path}\n");
    let (from, to) = match status {
        ChangeStatus::Added => {
            s.push_str("new file mode 100644\n");
            ("/dev/null".to_string(), format!("b/{new_path}"))
        }
        ChangeStatus::Removed => {
            s.push_str("deleted file mode 100644\n");
            (format!("a/{old_path}"), "/dev/null".to_string())
        }
        ChangeStatus::Renamed if old_path != new_path => {
            s.push_str(&format!(
                "similarity index {}%\nrename from {old_path}\nrename to {new_path}\n",
                similarity.unwrap_or(100)
            ));
            (format!("a/{old_path}"), format!("b/{new_path}"))
        }
        _ => (format!("a/{old_path}"), format!("b/{new_path}")),
    };
    if old == new {
        return s;
    }
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .diff_lines(old, new);
    let body = diff
        .unified_diff()
        .context_radius(context)
        .header(&from, &to)
        .to_string();
    s.push_str(&body);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_text_makes_no_patch_unless_the_path_changes() {
        let same = |status| unified_paths(status, "en/a.md", "en/a.md", None, "x\n", "x\n", 3);
        assert_eq!(
            same(ChangeStatus::Modified),
            "",
            "a bare header makes git apply fail"
        );
        assert_eq!(same(ChangeStatus::Renamed), "");
        let moved = unified_paths(
            ChangeStatus::Renamed,
            "en/a.md",
            "en/b.md",
            Some(100),
            "x\n",
            "x\n",
            3,
        );
        assert_eq!(
            moved,
            "diff --git a/en/a.md b/en/b.md\nsimilarity index 100%\n\
             rename from en/a.md\nrename to en/b.md\n"
        );
    }

    #[test]
    fn missing_final_newline_is_marked() {
        let p = unified_paths(
            ChangeStatus::Modified,
            "en/a.md",
            "en/a.md",
            None,
            "x\n",
            "x",
            3,
        );
        assert_eq!(
            p,
            "diff --git a/en/a.md b/en/a.md\n--- a/en/a.md\n+++ b/en/a.md\n@@ -1 +1 @@\n\
             -x\n+x\n\\ No newline at end of file\n"
        );
    }
}

//! What a file is to kbrel, by its name: the one classification every reader of a content
//! tree (folder, git tree, include/exclude, key sources) asks. A leaf of the model floor, so
//! `content` and `keys` both use it.

/// What a file below a language folder is to kbrel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileClass {
    /// Markdown (`.md`) or MDX (`.mdx`): read, linted, released.
    Document,
    /// Anything else: a link target for the lint, not released.
    Other,
}

/// The extensions of documents, in the order an id prefers them.
pub const DOCUMENT_EXTENSIONS: [&str; 2] = [".md", ".mdx"];

/// What `path` (relative to the content root or a language folder) is, by its name alone.
/// The one place that says which files are documents (loading from disk and git, include /
/// exclude, key sources). `[content] include/exclude` then narrows the documents.
pub fn classify(path: &str) -> FileClass {
    if DOCUMENT_EXTENSIONS.iter().any(|e| path.ends_with(e)) {
        FileClass::Document
    } else {
        FileClass::Other
    }
}

/// Whether `path` names a document by its extension ([`classify`]).
pub fn is_document_path(path: &str) -> bool {
    classify(path) == FileClass::Document
}

/// Whether `path` names an MDX document.
pub fn is_mdx_path(path: &str) -> bool {
    path.ends_with(".mdx")
}

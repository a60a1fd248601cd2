//! Which file names are documents: a leaf of the model floor, so `content` (whose
//! [`Classifier`](crate::content::Classifier) is the one classification of every file below a
//! content root: document, asset, excluded, ignored) and `keys` (a key names a document) ask
//! the same question.

/// The extensions of documents: markdown and MDX.
pub const DOCUMENT_EXTENSIONS: [&str; 2] = ["md", "mdx"];

/// Whether a file name (or path) has a document extension.
pub fn is_document_name(name: &str) -> bool {
    DOCUMENT_EXTENSIONS.iter().any(|ext| {
        name.len() > ext.len() + 1
            && name.ends_with(ext)
            && name.as_bytes()[name.len() - ext.len() - 1] == b'.'
    })
}

/// Whether `path` names an MDX document.
pub fn is_mdx_name(path: &str) -> bool {
    path.len() > 4 && path.ends_with(".mdx")
}

/// The `Content-Type` of an asset, by its file name's extension (case-insensitive): what the
/// viewer serves and what a bucket stores with the asset's blob (whose own name is a hash).
/// Anything not known is `application/octet-stream` (never sniffed: servers send `nosniff`).
pub fn asset_content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map_or("", |(_, e)| e)
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "zip" => "application/zip",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The path-derived id of a document path: the path without its document extension
/// (`guide/a.md` and `guide/a.mdx` → `guide/a`), so a document pairs across languages whether
/// each language writes it as markdown or MDX. Both in one language is a duplicate id (KB003).
pub fn path_id(path: &str) -> String {
    path.strip_suffix(".md")
        .or_else(|| path.strip_suffix(".mdx"))
        .unwrap_or(path)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_content_types_by_extension() {
        assert_eq!(asset_content_type("images/A.PNG"), "image/png");
        assert_eq!(asset_content_type("x.jpeg"), "image/jpeg");
        assert_eq!(asset_content_type("d/icon.svg"), "image/svg+xml");
        assert_eq!(asset_content_type("notes.txt"), "text/plain; charset=utf-8");
        assert_eq!(asset_content_type("archive"), "application/octet-stream");
        assert_eq!(asset_content_type("x.exe"), "application/octet-stream");
    }

    #[test]
    fn documents_by_extension() {
        for p in ["a.md", "x/b.mdx", "名.md"] {
            assert!(is_document_name(p), "{p}");
        }
        for p in [".md", "a.markdown", "a.mdxx", "amd", "a.MD.png", "mdx"] {
            assert!(!is_document_name(p), "{p}");
        }
        assert_eq!(path_id("g/a.md"), "g/a");
        assert_eq!(path_id("g/a.mdx"), "g/a");
        assert!(is_mdx_name("a.mdx") && !is_mdx_name("a.md"));
    }
}

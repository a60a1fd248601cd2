//! The release's assets in the viewer: `/v/<version>/<asset path>` names an asset of that
//! version (so a document's relative image links resolve from its page, and the diff page's
//! images from their versions), and the diff page's asset section (each image changed, added
//! or removed shown old and new side by side).

use super::*;

/// An asset a request path names: the blob to serve and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRef {
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
}

/// The asset `rest` (`v/<version or tag>/<content-root path>`, percent-decoded) names, if the
/// version's manifest lists one at that path; `None` for anything else (a document, a
/// registry file, an unknown version).
pub fn asset_at(reg: &Registry, index: &Index, rest: &str) -> Option<AssetRef> {
    let (version, path) = rest.strip_prefix("v/")?.split_once('/')?;
    // The registry's own files of a version are never shadowed.
    if matches!(path, "manifest.json" | "diff.json" | "package.json") {
        return None;
    }
    let v = crate::snapshot::resolve_version(Some(index), version).ok()?;
    let man = manifest_of(reg, v).ok()?;
    let a = man.assets.iter().find(|a| a.path == path)?;
    Some(AssetRef {
        sha256: a.sha256.clone(),
        size: a.size,
        content_type: crate::files::asset_content_type(&a.path),
    })
}

/// SVG, served with a sandboxing CSP (an SVG opened on its own could otherwise run script).
pub const SVG_TYPE: &str = "image/svg+xml";

/// Whether the viewer shows an asset as an image.
fn is_image(path: &str) -> bool {
    crate::files::asset_content_type(path).starts_with("image/")
}

/// `/v/<version>/<path>`, each segment percent-encoded.
pub fn asset_url(version: &str, path: &str) -> String {
    let (first, rest) = path.split_once('/').unwrap_or((path, ""));
    if rest.is_empty() {
        format!("/v/{}/{}", enc(version), enc(first))
    } else {
        doc_url(version, first, rest)
    }
}

/// The diff page's asset section: every asset added, changed or removed between the two
/// versions (by path), with its sizes; images shown old and new side by side. Nothing when no
/// asset changed.
pub(super) fn asset_section(m: &mut String, old: &Manifest, new: &Manifest, from: &str, to: &str) {
    let olds: BTreeMap<&str, &manifest::ManifestAsset> =
        old.assets.iter().map(|a| (a.path.as_str(), a)).collect();
    let news: BTreeMap<&str, &manifest::ManifestAsset> =
        new.assets.iter().map(|a| (a.path.as_str(), a)).collect();
    let mut paths: Vec<&str> = olds.keys().chain(news.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    let changed: Vec<(
        &str,
        Option<&&manifest::ManifestAsset>,
        Option<&&manifest::ManifestAsset>,
    )> = paths
        .into_iter()
        .map(|p| (p, olds.get(p), news.get(p)))
        .filter(|(_, o, n)| o.map(|a| &a.sha256) != n.map(|a| &a.sha256))
        .collect();
    if changed.is_empty() {
        return;
    }
    let _ = writeln!(
        m,
        "<section class=\"assets\" aria-labelledby=\"assets-h\">\n<h2 id=\"assets-h\">Assets <span class=\"muted\">{}</span></h2>",
        plural(changed.len() as u64, "changed", "changed")
    );
    for (path, o, n) in changed {
        let status = match (o, n) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "modified",
        };
        let size =
            |a: Option<&&manifest::ManifestAsset>| a.map_or("—".to_string(), |a| num(a.size));
        let _ = writeln!(
            m,
            "<div class=\"asset-change\" data-asset=\"{}\">\n<h3><span class=\"tag\">{status}</span> <code>{}</code> <span class=\"muted\">{} → {} bytes</span></h3>\n<div class=\"asset-sides\">",
            esc(path),
            esc(path),
            size(o),
            size(n)
        );
        for (side, version, asset) in [("old", from, o), ("new", to, n)] {
            let url = asset_url(version, path);
            let _ = write!(
                m,
                "<figure class=\"asset-side {side}\"><figcaption>{}</figcaption>",
                esc(version)
            );
            match asset {
                None => m.push_str("<p class=\"muted\">(none)</p>"),
                Some(_) if is_image(path) => {
                    let _ = write!(
                        m,
                        "<a href=\"{u}\"><img src=\"{u}\" alt=\"{} in {}\" loading=\"lazy\"></a>",
                        esc(path),
                        esc(version),
                        u = esc(&url)
                    );
                }
                Some(_) => {
                    let _ = write!(m, "<a href=\"{}\">Download</a>", esc(&url));
                }
            }
            m.push_str("</figure>\n");
        }
        m.push_str("</div>\n</div>\n");
    }
    m.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    /// The viewer adds its sandboxing CSP when the asset's type is [`super::SVG_TYPE`].
    #[test]
    fn svg_assets_get_the_type_the_csp_is_keyed_on() {
        assert_eq!(crate::files::asset_content_type("a/B.SVG"), super::SVG_TYPE);
        assert!(super::is_image("a/B.SVG") && !super::is_image("doc.pdf"));
    }
}

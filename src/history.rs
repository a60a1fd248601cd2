//! What the release history says: the changelog of every release, and (with the working
//! content) translation drift. Reads the registry through verified reads only.

use crate::changelog::{self, ChangelogContext, ReleaseContext, ReleaseInfo};
use crate::config::Config;
use crate::error::Result;
use crate::manifest::{self, Index};
use crate::registry::Registry;

/// The changelog context of every published release, newest first, from the stored diffs.
pub fn changelog_context(cfg: &Config, reg: &Registry, index: &Index) -> Result<ChangelogContext> {
    let mut releases: Vec<ReleaseContext> = Vec::with_capacity(index.versions.len());
    for v in index.versions.iter().rev() {
        let bytes = reg.read_verified(&v.diff)?;
        let diff = manifest::parse_diff(&bytes, &reg.path(&v.diff.path))?;
        releases.push(changelog::release_context(
            ReleaseInfo {
                version: &v.version,
                date: v.published.get(..10).unwrap_or(&v.published),
                previous: v.previous.as_deref(),
                repository: cfg.package.repository.as_deref(),
                tag_format: &cfg.registry.tag_format,
            },
            &cfg.content.languages,
            &diff,
        ));
    }
    Ok(changelog::new_context(&cfg.package.name, releases))
}

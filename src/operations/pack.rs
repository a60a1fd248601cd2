//! `kbrel pack`: a published release's package as files — listed like `npm pack --dry-run`,
//! or written unpacked (`dist/`, `docs/`, `package.json`, …) into a folder for upload
//! scripts and CDNs. The tarball is read verified against the index and unpacked with the
//! hardened reader; the folder is written whole or not at all (staged beside it, renamed).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, PackError, Result};
use crate::manifest::Index;
use crate::registry::Registry;

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackFile {
    /// Relative to the package root (`dist/esm/en.js`), as `npm pack` lists it.
    pub path: String,
    pub size: u64,
}

/// What `kbrel pack` reports (and `kbrel pack --json` prints), in the shape of
/// `npm pack --dry-run --json`'s entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackReport {
    pub name: String,
    pub version: String,
    /// The tarball's file name in the registry.
    pub filename: String,
    /// Size of the `.tgz`.
    pub size: u64,
    #[serde(rename = "unpackedSize")]
    pub unpacked_size: u64,
    pub integrity: String,
    pub shasum: String,
    #[serde(rename = "entryCount")]
    pub entry_count: usize,
    /// In tarball order.
    pub files: Vec<PackFile>,
    /// The folder written, with `--out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

/// List release `version` (a version, `v`-prefixed version or dist-tag) and, with `out`,
/// write its files there. `out` must not exist or be an empty folder; on any error nothing is
/// left behind.
pub fn pack(
    reg: &Registry,
    index: Option<&Index>,
    name: &str,
    version: &str,
    out: Option<&Path>,
) -> Result<PackReport> {
    if let Some(out) = out {
        check_out(out)?;
    }
    let v = crate::snapshot::resolve_version(index, version)?;
    let (version, files) = crate::snapshot::package_files(reg, index, &v.version.to_string())?;
    let report = PackReport {
        name: name.to_string(),
        version,
        filename: v.tarball.path.clone(),
        size: v.tarball.size,
        unpacked_size: files.iter().map(|(_, b)| b.len() as u64).sum(),
        integrity: v.tarball.integrity.clone(),
        shasum: v.tarball.shasum.clone(),
        entry_count: files.len(),
        files: files
            .iter()
            .map(|(p, b)| PackFile {
                path: p.clone(),
                size: b.len() as u64,
            })
            .collect(),
        out: out.map(Path::to_path_buf),
    };
    if let Some(out) = out {
        write_folder(out, &files)?;
    }
    Ok(report)
}

fn check_out(out: &Path) -> Result<()> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspect", out, e)),
        Ok(m) if m.is_dir() => {
            let mut entries =
                std::fs::read_dir(out).map_err(|e| Error::io("read directory", out, e))?;
            if entries.next().is_some() {
                Err(PackError::OutNotEmpty {
                    out: out.to_path_buf(),
                }
                .into())
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(PackError::OutNotAFolder {
            out: out.to_path_buf(),
        }
        .into()),
    }
}

/// Write `files` into a staging folder beside `out`, then rename it to `out`.
fn write_folder(out: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io("create", &parent, e))?;
    let stage = tempfile::Builder::new()
        .prefix(".kbrel-pack-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("create a staging folder in", &parent, e))?;
    for (rel, bytes) in files {
        // `unpack` has checked every path: relative, under `package/`, no `..`.
        let path = stage.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e))?;
    }
    if out.is_dir() {
        // Checked empty above; an empty folder is replaced by the complete one.
        std::fs::remove_dir(out).map_err(|e| Error::io("replace the empty folder", out, e))?;
    }
    let stage = stage.keep();
    std::fs::rename(&stage, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&stage);
        Error::io("move the package into", out, e)
    })
}

//! Verified registry reads with small caches (manifests are immutable and named by their sha256).

use super::*;

/// The most recently used parsed registry files, keyed by registry and sha256 (the files are
/// immutable, so an entry never goes stale).
pub(super) type Recent<T> = Mutex<Vec<(String, Arc<T>)>>;

pub(super) fn recent<T>(
    cache: &Recent<T>,
    key: String,
    load: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    {
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = c.iter().position(|(k, _)| *k == key) {
            let hit = c.remove(i);
            let v = hit.1.clone();
            c.push(hit);
            return Ok(v);
        }
    }
    let v = Arc::new(load()?);
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 8 {
        c.remove(0);
    }
    c.push((key, v.clone()));
    Ok(v)
}

/// A version's manifest, verified; the last few are kept in memory.
pub(super) fn manifest_of(reg: &Registry, v: &IndexVersion) -> Result<Arc<Manifest>> {
    static CACHE: OnceLock<Recent<Manifest>> = OnceLock::new();
    let key = format!("{}:{}", reg.dir.display(), v.manifest.sha256);
    recent(CACHE.get_or_init(Default::default), key, || {
        reg.read_manifest(v)
    })
}

/// The drift recorded in a version's manifest (parsed without keeping the documents).
pub(super) fn drift_of(reg: &Registry, v: &IndexVersion) -> Result<BTreeMap<String, DriftCounts>> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        drift: BTreeMap<String, DriftCounts>,
    }
    static CACHE: OnceLock<Mutex<HashMap<String, BTreeMap<String, DriftCounts>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = format!("{}:{}", reg.dir.display(), v.manifest.sha256);
    if let Some(d) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(d.clone());
    }
    let bytes = reg.read_verified(&v.manifest)?;
    let only: Only = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(reg.path(&v.manifest.path), format!("manifest: {e}")))?;
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 4096 {
        c.clear();
    }
    c.insert(key, only.drift.clone());
    Ok(only.drift)
}

pub(super) fn blob_text(reg: &Registry, sha256: &str) -> Result<String> {
    let bytes = reg.read_blob(sha256)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::corrupt(
            reg.path(&crate::registry::blob_path(sha256)),
            "blob is not UTF-8",
        )
    })
}

//! Registries in object storage (`s3://bucket/prefix`, `gs://…`, `az://…`) through the
//! `object_store` crate: a verified local mirror for reading, ordered uploads for writing.
//!
//! Reading: [`Remote::pull`] fetches `index.json` (remembering its ETag) and every file it
//! lists into a local mirror folder (each checked against its sha256 before it is stored,
//! written to a temporary name and renamed), so every command that reads a registry folder
//! reads a bucket unchanged. Writing: a publish runs against the mirror, then
//! [`Remote::upload_new`] uploads what the new index lists and the old one did not, in the
//! order that keeps the registry valid at every instant: content-addressed blobs, each new
//! version's `manifest.json` created only if absent (the claim on the version), its tarball,
//! `diff.json` and `package.json` (also create-only), then `index.json` with a conditional
//! write (`If-Match` on the ETag read at the start, `If-None-Match: *` for the first release),
//! and only then the files derived from the index (the npm packument, `index.json.sig`), which
//! must match the index a reader sees. Of two concurrent publishers exactly one writes the
//! index; the other gets [`Error::RemoteConflict`] and nothing it wrote is listed.
//!
//! No environment is read here: the binary passes the store options (credentials, region,
//! endpoint) in [`RemoteConfig`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, RetryConfig,
};

pub use object_store::UpdateVersion;

use crate::error::{CoreError, Error, RemoteError, Result};
use crate::hash::sha256_hex;
use crate::manifest::{self, FileRef, Index, IndexVersion, Manifest};
use crate::registry::{self, INDEX_FILE, MAX_BLOB_BYTES, MAX_INDEX_BYTES, Registry};

/// Requests in flight at once (uploads and downloads).
pub const PARALLEL: usize = 32;

/// `Cache-Control` of content-addressed files and tarballs: they never change.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of files that change with every release (index, packument, signature).
pub const CACHE_REVALIDATE: &str = "public, max-age=60, must-revalidate";

mod aws;

/// How to reach the store: the environment as the caller read it and the home folder (an S3
/// store reads the `AWS_*` variables and the profile of `~/.aws/credentials` and
/// `~/.aws/config`; GCS the `GOOGLE_*` variables; Azure the `AZURE_*` ones, each as
/// `object_store` names its options), more options in `object_store`'s keys
/// (`aws_access_key_id`, `aws_region`, `aws_endpoint`, `google_service_account`,
/// `azure_storage_account_name`, …, case-insensitive) applied after those, and the retry
/// policy.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub env: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    pub options: Vec<(String, String)>,
    pub retries: usize,
    pub retry_timeout: Duration,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            env: BTreeMap::new(),
            home: None,
            options: Vec::new(),
            retries: 4,
            retry_timeout: Duration::from_secs(60),
        }
    }
}

impl RemoteConfig {
    /// The options of a store whose variables start with `prefix` (`AWS_`, `GOOGLE_`,
    /// `AZURE_`), then [`Self::options`].
    fn options_for(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let mut out = if prefix == "AWS_" {
            aws::options(&self.env, self.home.as_deref())?
        } else {
            self.env
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect()
        };
        out.extend(self.options.iter().cloned());
        Ok(out)
    }
}

/// Where a registry lives, parsed once at the boundary.
#[derive(Debug)]
pub enum Location {
    /// A folder (a plain path or `file://`).
    Dir(PathBuf),
    /// A prefix in object storage.
    Remote(Box<Remote>),
}

/// Whether `arg` names object storage (`s3://`, `gs://`, `az://`; any other scheme but
/// `file://` and HTTP, so that [`parse_location`] names it) rather than a folder or a web
/// address.
pub fn is_remote_url(arg: &str) -> bool {
    matches!(arg.split_once("://"), Some((s, _)) if !matches!(s, "file" | "http" | "https"))
}

/// Parse a `--registry` value: a plain path, `file:///abs/path`, or an object storage URL.
pub fn parse_location(arg: &str, config: &RemoteConfig) -> Result<Location> {
    if let Some(rest) = arg.strip_prefix("file://") {
        if rest.is_empty() || !rest.starts_with('/') {
            return Err(RemoteError::FileUrlNotAbsolute {
                url: arg.to_string(),
            }
            .into());
        }
        return Ok(Location::Dir(PathBuf::from(rest)));
    }
    if !is_remote_url(arg) {
        return Ok(Location::Dir(PathBuf::from(arg)));
    }
    Ok(Location::Remote(Box::new(Remote::open(arg, config)?)))
}

/// A registry in object storage.
#[derive(Debug)]
pub struct Remote {
    /// The URL as given, without a trailing `/`.
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    rt: tokio::runtime::Runtime,
}

/// What [`Remote::pull`] saw: the index and the ETag the publish's conditional write needs.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub index: Option<Index>,
    pub index_bytes: Option<Vec<u8>>,
    /// The index's ETag (S3, Azure) and generation (GCS), for the conditional write.
    pub etag: Option<UpdateVersion>,
    /// Files fetched into the mirror (the rest were there already, verified).
    pub fetched: usize,
}

/// What [`Remote::upload_new`] wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Uploaded {
    pub objects: usize,
    pub bytes: u64,
    /// New versions now listed by the remote index.
    pub versions: Vec<String>,
}

/// What [`Remote::upload`] writes, in the order that keeps the registry valid at every
/// instant: the content-addressed blobs; each version's `manifest.json` created only if absent
/// (the claim on the version), then its tarball, `diff.json` and `package.json` (also
/// create-only); `index.json` with a conditional write; then the files derived from it.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// Blobs of the source registry: sha256, size, `Content-Type`.
    pub blobs: Vec<(String, u64, &'static str)>,
    /// The versions the new index adds, their files read from the source registry.
    pub versions: Vec<IndexVersion>,
    /// The new `index.json`.
    pub index: Vec<u8>,
    /// Files derived from the index (its precompressed variant, the npm packument,
    /// `index.json.sig`): path, bytes; no bytes: an object the new index makes stale, removed
    /// if present (an `index.json.gz` the source does not have).
    pub derived: Vec<(String, Option<Vec<u8>>)>,
}

/// The blobs a manifest lists (documents and assets): sha256, size, `Content-Type`.
pub fn blobs_of(m: &Manifest) -> impl Iterator<Item = (String, u64, &'static str)> + '_ {
    let docs = m
        .documents
        .iter()
        .map(|d| (d.sha256.clone(), d.size, MARKDOWN));
    let assets = m.assets.iter().map(|a| {
        (
            a.sha256.clone(),
            a.size,
            crate::files::asset_content_type(&a.path),
        )
    });
    docs.chain(assets)
}

/// An object under the prefix that the index does not account for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Relative to the registry prefix.
    pub rel: String,
    /// Whether its name is one kbrel writes (so `verify --repair` may remove it).
    pub ours: bool,
}

impl Remote {
    /// Connect to `url` (nothing is requested yet).
    pub fn open(url: &str, config: &RemoteConfig) -> Result<Remote> {
        let bad = |message: String| Error::Remote {
            action: "open",
            object: url.to_string(),
            message,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        // rustls on ring, which the tree already has (ureq); installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let retry = RetryConfig {
            max_retries: config.retries,
            retry_timeout: config.retry_timeout,
            ..RetryConfig::default()
        };
        // The three builders differ only in type: each takes the URL, the retry policy and the
        // string options (credentials, endpoint…) its config keys accept.
        macro_rules! build {
            ($builder:expr, $prefix:literal) => {{
                let mut b = $builder.with_url(url).with_retry(retry);
                for (k, v) in &config.options_for($prefix)? {
                    if let Ok(key) = k.to_ascii_lowercase().parse() {
                        b = b.with_config(key, v);
                    }
                }
                let store: Arc<dyn ObjectStore> =
                    Arc::new(b.build().map_err(|e| bad(e.to_string()))?);
                (store, Path::from(parsed.path()))
            }};
        }
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "s3" | "s3a" => build!(object_store::aws::AmazonS3Builder::new(), "AWS_"),
            "gs" => build!(
                object_store::gcp::GoogleCloudStorageBuilder::new(),
                "GOOGLE_"
            ),
            "az" | "azure" | "abfs" | "abfss" => {
                build!(object_store::azure::MicrosoftAzureBuilder::new(), "AZURE_")
            }
            other => {
                return Err(RemoteError::UnsupportedScheme {
                    url: url.to_string(),
                    scheme: other.to_string(),
                }
                .into());
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Remote {
            url: url.trim_end_matches('/').to_string(),
            store,
            prefix,
            rt,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The full URL of a registry file, for messages.
    pub fn object_url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    fn key(&self, rel: &str) -> Path {
        if self.prefix.as_ref().is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn err(&self, action: &'static str, rel: &str, e: object_store::Error) -> Error {
        let object = self.object_url(rel);
        match e {
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. } => Error::RemoteConflict {
                object,
                message: format!("conditional {action} refused"),
            },
            object_store::Error::NotFound { .. } => Error::Remote {
                action,
                object,
                message: "not found (is the bucket there?)".into(),
            },
            e => {
                let text = e.to_string();
                let message = if text.contains("NoSuchBucket") {
                    "the bucket does not exist".to_string()
                } else if text.contains("InvalidAccessKeyId")
                    || text.contains("SignatureDoesNotMatch")
                    || text.contains("403 Forbidden")
                {
                    format!("access denied: check the credentials ({})", one_line(&text))
                } else {
                    one_line(&text)
                };
                Error::Remote {
                    action,
                    object,
                    message,
                }
            }
        }
    }

    /// An object's bytes and version (ETag, and the generation where the store has one, as
    /// GCS), `None` when it does not exist; refused above `limit`.
    async fn get(&self, rel: &str, limit: u64) -> Result<Option<(Vec<u8>, UpdateVersion)>> {
        match self.get_if(rel, limit, GetOptions::default()).await? {
            Some(Some(got)) => Ok(Some(got)),
            Some(None) => Err(Error::Remote {
                action: "read",
                object: self.object_url(rel),
                message: "answered 304 Not Modified to a request without conditions".into(),
            }),
            None => Ok(None),
        }
    }

    /// [`Self::get`] with conditions: `Some(None)` when a condition answered 304 Not Modified.
    async fn get_if(
        &self,
        rel: &str,
        limit: u64,
        opts: GetOptions,
    ) -> Result<Option<Option<(Vec<u8>, UpdateVersion)>>> {
        let r = match self.store.get_opts(&self.key(rel), opts).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(object_store::Error::NotModified { .. }) => return Ok(Some(None)),
            Err(e) => return Err(self.err("read", rel, e)),
        };
        if r.meta.size > limit {
            return Err(Error::Remote {
                action: "read",
                object: self.object_url(rel),
                message: format!("{} bytes, more than the {limit} expected", r.meta.size),
            });
        }
        let version = UpdateVersion {
            e_tag: r.meta.e_tag.clone(),
            version: r.meta.version.clone(),
        };
        let bytes = r.bytes().await.map_err(|e| self.err("read", rel, e))?;
        Ok(Some(Some((bytes.to_vec(), version))))
    }

    async fn put(&self, rel: &str, bytes: Vec<u8>, mode: PutMode) -> Result<()> {
        let ctype = content_type(rel.strip_suffix(GZ).unwrap_or(rel));
        self.put_as(rel, bytes, mode, ctype).await
    }

    /// [`Self::put`] with the `Content-Type` given (a blob is markdown or an asset, which its
    /// name does not say).
    async fn put_as(
        &self,
        rel: &str,
        bytes: Vec<u8>,
        mode: PutMode,
        ctype: &'static str,
    ) -> Result<()> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::CacheControl, cache_control(rel).into());
        attributes.insert(Attribute::ContentType, ctype.into());
        if is_gz_sibling(rel) {
            // A precompressed variant: the type of what it decodes to, sent as gzip.
            attributes.insert(Attribute::ContentEncoding, "gzip".into());
        }
        let opts = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&self.key(rel), PutPayload::from(bytes), opts)
            .await
            .map(|_| ())
            .map_err(|e| self.err("write", rel, e))
    }

    /// Every object under the prefix, relative to it.
    async fn list_all(&self) -> Result<Vec<String>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let metas: Vec<_> = self
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| self.err("list", "", e))?;
        let strip = format!("{}/", self.prefix);
        Ok(metas
            .into_iter()
            .map(|m| {
                let p = m.location.to_string();
                match p.strip_prefix(&strip) {
                    Some(rel) if !self.prefix.as_ref().is_empty() => rel.to_string(),
                    _ => p,
                }
            })
            .collect())
    }

    /// The remote index and its ETag only (what [`Self::upload_new`] needs when the source
    /// registry is a complete local one, as for `kbrel push --to URL`).
    pub fn index_state(&self) -> Result<Pulled> {
        self.rt.block_on(async {
            let got = self.get(INDEX_FILE, MAX_INDEX_BYTES).await?;
            let index = match &got {
                Some((b, _)) => Some(manifest::parse_index(
                    b,
                    FsPath::new(&self.object_url(INDEX_FILE)),
                )?),
                None => None,
            };
            Ok(Pulled {
                index,
                etag: got.as_ref().map(|(_, e)| e.clone()),
                index_bytes: got.map(|(b, _)| b),
                fetched: 0,
            })
        })
    }

    /// Fetch the registry into `mirror` (a folder kbrel owns): `index.json` and every file
    /// it lists, each verified against its sha256 before it is stored; files already there
    /// and intact are not fetched again. `index.json` is written last.
    pub fn pull(&self, mirror: &Registry) -> Result<Pulled> {
        self.rt.block_on(self.pull_async(mirror, false))
    }

    /// [`Self::pull`], and the precompressed variants the bucket holds for the files the
    /// index lists (each checked to decode to its file), for a `serve` of the mirror to send
    /// as they are. One more listing of the prefix, so only what serves asks for it.
    pub fn pull_with_variants(&self, mirror: &Registry) -> Result<Pulled> {
        self.rt.block_on(self.pull_async(mirror, true))
    }

    async fn pull_async(&self, mirror: &Registry, variants: bool) -> Result<Pulled> {
        std::fs::create_dir_all(&mirror.dir).map_err(|e| Error::io("create", &mirror.dir, e))?;
        let Some((bytes, etag)) = self.get(INDEX_FILE, MAX_INDEX_BYTES).await? else {
            // No index: an empty prefix (nothing published yet), or something else.
            let foreign: Vec<String> = self
                .list_all()
                .await?
                .into_iter()
                .filter(|rel| !is_ours(rel, None))
                .collect();
            if let Some(first) = foreign.first() {
                return Err(Error::NoRegistry {
                    path: PathBuf::from(&self.url),
                    reason: format!(
                        "it has no index.json and holds objects kbrel does not write ({} of them, e.g. `{}`)",
                        foreign.len(),
                        self.object_url(first)
                    ),
                });
            }
            for rel in [INDEX_FILE, crate::sign::SIG_FILE] {
                let _ = std::fs::remove_file(mirror.path(rel));
            }
            return Ok(Pulled {
                index: None,
                index_bytes: None,
                etag: None,
                fetched: 0,
            });
        };
        self.mirror_index(mirror, bytes, etag, variants).await
    }

    /// Whether the registry changed since the index whose version is `since` was pulled: a
    /// conditional read of `index.json` (`If-None-Match` on its ETag, one request answered
    /// 304 when nothing was published). When it changed, the mirror is brought up to date as
    /// [`Self::pull_with_variants`] does (every new file verified, `index.json` last) and the
    /// new state is returned; `None` when it did not.
    pub fn refresh(&self, mirror: &Registry, since: &UpdateVersion) -> Result<Option<Pulled>> {
        self.rt.block_on(async {
            let opts = GetOptions {
                if_none_match: since.e_tag.clone(),
                ..GetOptions::default()
            };
            match self.get_if(INDEX_FILE, MAX_INDEX_BYTES, opts).await? {
                Some(None) => Ok(None),
                Some(Some((_, etag))) if since.e_tag.is_some() && etag.e_tag == since.e_tag => {
                    // A store that ignores If-None-Match answers 200 with the same ETag.
                    Ok(None)
                }
                Some(Some((bytes, etag))) => {
                    self.mirror_index(mirror, bytes, etag, true).await.map(Some)
                }
                None => Err(Error::Remote {
                    action: "read",
                    object: self.object_url(INDEX_FILE),
                    message: "the registry's index.json is gone".into(),
                }),
            }
        })
    }

    /// Bring `mirror` up to date with the index `bytes` just read (version `etag`): every file
    /// it lists (and, with `variants`, their precompressed variants), then the derived files,
    /// then `index.json` itself, last.
    async fn mirror_index(
        &self,
        mirror: &Registry,
        bytes: Vec<u8>,
        etag: UpdateVersion,
        variants: bool,
    ) -> Result<Pulled> {
        let index = manifest::parse_index(&bytes, FsPath::new(&self.object_url(INDEX_FILE)))?;
        // The version files and tarballs, then the blobs their manifests list.
        let mut files: Vec<(String, String, u64)> = Vec::new();
        for v in &index.versions {
            for f in [&v.manifest, &v.diff, &v.package_json] {
                files.push((f.path.clone(), f.sha256.clone(), f.size));
            }
            files.push((
                v.tarball.path.clone(),
                v.tarball.sha256.clone(),
                v.tarball.size,
            ));
        }
        let mut fetched = self.fetch_verified(mirror, files.clone()).await?;
        let mut blobs: BTreeSet<(String, u64)> = BTreeSet::new();
        for v in &index.versions {
            let m = mirror.read_manifest(v)?;
            for d in m.documents {
                blobs.insert((d.sha256, d.size));
            }
            for a in m.assets {
                blobs.insert((a.sha256, a.size));
            }
        }
        let have = mirror.stored_blobs();
        let wanted = blobs
            .iter()
            .filter(|(sha, _)| !have.contains(sha))
            .map(|(sha, size)| (registry::blob_path(sha), sha.clone(), *size))
            .collect();
        fetched += self.fetch_verified(mirror, wanted).await?;
        // The precompressed variants of the listed files, so a `serve` of the mirror sends
        // them as they are.
        if variants {
            let mut listed = files;
            listed.retain(|(rel, ..)| !rel.ends_with(".tgz"));
            listed.extend(
                blobs
                    .into_iter()
                    .map(|(sha, size)| (registry::blob_path(&sha), sha, size)),
            );
            fetched += self.fetch_variants(mirror, listed).await?;
        }
        // Derived files: whatever the bucket has (the signature is checked by its readers;
        // the index's variant only when it decodes to this index: it is uploaded right after
        // the index, so for a moment the bucket's is the previous one).
        for rel in [
            crate::sign::SIG_FILE.to_string(),
            crate::npm::packument_path(&index.name),
            format!("{INDEX_FILE}{GZ}"),
        ] {
            let got = if !variants && is_gz_sibling(&rel) {
                // Not fetched: one of an earlier index would be stale.
                None
            } else {
                self.get(&rel, MAX_INDEX_BYTES).await?
            };
            let got = got.filter(|(b, _)| {
                !is_gz_sibling(&rel)
                    || registry::gunzip_limited(b, bytes.len() as u64).is_ok_and(|d| d == bytes)
            });
            match got {
                Some((b, _)) => write_cache(&mirror.path(&rel), &b)?,
                None => {
                    let _ = std::fs::remove_file(mirror.path(&rel));
                }
            }
        }
        registry::write_atomic(&mirror.path(INDEX_FILE), &bytes)?;
        Ok(Pulled {
            index: Some(index),
            index_bytes: Some(bytes),
            etag: Some(etag),
            fetched,
        })
    }

    /// Fetch `(rel, sha256, size)` files missing or damaged in the mirror, in parallel.
    async fn fetch_verified(
        &self,
        mirror: &Registry,
        files: Vec<(String, String, u64)>,
    ) -> Result<usize> {
        let results: Vec<Result<bool>> = futures_util::stream::iter(files)
            .map(|(rel, sha, size)| async move {
                let local = mirror.path(&rel);
                if let Ok(b) = crate::fsx::read_regular(&local, crate::fsx::bound(size))
                    && sha256_hex(&b) == sha
                {
                    return Ok(false);
                }
                let Some((bytes, _)) = self.get(&rel, size.min(MAX_BLOB_BYTES)).await? else {
                    return Err(Error::Remote {
                        action: "read",
                        object: self.object_url(&rel),
                        message: "index.json lists it, but it is missing".into(),
                    });
                };
                let actual = sha256_hex(&bytes);
                if actual != sha {
                    return Err(Error::from(CoreError::CorruptRegistry {
                        path: PathBuf::from(self.object_url(&rel)),
                        message: format!("sha256 mismatch: expected {sha}, found {actual}"),
                    }));
                }
                write_cache(&local, &bytes)?;
                Ok(true)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut n = 0;
        for r in results {
            n += usize::from(r?);
        }
        Ok(n)
    }

    /// Fetch the precompressed variants (`X.gz`, [`registry::precompressed`]) the bucket holds
    /// for the `(X, sha256, size)` files into the mirror, each checked to decode to exactly
    /// X's bytes; one the mirror has already is kept (its reader checks it before use). One
    /// listing of the prefix tells which exist.
    async fn fetch_variants(
        &self,
        mirror: &Registry,
        files: Vec<(String, String, u64)>,
    ) -> Result<usize> {
        let present: HashSet<String> = self
            .list_all()
            .await?
            .into_iter()
            .filter(|rel| is_gz_sibling(rel))
            .collect();
        let wanted = files.into_iter().filter_map(|(rel, sha, size)| {
            let gz = format!("{rel}{GZ}");
            (present.contains(&gz) && mirror.path(&gz).symlink_metadata().is_err())
                .then_some((gz, sha, size))
        });
        let results: Vec<Result<bool>> = futures_util::stream::iter(wanted)
            .map(|(gz, sha, size)| async move {
                // gzip adds a few bytes to what it cannot shrink.
                let limit = size.saturating_add(size / 64 + 1024);
                let Some((bytes, _)) = self.get(&gz, limit).await? else {
                    return Ok(false); // removed since the listing: served without it
                };
                let decoded = registry::gunzip_limited(&bytes, size);
                if !decoded.is_ok_and(|d| sha256_hex(&d) == sha) {
                    return Err(Error::from(CoreError::CorruptRegistry {
                        path: PathBuf::from(self.object_url(&gz)),
                        message: format!(
                            "does not decode to `{}` (sha256 {sha})",
                            gz.strip_suffix(GZ).unwrap_or(&gz)
                        ),
                    }));
                }
                write_cache(&mirror.path(&gz), &bytes).map(|_| true)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut n = 0;
        for r in results {
            n += usize::from(r?);
        }
        Ok(n)
    }

    /// Upload what `source`'s index lists and `before` (the remote index read at the start)
    /// did not, in order, index last and conditional on `before.etag`. Versions listed on
    /// both sides must be the same release. Returns what was written.
    pub fn upload_new(&self, source: &Registry, before: &Pulled) -> Result<Uploaded> {
        self.rt.block_on(self.upload_async(source, before))
    }

    async fn upload_async(&self, source: &Registry, before: &Pulled) -> Result<Uploaded> {
        let Some((index, index_bytes)) = source.read_index()? else {
            return Err(source.not_a_registry());
        };
        if before.index_bytes.as_deref() == Some(&index_bytes[..]) {
            return Ok(Uploaded::default());
        }
        let old: Vec<_> = before.index.iter().flat_map(|i| &i.versions).collect();
        if let Some(b) = &before.index
            && b.name != index.name
        {
            return Err(RemoteError::OtherPackage {
                url: self.url.to_string(),
                theirs: b.name.clone(),
                ours: index.name.clone(),
            }
            .into());
        }
        let mut old_blobs = HashSet::new();
        for v in &old {
            match index.versions.iter().find(|n| n.version == v.version) {
                Some(n) if n.manifest.sha256 == v.manifest.sha256 => {}
                _ => {
                    return Err(Error::RemoteConflict {
                        object: self.object_url(&v.manifest.path),
                        message: format!(
                            "{} is listed there with other content than in `{}`",
                            v.version,
                            source.dir.display()
                        ),
                    });
                }
            }
            old_blobs.extend(blobs_of(&source.read_manifest(v)?).map(|(sha, ..)| sha));
        }
        let new: Vec<IndexVersion> = index
            .versions
            .iter()
            .filter(|n| !old.iter().any(|o| o.version == n.version))
            .cloned()
            .collect();
        let mut blobs: BTreeMap<String, (u64, &'static str)> = BTreeMap::new();
        for v in &new {
            for (sha, size, ctype) in blobs_of(&source.read_manifest(v)?) {
                if !old_blobs.contains(&sha) {
                    blobs.insert(sha, (size, ctype));
                }
            }
        }
        let mut derived = Vec::new();
        let index_gz = gz_sibling(
            source,
            INDEX_FILE,
            &sha256_hex(&index_bytes),
            index_bytes.len() as u64,
        )?;
        derived.push((format!("{INDEX_FILE}{GZ}"), index_gz));
        let packument = crate::npm::packument_path(&index.name);
        if let Ok(b) = crate::fsx::read_regular(&source.path(&packument), MAX_INDEX_BYTES) {
            derived.push((packument, Some(b)));
        }
        let sig = crate::sign::SIG_FILE;
        if let Ok(b) = crate::fsx::read_regular(&source.path(sig), MAX_INDEX_BYTES) {
            derived.push((sig.to_string(), Some(b)));
        }
        let plan = Upload {
            blobs: blobs
                .into_iter()
                .map(|(sha, (size, ctype))| (sha, size, ctype))
                .collect(),
            versions: new,
            index: index_bytes,
            derived,
        };
        self.upload_in_order(source, plan, before).await
    }

    /// Upload `plan` in the order that keeps the registry valid at every instant (see
    /// [`Upload`]); the index conditional on `before` (the remote index read at the start).
    pub fn upload(&self, source: &Registry, plan: Upload, before: &Pulled) -> Result<Uploaded> {
        self.rt.block_on(self.upload_in_order(source, plan, before))
    }

    async fn upload_in_order(
        &self,
        source: &Registry,
        plan: Upload,
        before: &Pulled,
    ) -> Result<Uploaded> {
        let mut up = Uploaded::default();
        // 1. Content-addressed blobs (overwriting one writes the same bytes).
        let blob_files = plan
            .blobs
            .into_iter()
            .map(|(sha, size, ctype)| (registry::blob_path(&sha), sha, size, ctype))
            .collect();
        self.put_files(source, blob_files, PutMode::Overwrite, &mut up)
            .await?;
        // 2. Each version: its manifest first, created only if absent (the claim), then the
        //    tarball and the rest, also create-only: a version's files are never replaced.
        for v in &plan.versions {
            let claim = vec![(
                v.manifest.path.clone(),
                v.manifest.sha256.clone(),
                v.manifest.size,
                content_type(&v.manifest.path),
            )];
            self.put_files(source, claim, PutMode::Create, &mut up)
                .await?;
            let file = |path: &String, sha256: &String, size: u64| {
                (path.clone(), sha256.clone(), size, content_type(path))
            };
            let rest = vec![
                file(&v.tarball.path, &v.tarball.sha256, v.tarball.size),
                file(&v.diff.path, &v.diff.sha256, v.diff.size),
                file(
                    &v.package_json.path,
                    &v.package_json.sha256,
                    v.package_json.size,
                ),
            ];
            self.put_files(source, rest, PutMode::Create, &mut up)
                .await?;
        }
        // 3. The index, last, conditional on what was read at the start.
        let mode = match &before.etag {
            Some(v) if before.index.is_some() => PutMode::Update(v.clone()),
            _ => PutMode::Create,
        };
        up.bytes += plan.index.len() as u64;
        self.put(INDEX_FILE, plan.index, mode).await?;
        up.objects += 1;
        up.versions = plan
            .versions
            .iter()
            .map(|v| v.version.to_string())
            .collect();
        // 4. Files derived from the index, after it (they describe it).
        let derived = async {
            for (rel, b) in plan.derived {
                match b {
                    Some(b) => {
                        up.bytes += b.len() as u64;
                        self.put(&rel, b, PutMode::Overwrite).await?;
                        up.objects += 1;
                    }
                    // Looked for first: a publisher without delete rights is fine while
                    // there is nothing stale to remove.
                    None => match self.store.head(&self.key(&rel)).await {
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(self.err("read", &rel, e)),
                        Ok(_) => match self.store.delete(&self.key(&rel)).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => return Err(self.err("delete", &rel, e)),
                        },
                    },
                }
            }
            Ok::<(), Error>(())
        };
        derived.await.map_err(|e| Error::PartlyPublished {
            version: plan
                .versions
                .last()
                .map_or_else(String::new, |v| v.version.to_string()),
            cause: Box::new(e),
        })?;
        Ok(up)
    }

    /// An object's bytes (at most `limit`), `None` when it does not exist.
    pub fn read(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        self.rt
            .block_on(self.get(rel, limit))
            .map(|got| got.map(|(b, _)| b))
    }

    /// Whether an object exists under the prefix.
    pub fn exists(&self, rel: &str) -> Result<bool> {
        self.rt.block_on(async {
            match self.store.head(&self.key(rel)).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(self.err("read", rel, e)),
            }
        })
    }

    /// Files the remote index lists, each verified against its sha256, in the order given
    /// (fetched in parallel).
    pub fn read_listed(&self, files: &[FileRef]) -> Result<Vec<Vec<u8>>> {
        self.rt.block_on(async {
            let results: Vec<Result<Vec<u8>>> = futures_util::stream::iter(files)
                .map(|f| async move {
                    let Some((bytes, _)) = self.get(&f.path, f.size.min(MAX_BLOB_BYTES)).await?
                    else {
                        return Err(Error::Remote {
                            action: "read",
                            object: self.object_url(&f.path),
                            message: "index.json lists it, but it is missing".into(),
                        });
                    };
                    let actual = sha256_hex(&bytes);
                    if actual != f.sha256 {
                        return Err(Error::from(CoreError::CorruptRegistry {
                            path: PathBuf::from(self.object_url(&f.path)),
                            message: format!(
                                "sha256 mismatch: expected {}, found {actual}",
                                f.sha256
                            ),
                        }));
                    }
                    Ok(bytes)
                })
                .buffered(PARALLEL)
                .collect()
                .await;
            results.into_iter().collect()
        })
    }

    /// Upload registry files of `source`, each checked against its hash first, in parallel.
    async fn put_files(
        &self,
        source: &Registry,
        files: Vec<(String, String, u64, &'static str)>,
        mode: PutMode,
        up: &mut Uploaded,
    ) -> Result<()> {
        let results: Vec<Result<(usize, u64)>> = futures_util::stream::iter(files)
            .map(|(rel, sha, size, ctype)| {
                let mode = mode.clone();
                async move {
                    let path = source.path(&rel);
                    let bytes = crate::fsx::read_regular(&path, crate::fsx::bound(size))
                        .map_err(|e| Error::io("read", &path, e))?;
                    if sha256_hex(&bytes) != sha {
                        return Err(Error::corrupt(path, "sha256 mismatch before upload"));
                    }
                    let gz = gz_sibling(source, &rel, &sha, size)?;
                    let conflict = |e| match e {
                        Error::RemoteConflict { object, .. } => Error::RemoteConflict {
                            object,
                            message: "it exists and index.json does not list it: another publish \
                                      is writing this version, or an interrupted one left it"
                                .into(),
                        },
                        e => e,
                    };
                    let mut n = (1, bytes.len() as u64);
                    self.put_as(&rel, bytes, mode.clone(), ctype)
                        .await
                        .map_err(conflict)?;
                    if let Some(gz) = gz {
                        n = (2, n.1 + gz.len() as u64);
                        self.put_as(&format!("{rel}{GZ}"), gz, mode, ctype)
                            .await
                            .map_err(conflict)?;
                    }
                    Ok(n)
                }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for r in results {
            let (objects, bytes) = r?;
            up.bytes += bytes;
            up.objects += objects;
        }
        Ok(())
    }

    /// Objects under the prefix that `index` does not account for (left by an interrupted or
    /// losing publish, or not kbrel's at all).
    pub fn leftovers(&self, index: Option<&Index>) -> Result<Vec<Leftover>> {
        let all = self.rt.block_on(self.list_all())?;
        let mut listed: HashSet<String> = HashSet::new();
        listed.insert(INDEX_FILE.into());
        listed.insert(crate::sign::SIG_FILE.into());
        if let Some(index) = index {
            listed.insert(crate::npm::packument_path(&index.name));
            for v in &index.versions {
                for f in [&v.manifest, &v.diff, &v.package_json] {
                    listed.insert(f.path.clone());
                }
                listed.insert(v.tarball.path.clone());
            }
        }
        let mut referenced: HashSet<String> = HashSet::new();
        if let Some(index) = index {
            let mirror_less = self.rt.block_on(async {
                let mut out = Vec::new();
                for v in &index.versions {
                    if let Some((b, _)) = self.get(&v.manifest.path, v.manifest.size).await? {
                        out.push(manifest::parse_manifest(
                            &b,
                            FsPath::new(&self.object_url(&v.manifest.path)),
                        )?);
                    }
                }
                Ok::<_, Error>(out)
            })?;
            for m in mirror_less {
                for d in m.documents {
                    referenced.insert(registry::blob_path(&d.sha256));
                }
                for a in m.assets {
                    referenced.insert(registry::blob_path(&a.sha256));
                }
            }
        }
        let name = index.map(|i| i.name.as_str());
        // A precompressed variant is accounted for when what it decodes to is (its bytes are
        // checked by the readers that use it).
        let accounted = |rel: &str| {
            let of = match rel.strip_suffix(GZ) {
                Some(stem) if is_gz_sibling(rel) => stem,
                _ => rel,
            };
            listed.contains(of) || referenced.contains(of)
        };
        let mut out: Vec<Leftover> = all
            .into_iter()
            .filter(|rel| !accounted(rel))
            .map(|rel| Leftover {
                ours: is_ours(&rel, name),
                rel,
            })
            .collect();
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// Remove leftovers kbrel wrote (never anything the index lists or kbrel does not write).
    pub fn remove_leftovers(&self, leftovers: &[Leftover]) -> Result<usize> {
        self.rt.block_on(async {
            let mut n = 0;
            for l in leftovers.iter().filter(|l| l.ours) {
                self.store
                    .delete(&self.key(&l.rel))
                    .await
                    .map_err(|e| self.err("delete", &l.rel, e))?;
                n += 1;
            }
            Ok(n)
        })
    }
}

/// How `serve --registry s3://… --poll` waits between conditional reads of the bucket's
/// index: `every` while the bucket answers; while it fails, twice as long after each failure
/// in a row, never longer than `cap` (nor shorter than `every`); the first answer goes back to
/// `every`. So a broken index costs a handful of requests and log lines an hour, not one a
/// poll, and a fixed one is picked up within `cap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    every: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// The default cap: ten minutes.
    pub const CAP: Duration = Duration::from_secs(600);

    pub fn new(every: Duration, cap: Duration) -> Backoff {
        Backoff {
            every,
            cap: cap.max(every),
            failures: 0,
        }
    }

    /// The wait before the next read, after one that succeeded (`ok`) or failed.
    pub fn next(&mut self, ok: bool) -> Duration {
        if ok {
            self.failures = 0;
            return self.every;
        }
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.every.saturating_mul(factor).min(self.cap)
    }

    /// Failed reads in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// What one conditional read of [`follow`] did.
#[derive(Debug)]
pub enum Polled {
    /// The index did not change (304).
    Unchanged,
    /// A new index was mirrored.
    Mirrored(Pulled),
    /// The read or the mirroring failed; the last mirrored index stays served. The next read
    /// is in `retry_in`; `failures` in a row so far.
    Failed {
        error: Error,
        retry_in: Duration,
        failures: u32,
    },
}

/// Follow the registry at `remote` into `mirror` from the index version `etag` on: `sleep`,
/// then [`Remote::refresh`], forever (until `sleep` returns `false`), the waits given by
/// `backoff`; each read's outcome goes to `report`. The caller passes the sleep (and with it
/// the clock), so the schedule is testable without waiting.
pub fn follow(
    remote: &Remote,
    mirror: &Registry,
    etag: UpdateVersion,
    backoff: Backoff,
    sleep: impl FnMut(Duration) -> bool,
    report: impl FnMut(Polled),
) {
    follow_with(
        |since| remote.refresh(mirror, since),
        etag,
        backoff,
        sleep,
        report,
    );
}

/// [`follow`] with the read passed in.
fn follow_with(
    mut refresh: impl FnMut(&UpdateVersion) -> Result<Option<Pulled>>,
    mut etag: UpdateVersion,
    mut backoff: Backoff,
    mut sleep: impl FnMut(Duration) -> bool,
    mut report: impl FnMut(Polled),
) {
    let mut wait = backoff.next(true);
    while sleep(wait) {
        let polled = match refresh(&etag) {
            Ok(None) => Polled::Unchanged,
            Ok(Some(pulled)) => {
                if let Some(e) = &pulled.etag {
                    etag = e.clone();
                }
                Polled::Mirrored(pulled)
            }
            Err(error) => Polled::Failed {
                error,
                retry_in: Duration::ZERO,
                failures: 0,
            },
        };
        wait = backoff.next(!matches!(polled, Polled::Failed { .. }));
        report(match polled {
            Polled::Failed { error, .. } => Polled::Failed {
                error,
                retry_in: wait,
                failures: backoff.failures(),
            },
            other => other,
        });
    }
}

/// Whether `rel` is a name kbrel writes into a registry: a blob, a version file, a tarball of
/// package `name` (any package when unknown), the index or its derived files.
pub fn is_ours(rel: &str, name: Option<&str>) -> bool {
    if is_gz_sibling(rel)
        && let Some(stem) = rel.strip_suffix(GZ)
        && stem != crate::sign::SIG_FILE
    {
        return is_ours(stem, name);
    }
    if rel == INDEX_FILE || rel == crate::sign::SIG_FILE {
        return true;
    }
    if let Some(rest) = rel.strip_prefix("blobs/sha256/") {
        return matches!(rest.split_once('/'), Some((a, b))
            if a.len() == 2 && manifest::is_sha256_hex(&format!("{a}{b}")));
    }
    if let Some(rest) = rel.strip_prefix("v/") {
        return matches!(rest.split_once('/'), Some((v, f))
            if crate::version::parse_version(v).is_ok()
                && matches!(f, "manifest.json" | "diff.json" | "package.json"));
    }
    if let Some(stem) = rel.strip_suffix(".tgz") {
        let base = name.map(|n| n.rsplit('/').next().unwrap_or(n).to_string());
        return match base {
            Some(b) => stem
                .strip_prefix(&format!("{b}-"))
                .is_some_and(|v| crate::version::parse_version(v).is_ok()),
            None => !stem.contains('/'),
        };
    }
    name.is_some_and(|n| rel == crate::npm::packument_path(n))
}

/// The suffix of a precompressed variant ([`registry::GZ_SUFFIX`]): `X.gz` holds `X`
/// gzip-compressed, for clients that accept gzip (uploaded with `Content-Encoding: gzip` and
/// `X`'s `Content-Type`).
pub const GZ: &str = registry::GZ_SUFFIX;

/// Whether `rel` is the precompressed variant of a registry file that has one
/// ([`registry::precompressed`], the one rule).
pub fn is_gz_sibling(rel: &str) -> bool {
    rel.strip_suffix(GZ).is_some_and(registry::precompressed)
}

/// The precompressed variant `rel.gz` that `source` holds beside `rel` (whose bytes hash to
/// `sha256`, `size` long), if any: checked to decode to exactly those bytes before it is
/// used, else the registry is corrupt.
fn gz_sibling(source: &Registry, rel: &str, sha256: &str, size: u64) -> Result<Option<Vec<u8>>> {
    if !registry::precompressed(rel) {
        return Ok(None);
    }
    let path = source.path(&format!("{rel}{GZ}"));
    let gz = match crate::fsx::read_regular(&path, crate::fsx::bound(size)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let decoded = registry::gunzip_limited(&gz, size);
    if !decoded.is_ok_and(|d| d.len() as u64 == size && sha256_hex(&d) == sha256) {
        return Err(Error::corrupt(
            path,
            format!("does not decode to `{rel}` (sha256 {sha256}); remove it or publish again"),
        ));
    }
    Ok(Some(gz))
}

/// `Cache-Control` for a registry file: immutable for content-addressed files, tarballs and
/// version files; revalidated for the index and what is derived from it.
pub fn cache_control(rel: &str) -> &'static str {
    if rel.starts_with("blobs/") || rel.starts_with("v/") || rel.ends_with(".tgz") {
        CACHE_IMMUTABLE
    } else {
        CACHE_REVALIDATE
    }
}

const MARKDOWN: &str = "text/markdown; charset=utf-8";

/// `Content-Type` for a registry file.
pub fn content_type(rel: &str) -> &'static str {
    if rel.ends_with(".json") {
        "application/json"
    } else if rel.ends_with(".tgz") {
        "application/gzip"
    } else if rel.ends_with(".sig") {
        "application/octet-stream"
    } else if rel.starts_with("blobs/") {
        MARKDOWN
    } else {
        // The npm packument (named after the package, no extension).
        "application/json"
    }
}

/// Write a mirror file: temporary name beside it, then rename (the mirror is a cache whose
/// files are verified when read, so no fsync).
fn write_cache(path: &FsPath, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    }
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 400 {
        let mut end = 400;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_at_the_boundary() {
        let c = RemoteConfig::default();
        assert!(
            matches!(parse_location("releases", &c), Ok(Location::Dir(p)) if p == FsPath::new("releases"))
        );
        assert!(
            matches!(parse_location("file:///srv/r", &c), Ok(Location::Dir(p)) if p == FsPath::new("/srv/r"))
        );
        match parse_location("file://rel", &c) {
            Err(Error::RemoteRefused(e)) => {
                assert_eq!(
                    *e,
                    RemoteError::FileUrlNotAbsolute {
                        url: "file://rel".into()
                    }
                );
                assert_eq!(
                    e.to_string(),
                    "`file://rel`: a file:// registry URL takes an absolute path (file:///path/to/releases)"
                );
            }
            other => panic!("{other:?}"),
        }
        match parse_location("ftp://x/y", &c) {
            Err(Error::RemoteRefused(e)) => {
                assert_eq!(
                    *e,
                    RemoteError::UnsupportedScheme {
                        url: "ftp://x/y".into(),
                        scheme: "ftp".into()
                    }
                );
                assert_eq!(
                    e.to_string(),
                    "`ftp://x/y`: registry URLs are s3://, gs://, az:// or file:// (not ftp://)"
                );
            }
            other => panic!("{other:?}"),
        }
        match parse_location("s3://bucket/kb/releases/", &c) {
            Ok(Location::Remote(r)) => {
                assert_eq!(r.url(), "s3://bucket/kb/releases");
                assert_eq!(r.key("index.json").as_ref(), "kb/releases/index.json");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_kbrel_writes() {
        let sha = "a".repeat(64);
        assert!(is_ours(&format!("blobs/sha256/aa/{}", &sha[2..]), None));
        assert!(!is_ours("blobs/sha256/aa/zz", None));
        assert!(is_ours("v/1.2.0/manifest.json", None));
        assert!(!is_ours("v/1.2.0/notes.txt", None));
        assert!(is_ours("kb-1.2.0.tgz", Some("kb")));
        assert!(is_ours("kb-1.2.0.tgz", Some("@team/kb")));
        assert!(!is_ours("other-1.2.0.tgz", Some("kb")));
        assert!(!is_ours("photos/cat.jpg", Some("kb")));
        assert!(is_ours("kb", Some("kb")));
        // Precompressed variants of kbrel's files, and of nothing else.
        assert!(is_ours("index.json.gz", None));
        assert!(is_ours("v/1.2.0/manifest.json.gz", None));
        assert!(is_ours(&format!("blobs/sha256/aa/{}.gz", &sha[2..]), None));
        assert!(!is_ours("kb.gz", Some("kb")));
        assert!(!is_ours("kb-1.2.0.tgz.gz", Some("kb")));
        assert!(!is_ours("index.json.sig.gz", None));
        assert!(!is_ours("photos/cat.jpg.gz", Some("kb")));
    }

    /// While the bucket fails, each wait doubles up to the cap; the first answer (a 304
    /// included) goes back to the polling interval; the ETag of a mirrored index is the one
    /// the next read is conditional on.
    #[test]
    fn a_failing_bucket_is_polled_with_a_capped_exponential_backoff() {
        let fail = || {
            Err(Error::Remote {
                action: "read",
                object: "s3://b/index.json".into(),
                message: "broken".into(),
            })
        };
        let new_etag = UpdateVersion {
            e_tag: Some("\"2\"".into()),
            version: None,
        };
        let mirrored = Pulled {
            index: None,
            index_bytes: None,
            etag: Some(new_etag.clone()),
            fetched: 1,
        };
        let mut answers: Vec<Result<Option<Pulled>>> = vec![
            fail(),
            fail(),
            fail(),
            fail(),
            fail(),
            fail(),
            Ok(None),
            fail(),
            Ok(Some(mirrored)),
            Ok(None),
        ];
        answers.reverse();
        let mut asked_with = Vec::new();
        let mut slept = Vec::new();
        let mut reported = Vec::new();
        let reads = answers.len();
        follow_with(
            |since| {
                asked_with.push(since.e_tag.clone());
                answers.pop().expect("no more reads than answers")
            },
            UpdateVersion {
                e_tag: Some("\"1\"".into()),
                version: None,
            },
            Backoff::new(Duration::from_secs(30), Duration::from_secs(300)),
            |d| {
                slept.push(d.as_secs());
                slept.len() <= reads
            },
            |p| {
                reported.push(match p {
                    Polled::Unchanged => "unchanged".to_string(),
                    Polled::Mirrored(_) => "mirrored".to_string(),
                    Polled::Failed {
                        retry_in, failures, ..
                    } => format!("failed {failures}, retry in {}", retry_in.as_secs()),
                })
            },
        );
        assert_eq!(slept, [30, 60, 120, 240, 300, 300, 300, 30, 60, 30, 30]);
        assert_eq!(
            reported,
            [
                "failed 1, retry in 60",
                "failed 2, retry in 120",
                "failed 3, retry in 240",
                "failed 4, retry in 300",
                "failed 5, retry in 300",
                "failed 6, retry in 300",
                "unchanged",
                "failed 1, retry in 60",
                "mirrored",
                "unchanged",
            ]
        );
        let one = Some("\"1\"".to_string());
        let two = Some("\"2\"".to_string());
        assert_eq!(asked_with[..9], vec![one; 9][..]);
        assert_eq!(asked_with[9], two);
        // The cap is never below the interval, and many failures do not overflow.
        let mut b = Backoff::new(Duration::from_secs(900), Backoff::CAP);
        assert_eq!(b.next(false), Duration::from_secs(900));
        let mut b = Backoff::new(Duration::from_secs(1), Backoff::CAP);
        for _ in 0..100 {
            b.next(false);
        }
        assert_eq!(b.next(false), Backoff::CAP);
    }

    #[test]
    fn cache_headers() {
        assert_eq!(cache_control("index.json"), CACHE_REVALIDATE);
        assert_eq!(cache_control("kb-1.0.0.tgz"), CACHE_IMMUTABLE);
        assert_eq!(cache_control("blobs/sha256/aa/bb"), CACHE_IMMUTABLE);
        assert_eq!(content_type("kb-1.0.0.tgz"), "application/gzip");
        assert_eq!(content_type("v/1.0.0/diff.json"), "application/json");
    }
}

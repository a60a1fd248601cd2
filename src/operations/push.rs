//! `kbrel push`: publish a release from the registry directory to a real npm registry through
//! npm's publish API (`PUT /<name>` with the tarball as a base64 attachment). Idempotent: the
//! identical version already there is success; different content under it is an error.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CoreError, Error, PushError, RemoteError, Result};
use crate::manifest::Index;
use crate::registry::Registry;

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The npm registry URL, e.g. `http://127.0.0.1:4873/`.
    pub to: String,
    pub token: Option<String>,
    /// dist-tag; default: the tag pointing at the version in our index, else `latest`.
    pub tag: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOutcome {
    Published,
    AlreadyPresent,
}

/// What `push` did; `kbrel push --json` prints it, and reads back into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushReport {
    pub name: String,
    pub version: String,
    pub registry: String,
    pub tag: String,
    pub outcome: PushOutcome,
    pub integrity: String,
}

/// npm's URL path for a package name: `@scope/name` → `@scope%2fname`.
pub fn escaped_name(name: &str) -> String {
    name.replace('/', "%2f")
}

fn registry_error(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("reason"))
                .and_then(|e| e.as_str().map(String::from))
        })
        .unwrap_or_else(|| text.chars().take(500).collect());
    format!("HTTP {status}: {msg}")
}

/// Push `version` from `reg` to the npm registry in `opts`.
pub fn push(
    reg: &Registry,
    index: &Index,
    version: &str,
    opts: &PushOptions,
) -> Result<PushReport> {
    let v = crate::snapshot::resolve_version(Some(index), version)?;
    let tgz = reg.read_verified(&crate::manifest::FileRef {
        path: v.tarball.path.clone(),
        sha256: v.tarball.sha256.clone(),
        size: v.tarball.size,
    })?;
    let pj_bytes = reg.read_verified(&v.package_json)?;
    let package_json: Value = serde_json::from_slice(&pj_bytes)
        .map_err(|e| Error::corrupt(reg.path(&v.package_json.path), e.to_string()))?;
    let base = opts.to.trim_end_matches('/');
    let url = format!("{base}/{}", escaped_name(&index.name));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(opts.timeout))
        .build()
        .into();
    let auth = opts.token.as_ref().map(|t| format!("Bearer {t}"));
    let net = |e: ureq::Error| {
        Error::from(PushError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })
    };
    let our_tag = index
        .dist_tags
        .iter()
        .find(|(_, ver)| **ver == v.version)
        .map(|(t, _)| t.clone());
    // Neither --tag nor a tag of ours names this version: `latest` by default, as npm does.
    let implicit_latest = opts.tag.is_none() && our_tag.is_none();
    let tag = opts
        .tag
        .clone()
        .or(our_tag)
        .unwrap_or_else(|| "latest".into());

    // What does the registry already have?
    let mut get = agent.get(&url).header("Accept", "application/json");
    if let Some(a) = &auth {
        get = get.header("Authorization", a);
    }
    let mut resp = get.call().map_err(net)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .map_err(net)?;
    let report = |outcome| PushReport {
        name: index.name.clone(),
        version: v.version.to_string(),
        registry: base.to_string(),
        tag: tag.clone(),
        outcome,
        integrity: v.tarball.integrity.clone(),
    };
    match status {
        200 => {
            let doc: Value = serde_json::from_slice(&body).map_err(|e| PushError::InvalidJson {
                url: url.clone(),
                message: e.to_string(),
            })?;
            if let Some(existing) = doc
                .get("versions")
                .and_then(|vs| vs.get(v.version.to_string()))
            {
                let theirs = existing
                    .pointer("/dist/integrity")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let their_shasum = existing
                    .pointer("/dist/shasum")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if theirs == v.tarball.integrity
                    || (theirs.is_empty() && their_shasum == v.tarball.shasum)
                {
                    return Ok(report(PushOutcome::AlreadyPresent));
                }
                return Err(Error::from(CoreError::VersionConflict {
                    version: v.version.to_string(),
                    detail: format!(
                        "{base} already has {}@{} with integrity {theirs}, ours is {}",
                        index.name, v.version, v.tarball.integrity
                    ),
                }));
            }
            // Like npm 11: never move the registry's `latest` back implicitly (pushing an old,
            // untagged release after a newer one would make `npm install <name>` get the old one).
            let their_latest = doc
                .pointer("/dist-tags/latest")
                .and_then(Value::as_str)
                .unwrap_or("");
            if implicit_latest
                && let Ok(theirs) = semver::Version::parse(their_latest)
                && theirs > v.version
            {
                return Err(PushError::LatestIsHigher {
                    base: base.to_string(),
                    name: index.name.clone(),
                    their_latest: theirs,
                    version: v.version.clone(),
                }
                .into());
            }
        }
        404 => {}
        _ => {
            return Err(PushError::GetFailed {
                url: url.clone(),
                reason: registry_error(status, &body),
            }
            .into());
        }
    }

    let tarball_url = format!(
        "{base}/{}/-/{}",
        index.name,
        crate::npm::tarball_file_name(&index.name, &v.version.to_string())
    );
    let doc = crate::npm::publish_document(index, v, &package_json, &tgz, &tarball_url, &tag);
    let payload = serde_json::to_vec(&doc).map_err(|e| PushError::Payload {
        reason: e.to_string(),
    })?;
    let mut put = agent
        .put(&url)
        .header("Content-Type", "application/json")
        .header("npm-command", "publish");
    if let Some(a) = &auth {
        put = put.header("Authorization", a);
    }
    let mut resp = put.send(&payload[..]).map_err(net)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(PushError::Refused {
            name: index.name.clone(),
            version: v.version.clone(),
            reason: registry_error(status, &body),
        }
        .into());
    }
    Ok(report(PushOutcome::Published))
}

/// Copy one release of `reg` into a registry in object storage, with the ordering and
/// guarantees of a publish there ([`crate::remote::Upload`]): the blobs the remote does not
/// have yet, the version's files (create-only, its manifest first), then the remote
/// `index.json` with this version merged in, written conditionally on the ETag read at the
/// start (a concurrent publish makes this push fail, never lose a version), then the npm
/// packument of the merged index. Dist-tags: `tag`, else the tags naming the version in
/// `index`, else `latest` (`next` for a prerelease) — `latest` only moves forward, as in
/// `publish`.
///
/// A version the remote already lists is a no-op when it is the same release and
/// [`Error::VersionConflict`] otherwise (a published version never changes). A version
/// diffed against one the remote does not list is refused (push that one first).
///
/// `sign`: the key (and the next key it endorses) that signs the merged index, with the
/// signing code `publish` uses; `index.json.sig` is uploaded right after the index. A
/// remote whose index is signed is refused without one, and with a key that is neither the
/// one that signed it nor the next key it endorses (its consumers would refuse the index).
pub fn push_to_bucket(
    reg: &Registry,
    index: &Index,
    version: &str,
    remote: &crate::remote::Remote,
    tag: Option<&str>,
    sign: Option<(
        &ed25519_dalek::SigningKey,
        Option<ed25519_dalek::VerifyingKey>,
    )>,
) -> Result<(PushReport, crate::remote::Uploaded)> {
    let v = crate::snapshot::resolve_version(Some(index), version)?;
    let url = remote.url();
    let before = remote.index_state()?;
    let report = |outcome, tags: &[String]| PushReport {
        name: index.name.clone(),
        version: v.version.to_string(),
        registry: url.to_string(),
        tag: tags.join(","),
        outcome,
        integrity: v.tarball.integrity.clone(),
    };
    let mut merged = match &before.index {
        Some(theirs) if theirs.name != index.name => {
            return Err(RemoteError::OtherPackage {
                url: url.to_string(),
                theirs: theirs.name.clone(),
                ours: index.name.clone(),
            }
            .into());
        }
        Some(theirs) => theirs.clone(),
        None => Index::new(&index.name),
    };
    if let Some(theirs) = merged.get_version(&v.version) {
        if theirs.manifest.sha256 == v.manifest.sha256 && theirs.tarball.sha256 == v.tarball.sha256
        {
            let tags: Vec<String> = merged
                .dist_tags
                .iter()
                .filter(|(_, ver)| **ver == v.version)
                .map(|(t, _)| t.clone())
                .collect();
            return Ok((
                report(PushOutcome::AlreadyPresent, &tags),
                crate::remote::Uploaded::default(),
            ));
        }
        return Err(Error::from(CoreError::VersionConflict {
            version: v.version.to_string(),
            detail: format!(
                "{url} already lists {}@{} as another release (manifest sha256 {}, tarball {}; \
                 ours: {}, {}): a published version never changes",
                index.name,
                v.version,
                theirs.manifest.sha256,
                theirs.tarball.integrity,
                v.manifest.sha256,
                v.tarball.integrity
            ),
        }));
    }
    if let Some(p) = &v.previous {
        let ours = index.get_version(p).map(|o| &o.manifest.sha256);
        match merged.get_version(p) {
            None => {
                return Err(PushError::PreviousNotListed {
                    version: v.version.clone(),
                    previous: p.to_string(),
                    url: url.to_string(),
                }
                .into());
            }
            Some(theirs) if Some(&theirs.manifest.sha256) != ours => {
                return Err(Error::from(CoreError::VersionConflict {
                    version: v.version.to_string(),
                    detail: format!(
                        "it was diffed against {p}, and {url} lists another release as {p} \
                         (manifest sha256 {}): its diff.json would not describe the bucket's {p}",
                        theirs.manifest.sha256
                    ),
                }));
            }
            Some(_) => {}
        }
    }
    check_signing_key(remote, &v.version.to_string(), sign.map(|(k, _)| k))?;
    let (have, mut docs) = remote_releases(remote, &merged)?;
    let ours = reg.read_manifest(v)?;
    let mut blobs: Vec<_> = crate::remote::blobs_of(&ours)
        .filter(|(sha, ..)| !have.contains(sha))
        .collect();
    blobs.sort();
    blobs.dedup_by(|a, b| a.0 == b.0);
    let pj_bytes = reg.read_verified(&v.package_json)?;
    let pj: Value = serde_json::from_slice(&pj_bytes)
        .map_err(|e| Error::corrupt(reg.path(&v.package_json.path), e.to_string()))?;
    docs.insert(v.version.to_string(), pj);

    // The merged index: this version in semver order, the sequence increased, the tags moved.
    let pos = merged
        .versions
        .iter()
        .position(|o| o.version > v.version)
        .unwrap_or(merged.versions.len());
    merged.versions.insert(pos, v.clone());
    merged.sequence = merged.sequence.checked_add(1).ok_or_else(|| {
        Error::corrupt(
            remote.object_url(crate::registry::INDEX_FILE),
            "its sequence cannot be increased",
        )
    })?;
    let wanted: Vec<String> = match tag {
        Some(t) => vec![t.to_string()],
        None => index
            .dist_tags
            .iter()
            .filter(|(_, ver)| **ver == v.version)
            .map(|(t, _)| t.clone())
            .collect(),
    };
    let mut tags = Vec::new();
    if wanted.is_empty() {
        tags.extend(crate::publish::update_dist_tags(&mut merged, &v.version, None)?.0);
    }
    for t in &wanted {
        tags.extend(crate::publish::update_dist_tags(&mut merged, &v.version, Some(t))?.0);
    }
    tags.sort();
    tags.dedup();

    // The packument of the merged index, with tarball URLs as the source registry has them.
    let base = tarball_base(reg, index, &v.version.to_string());
    let url_of = |f: &str| format!("{base}{f}");
    let packument = crate::manifest::to_json_bytes(&crate::npm::packument(&merged, &docs, &url_of));
    // The merged index's precompressed variant when the source registry or the bucket has
    // one for its index (`[registry] precompress`), else none (a stale one is removed).
    let index_bytes = crate::manifest::to_json_bytes(&merged);
    let gz_rel = format!(
        "{}{}",
        crate::registry::INDEX_FILE,
        crate::registry::GZ_SUFFIX
    );
    let gz = (reg.path(&gz_rel).symlink_metadata().is_ok() || remote.exists(&gz_rel)?)
        .then(|| crate::registry::gzip_static(&index_bytes));
    let sig = sign.map(|(k, next)| crate::sign::sign_index(&index_bytes, k, next.as_ref()));
    let mut derived = vec![
        (gz_rel, gz),
        (crate::npm::packument_path(&index.name), Some(packument)),
    ];
    if let Some(sig) = sig {
        derived.push((crate::sign::SIG_FILE.to_string(), Some(sig)));
    }
    let plan = crate::remote::Upload {
        blobs,
        versions: vec![v.clone()],
        index: index_bytes,
        derived,
    };
    let up = remote.upload(reg, plan, &before)?;
    Ok((report(PushOutcome::Published, &tags), up))
}

/// Refuse to change a signed remote index without a key that its consumers trust: the key
/// that signed it, or the next key it endorses.
fn check_signing_key(
    remote: &crate::remote::Remote,
    version: &str,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<()> {
    let sig_url = remote.object_url(crate::sign::SIG_FILE);
    let Some(bytes) = remote.read(crate::sign::SIG_FILE, 1 << 20)? else {
        return Ok(());
    };
    let Some(key) = key else {
        return Err(PushError::SignKeyNeeded {
            sig_url,
            version: version.to_string(),
        }
        .into());
    };
    let theirs: crate::sign::IndexSignature = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(sig_url.clone(), format!("not a kbrel signature: {e}")))?;
    let ours = crate::sign::public_key_string(&key.verifying_key());
    let next = theirs.next_key.as_ref().map(|n| n.key.as_str());
    if ours != theirs.key && Some(ours.as_str()) != next {
        return Err(PushError::WrongSignKey {
            sig_url,
            theirs: theirs.key.clone(),
            next: next.map(str::to_string),
            ours,
        }
        .into());
    }
    Ok(())
}

/// The blobs the releases of a remote index use, and each release's `package.json`, read from
/// the bucket and verified against the index.
type RemoteReleases = (
    std::collections::HashSet<String>,
    std::collections::BTreeMap<String, Value>,
);

fn remote_releases(remote: &crate::remote::Remote, index: &Index) -> Result<RemoteReleases> {
    let refs: Vec<crate::manifest::FileRef> = index
        .versions
        .iter()
        .flat_map(|o| [o.manifest.clone(), o.package_json.clone()])
        .collect();
    let files = remote.read_listed(&refs)?;
    let mut have = std::collections::HashSet::new();
    let mut docs = std::collections::BTreeMap::new();
    for (o, pair) in index.versions.iter().zip(files.chunks(2)) {
        let object = std::path::PathBuf::from(remote.object_url(&o.manifest.path));
        let m = crate::manifest::parse_manifest(&pair[0], &object)?;
        have.extend(crate::remote::blobs_of(&m).map(|(sha, ..)| sha));
        let pj: Value = serde_json::from_slice(&pair[1])
            .map_err(|e| Error::corrupt(remote.object_url(&o.package_json.path), e.to_string()))?;
        docs.insert(o.version.to_string(), pj);
    }
    Ok((have, docs))
}

/// What the static packument of `reg` puts before a tarball's file name (`[registry]
/// public_url` at publish time, else nothing: a relative URL).
fn tarball_base(reg: &Registry, index: &Index, version: &str) -> String {
    let file = crate::npm::tarball_file_name(&index.name, version);
    crate::fsx::read_regular(
        &reg.path(&crate::npm::packument_path(&index.name)),
        crate::registry::MAX_INDEX_BYTES,
    )
    .ok()
    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    .and_then(|p| {
        p.pointer(&format!("/versions/{version}/dist/tarball"))
            .and_then(Value::as_str)
            .and_then(|u| u.strip_suffix(file.as_str()))
            .map(str::to_string)
    })
    .unwrap_or_default()
}

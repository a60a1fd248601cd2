//! `kbrel push`: publish a release from the registry directory to a real npm registry through
//! npm's publish API (`PUT /<name>` with the tarball as a base64 attachment). Idempotent: the
//! identical version already there is success; different content under it is an error.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOutcome {
    Published,
    AlreadyPresent,
}

#[derive(Debug, Clone, Serialize)]
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
    let net = |e: ureq::Error| Error::Usage(format!("cannot reach {url}: {e}"));
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
        version: v.version.clone(),
        registry: base.to_string(),
        tag: tag.clone(),
        outcome,
        integrity: v.tarball.integrity.clone(),
    };
    match status {
        200 => {
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| Error::Usage(format!("{url} answered with invalid JSON: {e}")))?;
            if let Some(existing) = doc.get("versions").and_then(|vs| vs.get(&v.version)) {
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
                return Err(Error::VersionConflict {
                    version: v.version.clone(),
                    detail: format!(
                        "{base} already has {}@{} with integrity {theirs}, ours is {}",
                        index.name, v.version, v.tarball.integrity
                    ),
                });
            }
            // Like npm 11: never move the registry's `latest` back implicitly (pushing an old,
            // untagged release after a newer one would make `npm install <name>` get the old one).
            let their_latest = doc
                .pointer("/dist-tags/latest")
                .and_then(Value::as_str)
                .unwrap_or("");
            if implicit_latest
                && let (Ok(theirs), Ok(ours)) = (
                    semver::Version::parse(their_latest),
                    semver::Version::parse(&v.version),
                )
                && theirs > ours
            {
                return Err(Error::Usage(format!(
                    "cannot implicitly apply the `latest` tag: {base} has {}@{their_latest} as latest, higher than {}; \
                     pass --tag <name> for this older release (or --tag latest to really move latest back)",
                    index.name, v.version
                )));
            }
        }
        404 => {}
        _ => {
            return Err(Error::Usage(format!(
                "GET {url} failed: {}",
                registry_error(status, &body)
            )));
        }
    }

    let tarball_url = format!(
        "{base}/{}/-/{}",
        index.name,
        crate::npm::tarball_file_name(&index.name, &v.version)
    );
    let doc = crate::npm::publish_document(index, v, &package_json, &tgz, &tarball_url, &tag);
    let payload = serde_json::to_vec(&doc).map_err(|e| Error::Usage(e.to_string()))?;
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
        return Err(Error::Usage(format!(
            "the registry refused {}@{}: {}",
            index.name,
            v.version,
            registry_error(status, &body)
        )));
    }
    Ok(report(PushOutcome::Published))
}

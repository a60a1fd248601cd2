//! Release versions: full semver as npm takes it.

use crate::error::{Error, Result};

/// Parse a version as given on the command line: full semver, a leading `v` allowed.
pub fn parse_version(input: &str) -> Result<semver::Version> {
    let bad = |reason: String| Error::InvalidVersion {
        value: input.to_string(),
        reason,
    };
    let s = input.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    if s.is_empty() {
        return Err(bad("empty".into()));
    }
    let v = semver::Version::parse(s).map_err(|e| {
        let dots = s
            .split(['-', '+'])
            .next()
            .unwrap_or("")
            .matches('.')
            .count();
        if dots < 2 && s.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            bad("a version needs three numbers: MAJOR.MINOR.PATCH".into())
        } else {
            bad(e.to_string())
        }
    })?;
    if !v.build.is_empty() {
        return Err(bad(
            "build metadata (`+…`) is ignored by npm and not allowed in a release version".into(),
        ));
    }
    Ok(v)
}

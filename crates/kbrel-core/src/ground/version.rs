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
    // npm reads versions with JavaScript numbers: a larger part is unreadable there (and a
    // `latest` that npm cannot compare could never move again).
    const MAX_SAFE: u64 = (1 << 53) - 1;
    let pre_numbers = v
        .pre
        .split('.')
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    for part in [v.major, v.minor, v.patch]
        .into_iter()
        .map(|n| n.to_string())
        .chain(pre_numbers.map(String::from))
    {
        if part.parse::<u64>().map_or(true, |n| n > MAX_SAFE) {
            return Err(bad(format!(
                "{part} is larger than 2^53-1 ({MAX_SAFE}), the largest number npm can read in a version"
            )));
        }
    }
    if !v.build.is_empty() {
        return Err(bad(
            "build metadata (`+…`) is ignored by npm and not allowed in a release version".into(),
        ));
    }
    Ok(v)
}

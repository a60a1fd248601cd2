//! AWS's shared configuration files, read as the AWS CLI and SDKs read them: the profile
//! named by `AWS_PROFILE` (else `default`) in `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`)
//! and `~/.aws/config` (`AWS_CONFIG_FILE`, sections `[profile NAME]` and `[default]`), values of
//! the credentials file winning over the config file's. The environment wins over both: access
//! keys from `AWS_ACCESS_KEY_ID` replace the profile's as a set, `AWS_REGION` /
//! `AWS_DEFAULT_REGION` its `region`, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT` its `endpoint_url`.
//!
//! The files are INI as Python's `configparser` reads them (botocore's parser): parsed by the
//! `configparser` crate, which follows its rules (indented lines continue a value, so the
//! nested `s3 =` blocks parse; `#` and `;` start comment lines; no inline comments).
//! Credentials that come from a process, SSO or an assumed role are not read: a profile that
//! has only those is an error that says how to export plain credentials.
//!
//! No environment is read here: the caller passes the variables and the home folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, RemoteError, Result};

/// The largest configuration file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Keys of a profile that name a way of getting credentials kbrel does not implement.
const UNSUPPORTED: [&str; 5] = [
    "credential_process",
    "sso_session",
    "sso_start_url",
    "source_profile",
    "credential_source",
];

/// `object_store` options (`aws_*` keys) for an S3 store: the `AWS_*` variables of `env`,
/// completed by the profile's credentials, region and endpoint.
pub fn options(
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
) -> Result<Vec<(String, String)>> {
    let var = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut out: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let (name, explicit) = match var("AWS_PROFILE").or_else(|| var("AWS_DEFAULT_PROFILE")) {
        Some(p) => (p.to_string(), true),
        None => ("default".to_string(), false),
    };
    let expand = |p: &str| match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    };
    let in_home = |rel: &str| home.map(|h| h.join(rel));
    let credentials_file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(expand)
        .or_else(|| in_home(".aws/credentials"));
    let config_file = var("AWS_CONFIG_FILE")
        .map(expand)
        .or_else(|| in_home(".aws/config"));
    let credentials = read_ini(credentials_file.as_deref())?;
    let config = read_ini(config_file.as_deref())?;
    // The config file names a profile `[profile NAME]`, and the default one `[default]`.
    let in_config = config.as_ref().and_then(|(_, sections)| {
        sections.get(&format!("profile {name}")).or_else(|| {
            (name == "default")
                .then(|| sections.get("default"))
                .flatten()
        })
    });
    let in_credentials = credentials
        .as_ref()
        .and_then(|(_, sections)| sections.get(&name));
    if in_config.is_none() && in_credentials.is_none() {
        if explicit {
            let shown = |f: &Option<PathBuf>| {
                f.as_ref().map_or_else(
                    || "(no home folder)".into(),
                    |p| format!("`{}`", p.display()),
                )
            };
            let mut known: Vec<String> = Vec::new();
            if let Some((_, s)) = &credentials {
                known.extend(s.keys().cloned());
            }
            if let Some((_, s)) = &config {
                known.extend(s.keys().filter_map(|k| {
                    k.strip_prefix("profile ")
                        .map(str::to_string)
                        .or_else(|| (k == "default").then(|| k.clone()))
                }));
            }
            known.sort();
            known.dedup();
            return Err(RemoteError::UnknownAwsProfile {
                profile: name.to_string(),
                files: (shown(&credentials_file), shown(&config_file)),
                known,
            }
            .into());
        }
        return Ok(out);
    }
    // The profile: the config file's values, then the credentials file's over them.
    let mut profile: BTreeMap<&str, (&str, &Path)> = BTreeMap::new();
    for (section, file) in [
        (in_config, config.as_ref().map(|(p, _)| p.as_path())),
        (
            in_credentials,
            credentials.as_ref().map(|(p, _)| p.as_path()),
        ),
    ] {
        if let (Some(section), Some(file)) = (section, file) {
            for (k, v) in section {
                profile.insert(k, (v, file));
            }
        }
    }
    let get = |k: &str| profile.get(k).map(|(v, _)| *v).filter(|v| !v.is_empty());
    let mut add = |k: &str, v: &str| out.push((k.to_string(), v.to_string()));
    if var("AWS_ACCESS_KEY_ID").is_none() {
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => {
                add("aws_access_key_id", id);
                add("aws_secret_access_key", secret);
                if let Some(token) = get("aws_session_token") {
                    add("aws_session_token", token);
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                let (_, file) = profile
                    .get("aws_access_key_id")
                    .or_else(|| profile.get("aws_secret_access_key"))
                    .copied()
                    .unwrap_or(("", Path::new("")));
                return Err(RemoteError::HalfAwsKey {
                    profile: name.to_string(),
                    file: file.to_path_buf(),
                }
                .into());
            }
            (None, None) => {
                if let (Some(role), Some(token_file)) =
                    (get("role_arn"), get("web_identity_token_file"))
                {
                    add("aws_role_arn", role);
                    add(
                        "aws_web_identity_token_file",
                        &expand(token_file).to_string_lossy(),
                    );
                    if let Some(n) = get("role_session_name") {
                        add("aws_role_session_name", n);
                    }
                } else if let Some((key, (_, file))) =
                    UNSUPPORTED.iter().find_map(|k| profile.get_key_value(k))
                {
                    return Err(RemoteError::UnsupportedAwsCredentials {
                        profile: name.to_string(),
                        file: file.to_path_buf(),
                        key: key.to_string(),
                    }
                    .into());
                }
            }
        }
    }
    if var("AWS_REGION").is_none()
        && var("AWS_DEFAULT_REGION").is_none()
        && let Some(region) = get("region")
    {
        add("aws_region", region);
    }
    if var("AWS_ENDPOINT_URL").is_none()
        && var("AWS_ENDPOINT").is_none()
        && let Some(endpoint) = get("endpoint_url")
    {
        add("aws_endpoint", endpoint);
    }
    Ok(out)
}

/// A file's sections (name → key → value, keys lowercased as botocore does); `None` when the
/// file does not exist.
type Sections = BTreeMap<String, BTreeMap<String, String>>;

fn read_ini(path: Option<&Path>) -> Result<Option<(PathBuf, Sections)>> {
    let Some(path) = path else { return Ok(None) };
    let bytes = match crate::fsx::read_regular(path, MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let text = String::from_utf8(bytes).map_err(|_| RemoteError::AwsFileNotText {
        file: path.to_path_buf(),
    })?;
    Ok(Some((
        path.to_path_buf(),
        parse(&text).map_err(|reason| RemoteError::AwsFileInvalid {
            file: path.to_path_buf(),
            reason,
        })?,
    )))
}

/// Parse INI text as botocore does (Python's `RawConfigParser`): section names as written,
/// keys lowercased, indented lines continuing a value, no inline comments.
fn parse(text: &str) -> std::result::Result<Sections, String> {
    let mut defaults = configparser::ini::Ini::new_cs().defaults();
    // Lines before the first section belong to no profile: a name no header can spell.
    defaults.default_section = "\0".into();
    defaults.multiline = true;
    defaults.enable_inline_comments = false;
    let mut ini = configparser::ini::Ini::new_from_defaults(defaults);
    let map = ini.read(text.to_string())?;
    Ok(map
        .into_iter()
        .filter(|(section, _)| section != "\0")
        .map(|(section, keys)| {
            let keys = keys
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.unwrap_or_default()))
                .collect();
            (section, keys)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn home(credentials: &str, config: &str) -> tempfile::TempDir {
        let h = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(h.path().join(".aws")).unwrap();
        std::fs::write(h.path().join(".aws/credentials"), credentials).unwrap();
        std::fs::write(h.path().join(".aws/config"), config).unwrap();
        h
    }

    fn get<'a>(opts: &'a [(String, String)], k: &str) -> Option<&'a str> {
        opts.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    const CREDENTIALS: &str = "# comment\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = secret/with+chars#1\n\n[ci]\nAWS_Access_Key_Id=AKCI\naws_secret_access_key=cisecret\naws_session_token = tok\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile ci]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n\n[profile sso]\nsso_session = corp\nregion = us-east-2\n[sso-session corp]\nsso_start_url = https://example.com/start\n";

    #[test]
    fn the_default_profile_and_a_named_one() {
        let h = home(CREDENTIALS, CONFIG);
        let o = options(&env(&[]), Some(h.path())).unwrap();
        assert_eq!(get(&o, "aws_access_key_id"), Some("AKDEFAULT"));
        // `#` inside a value is not a comment (botocore reads no inline comments).
        assert_eq!(
            get(&o, "aws_secret_access_key"),
            Some("secret/with+chars#1")
        );
        assert_eq!(get(&o, "aws_region"), Some("eu-west-1"));
        let o = options(&env(&[("AWS_PROFILE", "ci")]), Some(h.path())).unwrap();
        assert_eq!(get(&o, "aws_access_key_id"), Some("AKCI"));
        assert_eq!(get(&o, "aws_session_token"), Some("tok"));
        assert_eq!(get(&o, "aws_region"), Some("ap-south-1"));
        assert_eq!(get(&o, "aws_endpoint"), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn the_environment_wins_over_the_profile() {
        let h = home(CREDENTIALS, CONFIG);
        let e = env(&[
            ("AWS_PROFILE", "ci"),
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_REGION", "us-west-2"),
        ]);
        let o = options(&e, Some(h.path())).unwrap();
        assert_eq!(get(&o, "aws_access_key_id"), Some("AKENV"));
        assert_eq!(get(&o, "aws_secret_access_key"), Some("envsecret"));
        // Keys are a set: the profile's session token does not join the environment's keys.
        assert_eq!(get(&o, "aws_session_token"), None);
        assert_eq!(get(&o, "aws_region"), Some("us-west-2"));
    }

    #[test]
    fn files_named_by_the_environment() {
        let h = home("", "");
        std::fs::write(
            h.path().join("creds"),
            "[x]\naws_access_key_id=A\naws_secret_access_key=B\n",
        )
        .unwrap();
        std::fs::write(h.path().join("conf"), "[profile x]\nregion=r1\n").unwrap();
        let e = env(&[
            ("AWS_PROFILE", "x"),
            ("AWS_SHARED_CREDENTIALS_FILE", "~/creds"),
            (
                "AWS_CONFIG_FILE",
                &h.path().join("conf").display().to_string(),
            ),
        ]);
        let o = options(&e, Some(h.path())).unwrap();
        assert_eq!(get(&o, "aws_access_key_id"), Some("A"));
        assert_eq!(get(&o, "aws_region"), Some("r1"));
    }

    #[test]
    fn a_missing_profile_is_named_only_when_asked_for() {
        let h = home(CREDENTIALS, CONFIG);
        let e = options(&env(&[("AWS_PROFILE", "prod")]), Some(h.path())).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("AWS profile `prod`") && m.contains(".aws/credentials"),
            "{m}"
        );
        assert!(m.contains("profiles there: ci, default, sso"), "{m}");
        // No AWS_PROFILE and no default profile: nothing from the files, no error.
        let h = home("", "");
        assert_eq!(options(&env(&[]), Some(h.path())).unwrap(), vec![]);
        assert_eq!(options(&env(&[]), None).unwrap(), vec![]);
    }

    #[test]
    fn profiles_kbrel_cannot_use_say_what_to_do() {
        let h = home(CREDENTIALS, CONFIG);
        let m = options(&env(&[("AWS_PROFILE", "sso")]), Some(h.path()))
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("`sso_session`") && m.contains("export-credentials"),
            "{m}"
        );
        let h = home("[half]\naws_access_key_id = A\n", "");
        let m = options(&env(&[("AWS_PROFILE", "half")]), Some(h.path()))
            .unwrap_err()
            .to_string();
        assert!(m.contains("only one of"), "{m}");
        let h = home("[broken\n", "");
        let m = options(&env(&[]), Some(h.path())).unwrap_err().to_string();
        assert!(
            m.contains(".aws/credentials") && m.contains("bracket"),
            "{m}"
        );
    }
}

//! Reproducibility, pinned: every release in `releases/` rebuilds from the commit it records
//! (with the date and package format it records) to a tarball whose sha512 is written below.
//! A change to kbrel that alters the bytes of an old release fails here, whatever
//! `releases/` holds; a release added to `releases/` without its pin fails too.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha512};

/// (version, sha512 SRI of its tarball). Publishing a new release: add its line.
const PINS: &[(&str, &str)] = &[
    (
        "1.0.0",
        "sha512-07HBSeaWhFSKgBYw2RA/sZ1WkVXQypf1T7/IbAf0YPm4fa/EXdxZ6hBfb5DQ3wMhr5BOJG7LLC0q3Q93tD0QnA==",
    ),
    (
        "1.1.0",
        "sha512-D/7HZHttBTW5bpL331bZZ59H7lYfEGmumulOoUp1FCSSxluZOzjlLn/7G/5VEYORc5TljKeI9vOt3rT8nOF45A==",
    ),
    (
        "1.2.0",
        "sha512-kyRGwAxHp6wAIorV6LS6L5BaeVNPSVhb7XmPFbp8MT2Uj3sanhxm/9jsp3KOhB+uR5ETVmfjAeRIDBfRFJQidQ==",
    ),
    (
        "1.2.1",
        "sha512-Q9HI6aeAZF6lCNV3uqMVNQ3D6cpZYbXXXSOeOyGnQq8kh0VhQBSMeVcOXzdWuC5E17HbolLrvlxOIWmHu5UyWw==",
    ),
    (
        "1.2.2",
        "sha512-ksFPstyB8S3EJXoXxzeB8yzmrYi9Cz/4lo9ocmmgU9e7nJlhhCPX/8rY1f/TYduDjcdHfZQzbT/csbsLHUr2wQ==",
    ),
    (
        "1.2.3",
        "sha512-GZUOnyXpHL+VSScgBIzBmFApgopXNvyyDV1/RxRX4OWLkYnsYGGuRngk1JpSDg5FfctV/spCAJ9ctC67pPwVTQ==",
    ),
    (
        "1.3.0",
        "sha512-Q/0q9vY9dldhgaLJRN4bDWLd8RvOjksChY48MSRA0wAUtSFvOE1tFEb82qJoWAg0FBvqBCL7xGYo890uGVI51A==",
    ),
    (
        "1.4.0",
        "sha512-JK8U5MxeLIqEFv8gNcvKUj3xIJgm/I9+iG1SA81QyO+ivekwz3HHtrPWumGwKnmySrBKigzbnBXpvwWIbbQfDw==",
    ),
    (
        "1.4.1",
        "sha512-BrE6zwL5sEymZP6k2IGv5c6z74kPwVWoF3zKVe1WMel+eSjLD9BPLpGSVSB/VAksv0ROiyTg4Tze7tu6RuaczA==",
    ),
    (
        "1.4.2",
        "sha512-+p4CWIfz97jLsC1SF3IwYEvgoHha1Hqdn4n/hSYFOzpjEqCB8G+kTpy6LU841zFtuilZsvXe5wUjtDS8QNBgQw==",
    ),
    (
        "1.4.3",
        "sha512-AN8aIbFqqjR1DUVzSkNU7dgjh8wMI46vtGZBPtqCMDdHQ6P1XMuOodXrFhaoCk7xcxqX2XMbL7tmz4TIpvflGQ==",
    ),
];

fn sri512(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
    )
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    &v[key]
}

#[test]
fn every_release_rebuilds_to_its_pinned_sha512() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("releases/index.json")).unwrap()).unwrap();
    let versions = field(&index, "versions").as_array().unwrap();
    let listed: Vec<&str> = versions
        .iter()
        .map(|v| field(v, "version").as_str().unwrap())
        .collect();
    let pinned: Vec<&str> = PINS.iter().map(|p| p.0).collect();
    assert_eq!(
        listed, pinned,
        "releases/index.json lists these versions; tests/it/releases.rs pins these (add a pin line for a new release)"
    );

    let scratch = tempfile::tempdir().unwrap();
    let registry = scratch.path().join("rebuilt");
    let changelog = scratch.path().join("CHANGELOG.md");
    let mut formats = std::collections::BTreeSet::new();
    for ((version, pin), listed) in PINS.iter().zip(versions) {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join(format!("releases/v/{version}/manifest.json"))).unwrap(),
        )
        .unwrap();
        let commit = field(field(&manifest, "git"), "commit").as_str().unwrap();
        let date = field(&manifest, "published").as_str().unwrap();
        let format = field(&manifest, "package_format").as_u64().unwrap_or(1);
        formats.insert(format);
        let known = Command::new("git")
            .current_dir(root)
            .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .status()
            .is_ok_and(|s| s.success());
        if !known {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{version} records commit {commit}, which this clone lacks: CI needs the full history (no shallow clone)"
            );
            eprintln!("skipping: this clone lacks commit {commit} of {version}");
            return;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_kbrel"))
            .current_dir(root)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("KBREL_SIGN_KEY")
            .args(["--from-git", commit, "--registry"])
            .arg(&registry)
            .args(["publish", version, "--date", date, "--package-format"])
            .arg(format.to_string())
            .arg("--changelog")
            .arg(&changelog)
            .args(["--no-tag", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rebuilding {version} from {commit} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tarball = field(field(listed, "tarball"), "path").as_str().unwrap();
        let rebuilt = std::fs::read(registry.join(tarball)).unwrap();
        assert_eq!(
            sri512(&rebuilt),
            *pin,
            "{version} (package format {format}) rebuilt from {commit} is not the pinned tarball"
        );
        assert_eq!(
            std::fs::read(root.join("releases").join(tarball)).unwrap(),
            rebuilt,
            "{version}: releases/{tarball} differs from its rebuild"
        );
    }
    assert_eq!(
        formats.into_iter().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "the pins cover every package format"
    );
}

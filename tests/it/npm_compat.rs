//! The real npm client against kbrel's registries: `kbrel serve`, the registry directory served
//! as static files by nginx (with `registry.public_url`), and Verdaccio fed by `kbrel push`.
//! Each test starts its servers on 127.0.0.1 (free ports), in temp dirs, and kills them on drop.
//!
//! node, npm, nginx and Verdaccio (`target/test-tools/verdaccio`, installed by `.ci/run`) must be
//! available; when one is missing the test prints a note and passes, except with `CI=true`,
//! where it fails.

use crate::common::npm::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::extract_tgz;
use kbrel::push::{PushOutcome, PushReport};

type Docs = BTreeMap<String, String>;

/// What one published version contained: (version, en documents, zh documents).
struct Release {
    version: String,
    en: Docs,
    zh: Docs,
}

/// A knowledge base published as 1.0.0, then changed (one document modified, one added) and
/// published as 1.1.0.
fn two_releases(name: &str, public_url: Option<&str>) -> (Kb, Vec<Release>) {
    let kb = Kb::small(name, public_url);
    let mut releases = Vec::new();
    kb.release("1.0.0");
    releases.push(Release {
        version: "1.0.0".into(),
        en: kb.expected("en"),
        zh: kb.expected("zh"),
    });
    kb.append_both(
        "faq",
        "\n## Is there a CLI?\n\nYes.\n",
        "\n## 有命令行工具吗？\n\n有。\n",
    );
    kb.write_doc(
        "news",
        "News",
        ("News", "# News\n\nVersion 1.1 adds the news page.\n"),
        ("新闻", "# 新闻\n\n1.1 版新增了新闻页面。\n"),
    );
    kb.release("1.1.0");
    releases.push(Release {
        version: "1.1.0".into(),
        en: kb.expected("en"),
        zh: kb.expected("zh"),
    });
    assert_ne!(releases[0].en, releases[1].en);
    (kb, releases)
}

/// The integrity and resolved URL npm recorded in package-lock.json for `name`.
fn locked(project: &NpmProject, name: &str) -> (String, String) {
    let lock = read_json(&project.dir().join("package-lock.json"));
    let entry = &lock["packages"][format!("node_modules/{name}")];
    (
        entry["integrity"].as_str().unwrap_or_default().to_string(),
        entry["resolved"].as_str().unwrap_or_default().to_string(),
    )
}

fn tarball_integrity(registry: &Path, version: &str) -> String {
    let index = read_json(&registry.join("index.json"));
    index["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .unwrap()["tarball"]["integrity"]
        .as_str()
        .unwrap()
        .to_string()
}

/// npm view / install / import / diff against `registry_url` serving `kb`'s releases.
/// `tarball_prefix`: what every resolved tarball URL starts with.
fn check_npm(registry_url: &str, kb: &Kb, releases: &[Release], tarball_prefix: &str) {
    let name = kb.name.as_str();
    let project = NpmProject::new(registry_url);
    let versions: Vec<String> = releases.iter().map(|r| r.version.clone()).collect();
    assert_eq!(
        project.view_versions(name),
        versions,
        "npm view {name} versions"
    );
    let tags = project
        .npm(&["view", name, "dist-tags", "--json"])
        .success()
        .json();
    assert_eq!(tags["latest"], versions.last().unwrap().as_str());
    let desc = project
        .npm(&["view", &format!("{name}@1.0.0"), "description"])
        .success();
    assert_eq!(desc.stdout.trim(), "kbrel serve test knowledge base.");

    // Install the first release, then upgrade to the last: node imports the documents.
    for r in [&releases[0], releases.last().unwrap()] {
        project.install_and_check(name, &r.version, &r.en, &r.zh);
        let (integrity, resolved) = locked(&project, name);
        assert_eq!(integrity, tarball_integrity(&kb.registry(), &r.version));
        assert!(
            resolved.starts_with(tarball_prefix) && resolved.ends_with(".tgz"),
            "resolved {resolved} (expected under {tarball_prefix})"
        );
    }

    // npm diff between the two releases names the same files as kbrel diff --package.
    let (a, b) = (&releases[0].version, &releases.last().unwrap().version);
    let r = project
        .npm(&[
            "diff",
            &format!("--diff={name}@{a}"),
            &format!("--diff={name}@{b}"),
            "--diff-name-only",
        ])
        .success();
    let npm_names: BTreeSet<String> = r
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let kbrel_names = kbrel_package_diff_names(kb, a, b);
    assert_eq!(
        npm_names, kbrel_names,
        "npm diff vs kbrel diff --package\n{r}"
    );
    for f in [
        "docs/en/faq.md",
        "docs/zh/news.md",
        "dist/esm/en.js",
        "package.json",
    ] {
        assert!(npm_names.contains(f), "{f} changed: {npm_names:?}");
    }
    assert!(
        !npm_names.contains("docs/en/intro.md"),
        "unchanged: {npm_names:?}"
    );
}

/// node and npm, then Verdaccio started (or a skip).
fn verdaccio() -> Option<Verdaccio> {
    if !require_node_npm() {
        return None;
    }
    Some(Verdaccio::start(&require_verdaccio()?))
}

/// Two releases of package `name` served by `kbrel serve`, checked through npm: the server's
/// log (or `None` for a skip).
fn npm_against_serve(name: &str) -> Option<String> {
    if !require_node_npm() {
        return None;
    }
    let (kb, releases) = two_releases(name, None);
    let serve = Serve::start(&kb.registry(), &[]);
    check_npm(
        &serve.url(),
        &kb,
        &releases,
        &format!("{}{name}/-/", serve.url()),
    );
    Some(serve.log())
}

#[test]
fn npm_against_kbrel_serve() {
    let Some(log) = npm_against_serve("acme-kb") else {
        return;
    };
    // npm's requests went through the read API and got answers.
    assert!(log.contains("GET /acme-kb 200"), "{log}");
    assert!(
        log.contains("GET /acme-kb/-/acme-kb-1.0.0.tgz 200"),
        "{log}"
    );
}

#[test]
fn npm_scoped_package_against_kbrel_serve() {
    let Some(log) = npm_against_serve("@acme/docs") else {
        return;
    };
    assert!(log.contains("GET /@acme%2fdocs 200"), "{log}");
}

/// nginx serving registry directories as static files, one `server` per `(port, root)`.
struct Nginx {
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(nginx: &Path, servers: &[(u16, &Path)]) -> Nginx {
        let dir = tempfile::Builder::new()
            .prefix("kbrel-nginx-")
            .tempdir()
            .unwrap();
        let mut http =
            "types { application/json json; application/octet-stream tgz; text/markdown md; }\n\
             # The packument (/<name>, /@scope%2fname) and blobs have no extension.\n\
             default_type application/json;\n"
                .to_string();
        for (port, root) in servers {
            http.push_str(&format!(
                "  server {{\n    listen 127.0.0.1:{port};\n    root {};\n    location / {{ try_files $uri =404; }}\n  }}\n",
                root.display()
            ));
        }
        let ports: Vec<u16> = servers.iter().map(|(p, _)| *p).collect();
        Nginx {
            _proc: crate::common::serve::nginx(nginx, dir.path(), &http, &ports),
            _dir: dir,
        }
    }
}

#[test]
fn npm_against_nginx_serving_the_registry_directory() {
    if !require_node_npm() {
        return;
    }
    let Some(nginx) = require_tool("nginx", "-v") else {
        return;
    };
    let p1 = free_port();
    let p2 = std::iter::repeat_with(free_port)
        .find(|p| *p != p1)
        .unwrap();
    let (u1, u2) = (
        format!("http://127.0.0.1:{p1}/"),
        format!("http://127.0.0.1:{p2}/"),
    );
    let (kb1, rel1) = two_releases("acme-kb", Some(&u1));
    let (kb2, rel2) = two_releases("@acme/docs", Some(&u2));
    // nginx workers may run as another user: let them read the temp dirs.
    for kb in [&kb1, &kb2] {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(kb.root(), fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The static packuments carry absolute tarball URLs under registry.public_url.
    for (kb, url) in [(&kb1, &u1), (&kb2, &u2)] {
        let p = read_json(&kb.registry().join(&kb.name));
        for (_, v) in p["versions"].as_object().unwrap() {
            let t = v["dist"]["tarball"].as_str().unwrap();
            assert!(t.starts_with(url.as_str()) && t.ends_with(".tgz"), "{t}");
        }
    }
    let _nginx = Nginx::start(&nginx, &[(p1, &kb1.registry()), (p2, &kb2.registry())]);
    check_npm(&u1, &kb1, &rel1, &u1);
    check_npm(&u2, &kb2, &rel2, &u2);
}

/// Verdaccio with a temp config and storage, anonymous publish allowed.
struct Verdaccio {
    proc: Proc,
    url: String,
    _dir: tempfile::TempDir,
}

impl Verdaccio {
    fn start(bin: &Path) -> Verdaccio {
        let dir = tempfile::Builder::new()
            .prefix("kbrel-verdaccio-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let config = format!(
            "storage: {storage}\nplugins: {plugins}\nuplinks: {{}}\n\
             packages:\n  '@private/*':\n    access: $all\n    publish: $authenticated\n  '**':\n    access: $all\n    publish: $anonymous\n    unpublish: $anonymous\n\
             auth:\n  htpasswd:\n    file: {htpasswd}\n\
             max_body_size: 100mb\nlisten: 127.0.0.1:{port}\nweb:\n  enable: false\n\
             log: {{ type: stdout, format: pretty, level: warn }}\n",
            storage = dir.path().join("storage").display(),
            plugins = dir.path().join("plugins").display(),
            htpasswd = dir.path().join("htpasswd").display(),
        );
        let config_path = dir.path().join("config.yaml");
        fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&config_path)
            .current_dir(dir.path());
        let mut proc = Proc::spawn("verdaccio", &mut cmd);
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for_port(addr, Duration::from_secs(60), &mut proc.child, "verdaccio");
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(addr, "/-/ping", &[]).status != 200 {
            assert!(
                Instant::now() < deadline,
                "verdaccio /-/ping:\n{}",
                proc.output.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Verdaccio {
            proc,
            url: format!("http://127.0.0.1:{port}/"),
            _dir: dir,
        }
    }
}

#[test]
fn kbrel_push_to_verdaccio_then_npm_install() {
    let Some(verdaccio) = verdaccio() else {
        return;
    };
    let url = verdaccio.url.clone();
    let (kb, releases) = two_releases("acme-kb", None);
    let push = |registry: &Path, version: &str, extra: &[&str]| {
        run(kb
            .cmd_with(registry)
            .args(["push", version, "--to", &url])
            .args(extra))
    };

    let r = push(&kb.registry(), "1.0.0", &[]).success();
    assert!(r.stdout.contains("acme-kb@1.0.0 pushed"), "{r}");
    // Idempotent: the identical version again is success and says so.
    let r = push(&kb.registry(), "1.0.0", &[]).success();
    assert!(r.stdout.contains("already present"), "{r}");
    let r = push(&kb.registry(), "latest", &["--json"]).success();
    let report: PushReport = r.parse();
    assert_eq!(
        (report.outcome, report.version.as_str()),
        (PushOutcome::Published, "1.1.0"),
        "{r}"
    );
    let r = push(&kb.registry(), "1.1.0", &["--json"]).success();
    assert_eq!(
        r.parse::<PushReport>().outcome,
        PushOutcome::AlreadyPresent,
        "{r}"
    );

    // npm installs from Verdaccio what kbrel pushed.
    let tarball_prefix = format!("{url}acme-kb/-/");
    check_npm(&url, &kb, &releases, &tarball_prefix);

    // Different content under a published version: refused with exit 2 and the reason.
    kb.append_both(
        "intro",
        "\nChanged after the release.\n",
        "\n发布之后的修改。\n",
    );
    let other = kb.root().join("other-registry");
    kb.release_into(&other, "1.0.0");
    let ours = tarball_integrity(&kb.registry(), "1.0.0");
    let theirs = tarball_integrity(&other, "1.0.0");
    assert_ne!(ours, theirs);
    let r = push(&other, "1.0.0", &[]).code(2);
    assert!(
        r.stderr
            .contains("already published with different content"),
        "{r}"
    );
    assert!(
        r.stderr.contains(&ours) && r.stderr.contains(&theirs),
        "{r}"
    );
    assert!(r.stdout.is_empty(), "{r}");
    // Verdaccio still has the original.
    let project = NpmProject::new(&url);
    let integrity = project
        .npm(&["view", "acme-kb@1.0.0", "dist.integrity"])
        .success();
    assert_eq!(integrity.stdout.trim(), ours);

    // An older, untagged release pushed after a newer one does not move `latest` back.
    let (kb2, _) = two_releases("acme-order", None);
    let push2 = |version: &str, extra: &[&str]| {
        run(kb2.cmd().args(["push", version, "--to", &url]).args(extra))
    };
    push2("1.1.0", &[]).success();
    let r = push2("1.0.0", &[]).code(2);
    assert!(
        r.stderr.contains("latest") && r.stderr.contains("--tag") && r.stderr.contains("1.1.0"),
        "{r}"
    );
    push2("1.0.0", &["--tag", "v1-0"]).success();
    let tags = project
        .npm(&["view", "acme-order", "dist-tags", "--json"])
        .success()
        .json();
    assert_eq!(
        tags,
        serde_json::json!({"latest": "1.1.0", "v1-0": "1.0.0"})
    );
    drop(verdaccio.proc);
}

/// `PUT /-/user/org.couchdb.user:<name>` (npm adduser): the new user's token.
fn add_user(url: &str, name: &str, password: &str) -> String {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let body =
        serde_json::json!({ "name": name, "password": password, "type": "user" }).to_string();
    let raw = exchange(
        addr,
        format!(
            "PUT /-/user/org.couchdb.user:{name} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
        Duration::from_secs(20),
    );
    let r = parse_response(&raw).expect("a response to adduser");
    assert_eq!(r.status, 201, "adduser: {}", r.text());
    r.json()["token"].as_str().expect("token").to_string()
}

#[test]
fn kbrel_push_with_a_token() {
    let Some(verdaccio) = verdaccio() else {
        return;
    };
    let url = verdaccio.url.clone();
    let kb = Kb::small("@private/docs", None);
    kb.release("1.0.0");
    // Anonymous: refused, with the registry's reason.
    let r = run(kb
        .cmd()
        .args(["push", "1.0.0", "--to", &url])
        .env_remove("KBREL_NPM_TOKEN")
        .env_remove("NPM_TOKEN"))
    .code(2);
    assert!(
        r.stderr.contains("refused") && (r.stderr.contains("401") || r.stderr.contains("403")),
        "{r}"
    );
    let token = add_user(&url, "tester", "a-long-test-password-1");
    let r = run(kb
        .cmd()
        .args(["push", "1.0.0", "--to", &url, "--token", &token]))
    .success();
    assert!(r.stdout.contains("@private/docs@1.0.0 pushed"), "{r}");
    // The token from the environment; the version is there now.
    let r = run(kb
        .cmd()
        .args(["push", "1.0.0", "--to", &url])
        .env("KBREL_NPM_TOKEN", &token))
    .success();
    assert!(r.stdout.contains("already present"), "{r}");
    assert!(
        !r.stdout.contains(&token) && !r.stderr.contains(&token),
        "the token is never printed"
    );
    let project = NpmProject::new(&url);
    project.install_and_check(
        "@private/docs",
        "1.0.0",
        &kb.expected("en"),
        &kb.expected("zh"),
    );
}

/// Every `[package]` field a package being replaced may carry (author, homepage, bugs,
/// keywords, engines, publishConfig, files, besides name, description, license and
/// repository) reaches the published package.json exactly; `npm pack` of a `kbrel pack --out`
/// folder packs exactly the tarball's files (`files` covers them); `npm publish` of that folder
/// and `kbrel push` of the next version are accepted by Verdaccio, which serves the fields.
#[test]
fn every_package_field_reaches_package_json_npm_pack_and_verdaccio() {
    let Some(verdaccio) = verdaccio() else {
        return;
    };
    let url = verdaccio.url.clone();
    // `@private/*` is the scope the test Verdaccio lets authenticated users publish.
    let kb = Kb::small("@private/full-docs", None);
    let config = kb.root().join("kbrel.toml");
    let fields = format!(
        "license = \"MIT\"\nrepository = \"https://github.com/acme/full-docs\"\n\
         author = \"Acme Docs Team <docs@acme.test> (https://acme.test)\"\n\
         homepage = \"https://docs.acme.test\"\nbugs = \"https://github.com/acme/full-docs/issues\"\n\
         keywords = [\"docs\", \"knowledge-base\", \"acme\"]\n\
         engines = {{ node = \">=18\" }}\n\
         publish_config = {{ access = \"public\", registry = \"{url}\" }}\n\
         files = [\"manifest.json\", \"dist/\", \"docs/**\"]\n"
    );
    let text = fs::read_to_string(&config)
        .unwrap()
        .replacen("license = \"MIT\"\n", &fields, 1);
    fs::write(&config, text).unwrap();
    kb.release("1.0.0");

    // The package.json in the tarball, field by field.
    let index = kb.index();
    let (tgz, _) = index_file(&index, "1.0.0", "tarball");
    let unpacked = kb.root().join("unpacked");
    extract_tgz(&fs::read(kb.registry().join(tgz)).unwrap(), &unpacked);
    let pj = read_json(&unpacked.join("package/package.json"));
    let keys: BTreeSet<&str> = pj.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let all = [
        "name",
        "version",
        "description",
        "license",
        "repository",
        "author",
        "homepage",
        "bugs",
        "keywords",
        "type",
        "main",
        "types",
        "exports",
        "files",
        "engines",
        "publishConfig",
        "kbrel",
    ];
    assert_eq!(keys, all.into_iter().collect::<BTreeSet<_>>());
    let expected = serde_json::json!({
        "name": "@private/full-docs",
        "version": "1.0.0",
        "description": "kbrel serve test knowledge base.",
        "license": "MIT",
        "repository": "https://github.com/acme/full-docs",
        "author": "Acme Docs Team <docs@acme.test> (https://acme.test)",
        "homepage": "https://docs.acme.test",
        "bugs": "https://github.com/acme/full-docs/issues",
        "keywords": ["docs", "knowledge-base", "acme"],
        "files": ["manifest.json", "dist/", "docs/**"],
        "engines": { "node": ">=18" },
        "publishConfig": { "access": "public", "registry": url },
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&pj[k], v, "package.json `{k}`");
    }

    // `npm pack` of the unpacked release packs exactly the tarball's files.
    let out = kb.root().join("out");
    run(kb.cmd().args(["pack", "1.0.0", "--out"]).arg(&out)).success();
    let project = NpmProject::new(&url);
    let r = project
        .npm(&["pack", "--dry-run", "--json", out.to_str().unwrap()])
        .success();
    let mut npm_files: Vec<String> = r.json()[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    npm_files.sort();
    let mut ours = Vec::new();
    let mut stack = vec![unpacked.join("package")];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(unpacked.join("package")).unwrap();
                ours.push(rel.display().to_string());
            }
        }
    }
    ours.sort();
    assert_eq!(npm_files, ours);

    // npm publishes that folder to Verdaccio (to publishConfig.registry), and kbrel pushes the
    // next version; both carry the fields.
    let token = add_user(&url, "packer", "a-long-test-password-2");
    let host = url.trim_start_matches("http:");
    fs::write(
        project.tmp.path().join("npmrc"),
        format!("{host}:_authToken={token}\n"),
    )
    .unwrap();
    project.npm(&["publish", out.to_str().unwrap()]).success();
    kb.append_both("intro", "\nMore.\n", "\n更多。\n");
    kb.release("1.1.0");
    run(kb
        .cmd()
        .args(["push", "1.1.0", "--to", &url, "--token", &token]))
    .success();
    for version in ["1.0.0", "1.1.0"] {
        let v = project
            .npm(&["view", &format!("@private/full-docs@{version}"), "--json"])
            .success()
            .json();
        assert_eq!(v["version"], version, "{v}");
        assert_eq!(
            v["author"]["name"]
                .as_str()
                .or(v["author"].as_str())
                .map(|a| a.starts_with("Acme Docs Team")),
            Some(true),
            "{v}"
        );
        assert_eq!(v["homepage"], "https://docs.acme.test", "{v}");
        assert_eq!(v["keywords"], expected["keywords"], "{v}");
        assert_eq!(v["engines"], expected["engines"], "{v}");
        let bugs = v["bugs"]["url"].as_str().or(v["bugs"].as_str());
        assert_eq!(
            bugs,
            Some("https://github.com/acme/full-docs/issues"),
            "{v}"
        );
    }
    drop(verdaccio.proc);
}

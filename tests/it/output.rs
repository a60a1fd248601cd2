//! What the binary prints, and what it tells the user to do next: colours that reach the
//! terminal as colours, `--quiet`, messages and hints for an empty registry and for a broken
//! `kbrel.toml`.

use crate::common::{Kb, kbrel, run};

/// `kbrel diff --word` in colour: the escape codes kbrel writes reach the terminal as codes,
/// while control characters in the content are still shown escaped.
#[test]
fn word_diff_in_colour_paints_and_still_escapes_the_content() {
    let kb = Kb::new();
    kb.publish(&["1.0.0"]).success();
    kb.edit(
        "en/intro.md",
        "Pages are short on purpose: one task per page.\n",
        "Pages are short on purpose: one bell \u{7} per page.\n",
    );
    let r = run(kb
        .cmd()
        .args(["diff", "1.0.0", ".", "--word", "--color", "always"]))
    .success();
    assert!(
        r.stdout.contains("\x1b[32mbell"),
        "the insertion is painted green\n{r}"
    );
    assert!(
        r.stdout.contains("\x1b[31;9mtask"),
        "the deletion is painted red and struck through\n{r}"
    );
    assert!(
        !r.stdout.contains("\\u{1b}"),
        "kbrel's own colour codes are not escaped\n{r}"
    );
    assert!(
        r.stdout.contains("\\u{7}") && !r.stdout.contains('\u{7}'),
        "a control character of the content is shown escaped\n{r}"
    );
    assert!(
        r.stdout.contains("\x1b[1mM en/intro.md\x1b[0m"),
        "the heading is bold\n{r}"
    );

    // Without colour: the same words in [-…-]/{+…+}, no escape codes at all.
    let plain = run(kb
        .cmd()
        .args(["diff", "1.0.0", ".", "--word", "--color", "never"]))
    .success();
    assert!(plain.stdout.contains("[-task-]"), "{plain}");
    assert!(plain.stdout.contains("{+bell"), "{plain}");
    assert!(!plain.stdout.contains('\x1b'), "{plain}");
}

/// `publish -q` prints nothing when it succeeds (like `cargo publish -q`); the release is
/// written all the same, and `--json` still prints the requested report.
#[test]
fn quiet_publish_prints_nothing_but_publishes() {
    let kb = Kb::new();
    let r = kb.publish(&["1.0.0", "-q"]).success();
    assert_eq!(r.stdout, "", "{r}");
    assert_eq!(r.stderr, "", "{r}");
    assert!(kb.reg("acme-kb-1.0.0.tgz").is_file());
    assert!(kb.reg("index.json").is_file());

    kb.apply_release_2_changes();
    let r = kb.publish(&["1.1.0", "-q", "--json"]).success();
    assert_eq!(
        r.parse::<kbrel::publish::PublishReport>().version,
        "1.1.0",
        "{r}"
    );

    // Without -q the summary is there.
    let kb = Kb::new();
    let r = kb.publish(&["1.0.0"]).success();
    assert!(r.stdout.contains("Published acme-kb@1.0.0"), "{r}");
}

/// `serve` and `verify` on a folder nothing was published to: not "corrupt", and no advice
/// to run `kbrel verify`, the command that just answered.
#[test]
fn an_empty_or_missing_registry_is_not_called_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = tmp.path().join("missing");
    let file = tmp.path().join("file");
    std::fs::write(&file, "not a folder").unwrap();

    let cases: [(&str, &std::path::Path, &str); 6] = [
        ("serve", &empty, "nothing was published here"),
        ("verify", &empty, "nothing was published here"),
        ("serve", &missing, "it does not exist"),
        ("serve", &file, "it is not a folder"),
        ("verify", &missing, "it does not exist"),
        ("verify", &file, "it is not a folder"),
    ];
    for (command, dir, reason) in cases {
        let mut cmd = kbrel();
        cmd.current_dir(tmp.path()).arg(command).arg(dir);
        if command == "serve" {
            cmd.args(["--addr", "127.0.0.1:0"]);
        }
        let r = run(&mut cmd).code(2);
        assert!(
            r.stderr.contains("is not a registry"),
            "{command} {dir:?}\n{r}"
        );
        assert!(
            r.stderr.contains(reason),
            "{command} {dir:?}: {reason}\n{r}"
        );
        assert!(
            r.stderr.contains(&dir.display().to_string()),
            "names the folder\n{r}"
        );
        assert!(!r.stderr.contains("corrupt"), "{command} {dir:?}\n{r}");
        assert!(!r.stderr.contains("kbrel verify"), "{command} {dir:?}\n{r}");
        assert!(
            r.stderr.contains("hint: publish a release"),
            "{command} {dir:?}\n{r}"
        );
    }

    // Nothing was written into the empty folder.
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

/// A TOML syntax error keeps its layout: the line, the caret under the column, the reason.
#[test]
fn toml_errors_keep_their_line_breaks() {
    let kb = Kb::new();
    let text = std::fs::read_to_string(kb.config()).unwrap();
    std::fs::write(kb.config(), format!("{text}\nbroken = \n")).unwrap();
    let r = run(kb.cmd().arg("check")).code(2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: invalid configuration in `")
            && lines[0].contains("kbrel.toml")
            && lines[0].contains("TOML parse error at line"),
        "{r}"
    );
    let caret = lines
        .iter()
        .position(|l| l.trim_start().starts_with('|') && l.contains('^'))
        .unwrap_or_else(|| panic!("a caret line\n{r}"));
    assert!(
        lines[caret - 1].contains("broken = "),
        "the offending line is quoted above the caret\n{r}"
    );
    assert!(
        lines[caret + 1..]
            .iter()
            .any(|l| l.contains("string values must be quoted")),
        "the reason follows\n{r}"
    );
    assert!(lines.iter().any(|l| l.starts_with("hint: ")), "{r}");
}

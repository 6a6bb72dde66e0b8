//! What a newcomer expects of a command-line tool: shell completions,
//! manual pages, `-q` and `-v`.

use std::process::Command;

use crate::support::{code, kaudit, show};

/// The completion script for `shell`, checked for the commands and flags.
fn completions(shell: &str) -> String {
    let out = kaudit(["completions", shell]);
    assert_eq!(code(&out), 0, "{shell}: {}", show(&out));
    assert!(out.stderr.is_empty(), "{shell}: {}", show(&out));
    let s = String::from_utf8(out.stdout).unwrap();
    for word in ["kaudit", "install-mask", "allowlist", "profile", "quiet"] {
        assert!(s.contains(word), "{shell}: {word} not in\n{s}");
    }
    s
}

#[test]
fn completions_are_written_for_every_shell_and_bash_parses_them() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        completions(shell);
    }
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), completions("bash")).unwrap();
    let out = Command::new("bash")
        .arg("-n")
        .arg(script.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "bash -n: {}", show(&out));
    // and completes: the subcommands after `kaudit `
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(kaudit ins); COMP_CWORD=1; COMP_LINE='kaudit ins'; COMP_POINT=10; _kaudit kaudit ins kaudit; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.path().display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "install-mask\n");
    // an unknown shell is a usage error
    let out = kaudit(["completions", "tcsh"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
}

#[test]
fn man_pages_are_written_for_every_subcommand_and_render() {
    // kaudit.1 on stdout
    let out = kaudit(["man"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains("\n.TH kaudit 1 "), "{page}");
    assert!(page.contains("\n.SH SUBCOMMANDS\n"), "{page}");
    // every page into a directory, one per subcommand
    let dir = tempfile::tempdir().unwrap();
    let out = kaudit(["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "kaudit.1",
        "kaudit-scan.1",
        "kaudit-docs.1",
        "kaudit-check.1",
        "kaudit-scenarios.1",
        "kaudit-scenarios-list.1",
        "kaudit-completions.1",
        "kaudit-man.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    for n in &names {
        let text = std::fs::read_to_string(dir.path().join(n)).unwrap();
        let stem = n.trim_end_matches(".1");
        assert!(text.contains(&format!("\n.TH {stem} 1 ")), "{n}: {text}");
    }
    // man renders them: the name, the synopsis and the long help
    let out = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("kaudit-docs.1"))
        .env("MANWIDTH", "100")
        .env("PAGER", "cat")
        .output()
        .expect("man (man-db) is installed");
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "kaudit-docs - Justification pages of a profile",
        "SYNOPSIS",
        "--profile",
        "SUMMARY.md",
    ] {
        assert!(text.contains(want), "{want} not in\n{text}");
    }
}

#[test]
fn quiet_says_nothing_on_success_and_verbose_says_more() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man");
    let man = |flags: &[&str]| {
        let mut a: Vec<&str> = flags.to_vec();
        a.extend(["man", "--out", out_dir.to_str().unwrap()]);
        kaudit(a)
    };
    let out = man(&[]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let normal = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(normal.contains("manual page(s) written to"), "{normal}");
    assert!(!normal.contains("wrote "), "{normal}");
    for q in ["-q", "--quiet"] {
        let out = man(&[q]);
        assert_eq!(code(&out), 0, "{}", show(&out));
        assert!(out.stderr.is_empty(), "{q}: {}", show(&out));
    }
    let out = man(&["-v"]);
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(verbose.contains("manual page(s) written to"), "{verbose}");
    assert!(verbose.contains("kaudit: wrote "), "{verbose}");
    assert!(verbose.contains("kaudit-scan.1\n"), "{verbose}");
    // global: after the subcommand too
    let out = kaudit(["man", "--out", out_dir.to_str().unwrap(), "-q"]);
    assert!(out.stderr.is_empty(), "{}", show(&out));
    // errors are said even with -q
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = kaudit(["-q", "man", "--out", file.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kaudit: error: creating "), "{err}");
    assert!(err.contains("a-file"), "{err}");
    // -q and -v together are a usage error
    let out = kaudit(["-q", "-v", "man"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
}

//! The architecture's rules, checked on the source tree (ARCHITECTURE.md,
//! "Architecture invariants"): `cargo test tidy` runs them, without root.
//! Each rule is stated as an absence, and each test names what breaks it.

use std::path::{Path, PathBuf};

/// The library crates of the product: no printing, no exiting, no SQLite
/// except in `graph`.
const LIBRARIES: &[&str] = &["analyzer", "graph", "image", "reports", "tracer"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Rust source file under `dir` (relative to the repository).
fn sources(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(repo().join(dir))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// The code of a Rust file without its comments (line comments and doc
/// comments; string contents are kept).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let t = l.trim_start();
        (!t.starts_with("//")).then_some((i + 1, l))
    })
}

/// Whether `line` holds `needle` as a name of its own (`eprintln!` does not
/// hold `println!`).
fn holds(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(i, _)| {
        !line[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Where `needles` occur in the code of the files, as "file:line: text".
fn occurrences(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files {
        let text = read(f);
        for (n, l) in code_lines(&text) {
            if needles.iter().any(|x| holds(l, x)) {
                found.push(format!("{}:{n}: {}", rel(f), l.trim()));
            }
        }
    }
    found
}

/// The `[dependencies]` table of a crate's manifest, as text.
fn dependencies(manifest: &Path) -> String {
    let text = read(manifest);
    let mut out = String::new();
    let mut inside = false;
    for l in text.lines() {
        if l.starts_with('[') {
            inside = l.trim() == "[dependencies]";
            continue;
        }
        if inside {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[test]
fn tidy_only_graph_knows_sqlite() {
    let mut found = Vec::new();
    for c in [".", "analyzer", "image", "reports", "tracer"] {
        let m = repo().join(c).join("Cargo.toml");
        if dependencies(&m).contains("rusqlite") {
            found.push(format!("{}: depends on rusqlite", rel(&m)));
        }
        let src = if c == "." {
            "src".to_string()
        } else {
            format!("{c}/src")
        };
        found.extend(occurrences(&sources(&src), &["rusqlite", "connection()"]));
    }
    assert!(
        found.is_empty(),
        "only graph/ may know SQLite (ARCHITECTURE.md); found:\n{}",
        found.join("\n")
    );
}

#[test]
fn tidy_libraries_never_print_or_exit() {
    let mut found = Vec::new();
    for c in LIBRARIES {
        let lib = repo().join(c).join("src/lib.rs");
        let text = read(&lib);
        for lint in ["clippy::print_stdout", "clippy::print_stderr"] {
            if !text
                .lines()
                .any(|l| l.starts_with("#![deny(") && l.contains(lint))
            {
                found.push(format!("{}: does not deny {lint}", rel(&lib)));
            }
        }
        found.extend(occurrences(
            &sources(&format!("{c}/src")),
            &[
                "println!",
                "print!",
                "eprintln!",
                "eprint!",
                "dbg!",
                "process::exit",
                "io::stdout()",
                "io::stderr()",
            ],
        ));
    }
    assert!(
        found.is_empty(),
        "libraries never print and never exit (ARCHITECTURE.md); found:\n{}",
        found.join("\n")
    );
}

#[test]
fn tidy_only_the_printer_writes_standard_output() {
    let files: Vec<PathBuf> = sources("src")
        .into_iter()
        .filter(|f| !f.starts_with(repo().join("src/printer")))
        .collect();
    let found = occurrences(&files, &["println!", "print!", "io::stdout()", "dbg!"]);
    assert!(
        found.is_empty(),
        "commands write their data through src/printer (ARCHITECTURE.md); found:\n{}",
        found.join("\n")
    );
}

#[test]
fn tidy_reports_are_rendered_only_in_the_printer() {
    // JSON for people and programs is made in src/printer, one module per
    // report; the libraries and the commands hand it data
    let mut files: Vec<PathBuf> = sources("src")
        .into_iter()
        .filter(|f| !f.starts_with(repo().join("src/printer")))
        .collect();
    for c in LIBRARIES {
        files.extend(sources(&format!("{c}/src")));
    }
    let found = occurrences(
        &files,
        &["to_string_pretty", "to_writer_pretty", "to_vec_pretty"],
    );
    assert!(
        found.is_empty(),
        "reports are rendered in src/printer (ARCHITECTURE.md); found:\n{}",
        found.join("\n")
    );
}

#[test]
fn tidy_commands_own_their_arguments() {
    // cli.rs is the dispatch: the global options, one variant and one line
    // of dispatch per command; each command's flags live in its module
    let cli = read(&repo().join("src/cli.rs"));
    let mut found = Vec::new();
    let args = cli.matches("#[arg(").count();
    if args != 3 {
        found.push(format!(
            "src/cli.rs: {args} #[arg] attributes, not the 3 global options"
        ));
    }
    for (n, l) in code_lines(&cli) {
        if l.contains("struct ") && !l.contains("struct Cli") {
            found.push(format!("src/cli.rs:{n}: {}", l.trim()));
        }
    }
    assert!(
        found.is_empty(),
        "a command's arguments belong in its module (ARCHITECTURE.md); found:\n{}",
        found.join("\n")
    );
}

#[test]
fn tidy_every_source_file_opens_with_its_purpose() {
    let mut found = Vec::new();
    for dir in [
        "src", "analyzer", "graph", "image", "reports", "tracer", "xtask", "tests",
    ] {
        for f in sources(dir) {
            if f.components().any(|c| c.as_os_str() == "target") {
                continue;
            }
            if !read(&f).starts_with("//!") {
                found.push(rel(&f));
            }
        }
    }
    assert!(
        found.is_empty(),
        "every source file opens with a //! comment saying what it is; these do not:\n{}",
        found.join("\n")
    );
}

/// The backquoted names in ARCHITECTURE.md that look like files or
/// directories of the repository, each with the directory of the section
/// that names it (`analyzer/` for the analyzer's section, `src/` for the
/// binary's; empty outside a crate's section).
fn named_paths(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            // the first directory the heading names: `analyzer/`, (`src/`)
            section = h
                .split('`')
                .skip(1)
                .step_by(2)
                .find(|t| t.ends_with('/'))
                .unwrap_or("")
                .to_string();
        } else if line.starts_with("## ") {
            section.clear();
        }
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 || part.contains(' ') || part.contains("://") || part.starts_with('/') {
                continue;
            }
            let looks_like_file = [".rs", ".toml", ".c", ".sh", ".md"]
                .iter()
                .any(|x| part.ends_with(x));
            let looks_like_dir = part.ends_with('/') && !part.contains('*');
            if (looks_like_file || looks_like_dir) && !part.contains("NAME") && !part.contains('$')
            {
                out.push((part.trim_start_matches("./").to_string(), section.clone()));
            }
        }
    }
    out
}

#[test]
fn tidy_every_path_architecture_md_names_exists() {
    let text = read(&repo().join("ARCHITECTURE.md"));
    // named in ARCHITECTURE.md, but not files of the repository: what
    // kaudit writes, and systemd's names
    let not_ours = ["book.toml", ".wants/"];
    let names: Vec<(String, String)> = named_paths(&text)
        .into_iter()
        .filter(|(n, _)| !not_ours.contains(&n.as_str()))
        .collect();
    assert!(names.len() > 40, "ARCHITECTURE.md names files: {names:?}");
    let mut missing = Vec::new();
    for (name, section) in names {
        let want = name.trim_end_matches('/');
        // from the repository's root, or inside the section's directory
        // (a crate's file by its path in the crate's src/)
        let mut places = vec![repo().join(want)];
        if !section.is_empty() {
            places.push(repo().join(&section).join(want));
            places.push(repo().join(&section).join("src").join(want));
        }
        if !places.iter().any(|p| p.exists()) {
            missing.push(format!("{name} (in the section of {section:?})"));
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names files that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn tidy_nothing_is_promised_for_later() {
    // the documentation says what is, the code what it does
    let later = ["to", "come"].join(" ");
    let mut files = vec![repo().join("ARCHITECTURE.md"), repo().join("README.md")];
    files.extend(
        walkdir::WalkDir::new(repo().join("docs"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
            .map(|e| e.into_path()),
    );
    for dir in [
        "src",
        "analyzer/src",
        "graph/src",
        "image/src",
        "reports/src",
        "tracer/src",
    ] {
        files.extend(sources(dir));
    }
    let mut found = Vec::new();
    for f in files {
        for (n, l) in read(&f).lines().enumerate() {
            if l.to_lowercase().contains(&later) {
                found.push(format!("{}:{}: {}", rel(&f), n + 1, l.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "nothing is promised for later; found:\n{}",
        found.join("\n")
    );
}

#[test]
fn tidy_architecture_md_holds_no_measurements() {
    // figures change with every machine and kernel; they live in docs/
    let text = read(&repo().join("ARCHITECTURE.md"));
    let units = [
        " ns", " ms", " µs", " MiB", " GiB", " s ", " s,", " s)", "%",
    ];
    let mut found = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let digits = l.char_indices().filter(|(_, c)| c.is_ascii_digit());
        for (i, _) in digits {
            let rest = &l[i + 1..];
            if units.iter().any(|u| rest.starts_with(u)) {
                found.push(format!("ARCHITECTURE.md:{}: {}", n + 1, l.trim()));
                break;
            }
        }
    }
    assert!(
        found.is_empty(),
        "ARCHITECTURE.md states rules, docs/ the measurements; found:\n{}",
        found.join("\n")
    );
}

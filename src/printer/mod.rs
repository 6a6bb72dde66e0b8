//! Output: every command renders through here (text, list, JSON), writing
//! paths as raw bytes so non-UTF-8 names come out exactly as stored.

pub(crate) mod allowlist;
pub(crate) mod check;
pub(crate) mod deps;
pub(crate) mod findings;
pub(crate) mod packages;
pub(crate) mod prove;
pub(crate) mod rdeps;
pub(crate) mod runs;
pub(crate) mod scan;
pub(crate) mod scenarios;
pub(crate) mod verify;
pub(crate) mod why;
pub(crate) mod writable;

use std::io::{self, Write};

/// Standard output for a command's data. A closed standard output (piped
/// into `head`) is not an error: what is not read is dropped, so that a
/// command still ends with the exit status of its answer (a failed gate
/// exits 1 whether or not its report was read).
pub(crate) struct Stdout {
    inner: io::StdoutLock<'static>,
    closed: bool,
}

/// The command's data output (see [`Stdout`]).
pub(crate) fn stdout() -> Stdout {
    Stdout {
        inner: io::stdout().lock(),
        closed: false,
    }
}

impl Stdout {
    fn guard<T>(&mut self, r: io::Result<T>, or: T) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(or)
            }
            r => r,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.guard(r, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.flush();
        self.guard(r, ())
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// An error's message with its causes, each said once: a cause whose text
/// the message already holds is not repeated ("X: X").
pub(crate) fn error_message(e: &anyhow::Error) -> String {
    let mut s = String::new();
    for c in e.chain() {
        let t = c.to_string();
        if t.is_empty() || s.contains(&t) {
            continue;
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&t);
    }
    s
}

/// Whether an error is a closed stdout (e.g. piped into `head`).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The one `--format` of every command. Each command accepts the formats
/// its data has (`Format::among`), so `--help` lists exactly those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Lines for people (and `grep`)
    Text,
    /// One path per line
    List,
    /// A tree, each edge with its evidence
    Tree,
    /// Structured data
    Json,
    /// A Markdown page (a pull request comment)
    Markdown,
    /// A JUnit XML report (CI systems)
    Junit,
}

impl Format {
    const ALL: [Format; 6] = [
        Format::Text,
        Format::List,
        Format::Tree,
        Format::Json,
        Format::Markdown,
        Format::Junit,
    ];

    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::List => "list",
            Format::Tree => "tree",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
        }
    }

    /// A `--format` value parser accepting only `formats`.
    pub(crate) fn among(formats: &'static [Format]) -> Formats {
        Formats(formats)
    }
}

/// The parser of a command's `--format`: the formats it accepts, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Formats(&'static [Format]);

impl clap::builder::TypedValueParser for Formats {
    type Value = Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Format, clap::Error> {
        let names: Vec<&'static str> = self.0.iter().map(|f| f.name()).collect();
        let given = clap::builder::PossibleValuesParser::new(names).parse_ref(cmd, arg, value)?;
        Ok(*Format::ALL
            .iter()
            .find(|f| f.name() == given)
            .expect("the possible values are format names"))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.0
                .iter()
                .map(|f| clap::builder::PossibleValue::new(f.name())),
        ))
    }
}

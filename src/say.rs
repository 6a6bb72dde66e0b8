//! How much kaudit says on standard error besides errors: `-q` (nothing but
//! errors and warnings), the default (progress and summaries), `-v`, `-vv`
//! (each step, the marks set, timing). Set once by `cli::run` before a
//! command runs; read by every command.

use std::sync::atomic::{AtomicI8, Ordering};

static LEVEL: AtomicI8 = AtomicI8::new(0);

/// `-q` is -1, the default 0, each `-v` one more.
pub(crate) fn set(quiet: bool, verbose: u8) {
    let level = if quiet {
        -1
    } else {
        i8::try_from(verbose).unwrap_or(i8::MAX)
    };
    LEVEL.store(level, Ordering::Relaxed);
}

/// `-q` was given: no progress, no summaries.
pub(crate) fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) < 0
}

/// `-v` was given at least `n` times.
pub(crate) fn verbose(n: i8) -> bool {
    LEVEL.load(Ordering::Relaxed) >= n
}

/// A summary or progress line (`kaudit: …` on stderr), left out with `-q`.
pub(crate) fn note(msg: std::fmt::Arguments<'_>) {
    if !quiet() {
        eprintln!("kaudit: {msg}");
    }
}

/// A detail shown with `-v` only.
pub(crate) fn detail(msg: std::fmt::Arguments<'_>) {
    if verbose(1) {
        eprintln!("kaudit: {msg}");
    }
}

/// Where summaries go: standard error, or nowhere with `-q`.
pub(crate) fn summaries() -> Box<dyn std::io::Write> {
    if quiet() {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stderr().lock())
    }
}

/// Time what `f` does, and say how long it took with `-v`.
pub(crate) fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    if !verbose(1) {
        return f();
    }
    let started = std::time::Instant::now();
    let r = f();
    eprintln!("kaudit: {what}: {:.3} s", started.elapsed().as_secs_f64());
    r
}

//! The schema, as an append-only list of migrations keyed by
//! `PRAGMA user_version`. Never remove or reorder a migration; add a new one.
//! `docs/graph.md` documents every table and edge kind.

/// Migrations, in order. Migration `i` moves the database from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: static analysis
    r#"
CREATE TABLE scan (
    id           INTEGER PRIMARY KEY,
    root         BLOB NOT NULL,
    cpu          TEXT NOT NULL,
    entries      INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    elf          INTEGER NOT NULL,
    loads        INTEGER NOT NULL,
    scripts      INTEGER NOT NULL,
    edges        INTEGER NOT NULL,
    findings     INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE TABLE file (
    id          INTEGER PRIMARY KEY,
    path        BLOB NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    gid         INTEGER NOT NULL,
    dev         INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    nlink       INTEGER NOT NULL,
    mtime       INTEGER NOT NULL,
    rdev        INTEGER NOT NULL,
    link_target BLOB
);
CREATE INDEX file_inode ON file(dev, ino);
CREATE TABLE elf (
    file_id  INTEGER PRIMARY KEY REFERENCES file(id) ON DELETE CASCADE,
    class    INTEGER NOT NULL,
    machine  INTEGER NOT NULL,
    etype    INTEGER NOT NULL,
    linkage  TEXT NOT NULL,
    interp   BLOB,
    soname   BLOB,
    rpath    BLOB,
    runpath  BLOB,
    flags_1  INTEGER NOT NULL,
    nodeflib INTEGER NOT NULL
);
CREATE TABLE needed (
    file_id INTEGER NOT NULL REFERENCES file(id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    name    BLOB NOT NULL,
    PRIMARY KEY (file_id, idx)
) WITHOUT ROWID;
CREATE TABLE script (
    file_id     INTEGER PRIMARY KEY REFERENCES file(id) ON DELETE CASCADE,
    interpreter BLOB NOT NULL,
    argument    BLOB
);
CREATE TABLE edge (
    id      INTEGER PRIMARY KEY,
    src     INTEGER NOT NULL REFERENCES file(id) ON DELETE CASCADE,
    dst     INTEGER REFERENCES file(id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    context INTEGER REFERENCES file(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    name    BLOB,
    path    BLOB,
    rule    TEXT,
    via     BLOB,
    origin  TEXT NOT NULL DEFAULT 'scan'
);
CREATE INDEX edge_src ON edge(src);
CREATE INDEX edge_dst ON edge(dst);
CREATE INDEX edge_context ON edge(context, seq);
CREATE TABLE finding (
    id       INTEGER PRIMARY KEY,
    code     TEXT NOT NULL,
    severity TEXT NOT NULL,
    path     BLOB NOT NULL,
    context  BLOB,
    message  TEXT NOT NULL,
    origin   TEXT NOT NULL DEFAULT 'scan'
);
CREATE INDEX finding_path ON finding(path);
CREATE INDEX finding_context ON finding(context);
"#,
    // 2: no index on (dev, ino): nothing queries it yet, and rebuilding it is
    // a tenth of a second of every scan of a large root
    "DROP INDEX IF EXISTS file_inode;",
    // 3: traced runs and what they accessed
    r#"
CREATE TABLE run (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    command     TEXT,
    params      TEXT,
    root        BLOB NOT NULL,
    host        TEXT NOT NULL,
    kernel      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    status      TEXT NOT NULL,
    complete    INTEGER NOT NULL,
    events      INTEGER NOT NULL DEFAULT 0,
    lost        TEXT,
    marks       TEXT
);
CREATE INDEX run_name ON run(name, id);
CREATE TABLE access (
    id       INTEGER PRIMARY KEY,
    run      INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
    path     BLOB NOT NULL,
    kind     TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    comm     TEXT NOT NULL,
    exe      BLOB,
    parents  TEXT NOT NULL,
    step     TEXT,
    count    INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    UNIQUE (run, path, kind)
);
CREATE INDEX access_path ON access(path);
"#,
    // 4: the names programs asked for, with the result (BPF name capture)
    r#"
CREATE TABLE name (
    id       INTEGER PRIMARY KEY,
    run      INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
    path     BLOB NOT NULL,
    call     TEXT NOT NULL,
    result   TEXT NOT NULL,
    nofollow INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    resolved BLOB,
    pid      INTEGER NOT NULL,
    comm     TEXT NOT NULL,
    step     TEXT,
    count    INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    UNIQUE (run, path, call, result)
);
CREATE INDEX name_path ON name(path);
CREATE INDEX name_resolved ON name(resolved);
CREATE TABLE name_hop (
    name     INTEGER NOT NULL REFERENCES name(id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    link     BLOB NOT NULL,
    target   BLOB NOT NULL,
    PRIMARY KEY (name, seq)
);
CREATE INDEX name_hop_link ON name_hop(link);
ALTER TABLE run ADD COLUMN names TEXT;
"#,
    // 5: the root's installed packages and what each owns (written by scan)
    r#"
CREATE TABLE package (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    version  TEXT,
    arch     TEXT,
    db       TEXT NOT NULL
);
CREATE TABLE owner (
    path     BLOB NOT NULL,
    package  INTEGER NOT NULL REFERENCES package(id) ON DELETE CASCADE,
    listed   BLOB NOT NULL,
    PRIMARY KEY (path, package)
) WITHOUT ROWID;
CREATE INDEX owner_package ON owner(package);
"#,
    // 6: computed closures, kept for the reports that read them again
    r#"
CREATE TABLE closure (
    key        TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    entries    INTEGER NOT NULL
);
CREATE TABLE closure_entry (
    key      TEXT NOT NULL REFERENCES closure(key) ON DELETE CASCADE,
    path     BLOB NOT NULL,
    depth    INTEGER NOT NULL,
    more     INTEGER NOT NULL,
    reasons  TEXT NOT NULL,
    PRIMARY KEY (key, path)
) WITHOUT ROWID;
CREATE TABLE closure_dropped (
    key         TEXT NOT NULL REFERENCES closure(key) ON DELETE CASCADE,
    path        BLOB NOT NULL,
    excluded_by INTEGER,
    reason      TEXT NOT NULL
);
CREATE INDEX closure_dropped_path ON closure_dropped(key, path);
"#,
    // 7: what package databases say beyond ownership (Gentoo CONTENTS kinds, SIZE)
    r#"
ALTER TABLE owner ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE package ADD COLUMN size INTEGER;
"#,
    // 8: a Gentoo package's slot
    r#"
ALTER TABLE package ADD COLUMN slot TEXT;
"#,
    // 9: the file says it is a kaudit graph (see `APPLICATION_ID`)
    r#"
PRAGMA application_id = 1801549156;
"#,
    // 10: the process that traces a run, so that a run whose tracer was
    // killed can be told from one still being traced
    r#"
ALTER TABLE run ADD COLUMN pid INTEGER;
"#,
    // 11: loads stored as direct needs (`load_format` 2): a `needed` or
    // `interp` edge names the final file it leads to, whose own needs follow
    r#"
ALTER TABLE edge ADD COLUMN file INTEGER REFERENCES file(id) ON DELETE CASCADE;
ALTER TABLE scan ADD COLUMN load_format INTEGER NOT NULL DEFAULT 1;
"#,
    // 12: proofs of necessity (kaudit prove): per profile, each kept
    // entry's proof, and how the last proof went
    r#"
CREATE TABLE proof (
    profile  TEXT NOT NULL,
    path     BLOB NOT NULL,
    kind     TEXT NOT NULL,
    scenario TEXT,
    step     TEXT,
    detail   TEXT NOT NULL,
    PRIMARY KEY (profile, path)
) WITHOUT ROWID;
CREATE TABLE proof_run (
    profile  TEXT PRIMARY KEY,
    image    BLOB NOT NULL,
    made_at  INTEGER NOT NULL,
    replays  INTEGER NOT NULL,
    tested   INTEGER NOT NULL,
    seconds  REAL NOT NULL,
    baseline REAL NOT NULL
);
"#,
];

/// `PRAGMA application_id` of a kaudit graph: `kaud` in ASCII. A database
/// with another application id, or with tables but neither this id nor
/// kaudit's own tables, is another program's file and is never touched.
pub const APPLICATION_ID: i64 = 0x6b61_7564;

/// The schema version this build writes.
pub fn version() -> i64 {
    MIGRATIONS.len() as i64
}

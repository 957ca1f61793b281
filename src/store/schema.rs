//! The baseline's schema. `application_id` marks the file as a fim baseline and
//! `user_version` is the schema version; both sit in the SQLite header, so a foreign
//! or incompatible database is recognised before any table is read.

/// "FIM1" in ASCII.
pub const APPLICATION_ID: i64 = 0x4649_4D31;
pub const SCHEMA_VERSION: i64 = 1;

/// The columns of an entry row, shared by `entries` and `observed`.
const ENTRY_COLUMNS: &str = "
    path     BLOB PRIMARY KEY,
    type     INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mode     INTEGER NOT NULL,
    uid      INTEGER NOT NULL,
    gid      INTEGER NOT NULL,
    mtime_s  INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_s  INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode    INTEGER NOT NULL,
    nlink    INTEGER NOT NULL,
    target   BLOB,
    xattrs   BLOB,
    blake3   BLOB
";

const ENTRY_NAMES: &str =
    "path, type, size, mode, uid, gid, mtime_s, mtime_ns, ctime_s, ctime_ns, inode, nlink, target, xattrs, blake3";

pub fn create() -> String {
    format!(
        "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per monitored entry, keyed by the raw bytes of its absolute path.
CREATE TABLE entries ({ENTRY_COLUMNS}) WITHOUT ROWID;

-- The last state `fim watch` observed: what the next change is compared with.
-- Filled from `entries` when the daemon first starts on this baseline.
CREATE TABLE observed ({ENTRY_COLUMNS}) WITHOUT ROWID;

-- Every event fim reported, as the JSON line it printed.
CREATE TABLE events (
    seq    INTEGER PRIMARY KEY,
    id     TEXT NOT NULL UNIQUE,
    ts_ms  INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    path   BLOB NOT NULL,
    source TEXT NOT NULL,
    json   TEXT NOT NULL
);
CREATE INDEX events_ts ON events (ts_ms);

-- The audit trail of `fim accept`.
CREATE TABLE accepts (
    seq    INTEGER PRIMARY KEY,
    ts     TEXT NOT NULL,
    user   TEXT NOT NULL,
    reason TEXT,
    paths  TEXT NOT NULL,
    count  INTEGER NOT NULL
);
"
    )
}

pub const TABLES: [&str; 5] = ["meta", "entries", "observed", "events", "accepts"];

pub const META_KEYS: [&str; 5] = ["schema_version", "policy", "host", "fim_version", "created"];

/// The two tables of entry rows.
#[derive(Clone, Copy, Debug)]
pub enum Rows {
    /// The baseline: changed only by `init` and `accept`.
    Entries,
    /// The watch daemon's last observed state.
    Observed,
}

impl Rows {
    fn table(self) -> &'static str {
        match self {
            Rows::Entries => "entries",
            Rows::Observed => "observed",
        }
    }

    pub fn insert(self) -> String {
        format!(
            "INSERT OR REPLACE INTO {} ({ENTRY_NAMES}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            self.table()
        )
    }

    pub fn select(self) -> String {
        format!("SELECT {ENTRY_NAMES} FROM {}", self.table())
    }
}

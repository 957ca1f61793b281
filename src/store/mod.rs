//! The baseline: a SQLite database holding the policy it was built with, one row per
//! monitored entry, the event history and the accept audit trail.
//!
//! A new baseline is built in a temporary file beside the target and renamed into
//! place only when complete, so a killed `init` leaves the previous one intact.

mod activity;
mod cursors;
mod history;
mod listeners;
mod logins;
pub mod outbox;
pub mod probes;
mod read_only;
mod rows;
mod schema;
pub mod seal;
mod state;
mod update;

use std::path::{Path, PathBuf};

pub use history::AcceptRecord;
pub use logins::LoginSource;
pub use probes::ProbeCheck;
use rusqlite::{params, Connection, OpenFlags, Transaction};
use schema::Rows;
pub use state::{proc_start, DaemonState, Run};
pub use update::{warn_if_unrecorded, PolicyUpdate};

use crate::compare::State;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::fs::open::regular_file_exists;
use crate::fs::path as bpath;
use crate::fs::{Attrs, Entry};
use crate::logs::Position;
use crate::policy::Policy;
use crate::scan::Skip;

/// What a baseline says about itself.
#[derive(Debug, Clone)]
pub struct Meta {
    pub policy: String,
    pub host: String,
    pub fim_version: String,
    pub created: String,
}

/// One recorded `fim accept`.
#[derive(Debug, Clone)]
pub struct Audit {
    pub ts: String,
    pub user: String,
    pub reason: Option<String>,
    pub paths: Vec<String>,
}

/// Filters of `fim events`; the path glob is applied by the caller.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub since_ms: Option<i64>,
    pub kind: Option<String>,
    pub category: Option<String>,
}

/// An open, checked baseline.
pub struct Baseline {
    conn: Connection,
    path: PathBuf,
    /// On read-only storage (see `read_only`): read, never written.
    read_only: bool,
}

/// How a baseline's seal is checked.
pub enum SealCheck {
    /// The digest only: catches corruption and naive edits, not a re-seal by root.
    Digest,
    /// The digest and its ed25519 signature with this public key (named for messages).
    Signed(Box<ed25519_dalek::VerifyingKey>, PathBuf),
}

impl SealCheck {
    /// With the given public key, else the one the policy names, else the digest alone.
    pub fn choose(verify_key: Option<&Path>, policy: &Policy) -> Result<SealCheck> {
        match verify_key.or(policy.verify_key.as_deref()) {
            Some(path) => Ok(SealCheck::Signed(
                Box::new(crate::keys::load_verifying(path)?),
                path.to_path_buf(),
            )),
            None => Ok(SealCheck::Digest),
        }
    }
}

/// The files a baseline at `db` owns (itself, its WAL, shared memory and journal, and
/// the temporary file `init` builds): never recorded, never reported.
pub fn own_files(db: &Path) -> Skip {
    let mut paths = Vec::new();
    let mut bases = vec![db.to_path_buf(), temp_path(db)];
    if let Some(real) = db
        .parent()
        .and_then(|dir| dir.canonicalize().ok())
        .zip(db.file_name())
        .map(|(dir, name)| dir.join(name))
    {
        bases.push(temp_path(&real));
        bases.push(real);
    }
    for base in bases {
        let base = bpath::bytes(&base).to_vec();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            paths.push([&base[..], suffix.as_bytes()].concat());
        }
    }
    Skip::new(paths)
}

/// Where `init` builds a baseline: one fixed name beside it, so a file left by a
/// killed `init` is never reported and is reused by the next one.
fn temp_path(db: &Path) -> PathBuf {
    sidecar(db, ".tmp")
}

impl Baseline {
    /// Open an existing baseline and check it is one: a missing or unreadable file is an
    /// error (exit 2); a file that is not a fim baseline, is corrupt, or has another
    /// schema version fails the integrity check (exit 3).
    pub fn open(path: &Path) -> Result<Baseline> {
        match regular_file_exists(path) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no baseline here (create one with `fim init`)",
                    ),
                ))
            }
            Err(e) => return Err(Error::io(path, e)),
        }
        crate::keys::check_trusted(path, "baseline")?;
        let read_only = !read_only::writable(path);
        let conn = if read_only {
            read_only::open(path)
        } else {
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        }
        .map_err(|e| db_error(path, e))?;
        let baseline = Baseline {
            conn,
            path: path.to_path_buf(),
            read_only,
        };
        baseline.check()?;
        baseline
            .conn
            .execute_batch("PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;")
            .map_err(|e| baseline.err(e))?;
        Ok(baseline)
    }

    /// Is the baseline on storage this process cannot write?
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// An error unless the baseline can be written: for the commands that change it.
    pub fn require_writable(&self, command: &str) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        Err(Error::io(
            &self.path,
            std::io::Error::new(
                std::io::ErrorKind::ReadOnlyFilesystem,
                format!("read-only (storage or permissions): `fim {command}` writes the baseline"),
            ),
        ))
    }

    fn check(&self) -> Result<()> {
        let pragma = |name: &str| -> Result<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        if pragma("application_id")? != schema::APPLICATION_ID {
            return Err(self.integrity("not a fim baseline".into()));
        }
        let version = pragma("user_version")?;
        if version != schema::SCHEMA_VERSION {
            return Err(self.integrity(format!(
                "schema version {version}, but this fim reads version {}",
                schema::SCHEMA_VERSION
            )));
        }
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| self.err(e))?;
        if let Some(missing) = schema::TABLES
            .iter()
            .find(|t| !tables.iter().any(|n| n == *t))
        {
            return Err(self.integrity(format!("table {missing:?} is missing")));
        }
        let verdict: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if verdict != "ok" {
            return Err(self.integrity(format!("corrupt: {verdict}")));
        }
        for key in schema::META_KEYS {
            self.meta_value(key)?;
        }
        Ok(())
    }

    fn meta_value(&self, key: &str) -> Result<String> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => {
                    self.integrity(format!("metadata {key:?} is missing"))
                }
                e => self.err(e),
            })
    }

    pub fn meta(&self) -> Result<Meta> {
        Ok(Meta {
            policy: self.meta_value("policy")?,
            host: self.meta_value("host")?,
            fim_version: self.meta_value("fim_version")?,
            created: self.meta_value("created")?,
        })
    }

    /// The policy recorded in the baseline; an error in it is reported against the
    /// baseline.
    pub fn recorded_policy(&self) -> Result<Policy> {
        let origin = format!("{} (recorded policy)", self.path.display());
        Policy::parse(&self.meta()?.policy, Path::new(&origin))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entry_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM entries", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// The seal's digest (lower-case hex): what the baseline asserts, stable until
    /// `init`, `accept` or `policy update` change it, unlike the file itself, which
    /// records every run's events. Reports name it, to compare with a copy kept
    /// elsewhere.
    pub fn seal_digest(&self) -> Result<String> {
        self.optional_meta("seal_digest")?
            .ok_or_else(|| self.integrity("it has no seal (stripped?)".into()))
    }

    /// Every baseline entry, by path, after checking the seal over them: no row is
    /// trusted before the whole baseline is.
    pub fn load_entries(&self, check: &SealCheck) -> Result<State> {
        let started = std::time::Instant::now();
        let state = self.load(Rows::Entries)?;
        let loaded = started.elapsed();
        let meta = self.meta()?;
        let mut digest = seal::Digest::new(&header(&meta));
        for (path, attrs) in &state {
            digest.row(path, attrs);
        }
        let digest = digest.finish();
        self.check_seal(&digest, check)?;
        tracing::debug!(
            "{} rows read in {loaded:.0?}, seal checked in {:.0?}",
            state.len(),
            started.elapsed() - loaded
        );
        Ok(state)
    }

    /// Is this baseline signed (so that changing it needs the private key)?
    pub fn is_signed(&self) -> Result<bool> {
        Ok(self.optional_meta("seal_signature")?.is_some())
    }

    fn check_seal(&self, digest: &[u8; 32], check: &SealCheck) -> Result<()> {
        let Some(recorded) = self.optional_meta("seal_digest")? else {
            return Err(self.integrity("it has no seal (stripped?)".into()));
        };
        if recorded != blake3::Hash::from_bytes(*digest).to_hex().as_str() {
            return Err(self.integrity(
                "its contents do not match its seal (edited, rows added or removed, or corrupted)"
                    .into(),
            ));
        }
        let signature = self.optional_meta("seal_signature")?;
        match (check, signature) {
            (SealCheck::Digest, Some(_)) => tracing::warn!(
                "{}: the baseline is signed but no verify key was given: only its digest was checked",
                self.path.display()
            ),
            (SealCheck::Digest, None) => {}
            (SealCheck::Signed(_, key_path), None) => {
                return Err(self.integrity(format!(
                    "it is not signed, but a verify key ({}) was given (seal stripped?)",
                    key_path.display()
                )))
            }
            (SealCheck::Signed(key, key_path), Some(signature)) => {
                let ok = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &signature)
                    .is_ok_and(|sig| seal::verify(key, digest, &sig));
                if !ok {
                    return Err(self.integrity(format!(
                        "its signature does not verify with {} (re-signed with another key?)",
                        key_path.display()
                    )));
                }
            }
        }
        Ok(())
    }

    fn optional_meta(&self, key: &str) -> Result<Option<String>> {
        match self.meta_value(key) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Integrity { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The watch daemon's last observed state; on its first start on this baseline,
    /// the baseline itself (copied, so later changes compare with it).
    pub fn load_observed(&mut self) -> Result<State> {
        let started: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM meta WHERE key = 'observed_since'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if started == 0 {
            self.conn
                .execute_batch(
                    "BEGIN;
                     DELETE FROM observed;
                     INSERT INTO observed SELECT * FROM entries;
                     INSERT INTO meta (key, value) VALUES ('observed_since', datetime('now'));
                     COMMIT;",
                )
                .map_err(|e| self.err(e))?;
        }
        self.load(Rows::Observed)
    }

    fn load(&self, rows: Rows) -> Result<State> {
        let mut stmt = self.conn.prepare(&rows.select()).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = State::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let entry = rows::read(row)
                .map_err(|e| self.err(e))?
                .map_err(|reason| self.integrity(reason))?;
            out.insert(entry.path, entry.attrs);
        }
        Ok(out)
    }

    /// Append events to the history, in one transaction.
    pub fn record_events(&mut self, events: &[Event]) -> Result<()> {
        self.record(events, &[], &[])
    }

    /// The log follower's saved cursors, by path.
    pub fn log_cursors(&self) -> Result<std::collections::HashMap<String, Position>> {
        cursors::load(&self.conn).map_err(|e| self.err(e))
    }

    /// Append events and apply observations to the watch daemon's observed state, in
    /// one transaction: the history and the state it was computed from never disagree.
    /// The log cursors the events' lines were read up to are saved with them.
    pub fn record(
        &mut self,
        events: &[Event],
        observed: &[(Vec<u8>, Option<Attrs>)],
        log_cursors: &[(String, Position)],
    ) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut insert_event = tx
                .prepare_cached(
                    "INSERT INTO events (id, ts_ms, kind, path, source, json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            for event in events {
                insert_event
                    .execute(params![
                        event.id,
                        event.ts_ms(),
                        event.kind(),
                        event.path_bytes(),
                        event.source.as_str(),
                        event.to_json(),
                    ])
                    .map_err(err)?;
            }
            let mut upsert = tx.prepare_cached(&Rows::Observed.insert()).map_err(err)?;
            let mut delete = tx
                .prepare_cached("DELETE FROM observed WHERE path = ?1")
                .map_err(err)?;
            for (entry_path, attrs) in observed {
                match attrs {
                    Some(attrs) => rows::insert(
                        &mut upsert,
                        &Entry {
                            path: entry_path.clone(),
                            attrs: attrs.clone(),
                        },
                    ),
                    None => delete.execute([entry_path]).map(drop),
                }
                .map_err(err)?;
            }
            cursors::save(&tx, log_cursors).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Make writes durable only at checkpoints rather than at every commit: the watch
    /// daemon commits per event batch, and a lost tail after a power cut is re-reported
    /// by the next start-up reconcile.
    pub fn relax_sync(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|e| self.err(e))
    }

    /// The recorded events matching `query`, oldest first, as (path bytes, JSON line).
    pub fn events(
        &self,
        query: &EventQuery,
        mut each: impl FnMut(&[u8], &str) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT path, json FROM events
                 WHERE (?1 IS NULL OR ts_ms >= ?1) AND (?2 IS NULL OR kind = ?2)
                   AND (?3 IS NULL OR coalesce(json_extract(json, '$.category'), 'file') = ?3)
                 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![query.since_ms, query.kind, query.category])
            .map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let path: Vec<u8> = row.get(0).map_err(|e| self.err(e))?;
            let json: String = row.get(1).map_err(|e| self.err(e))?;
            each(&path, &json)?;
        }
        Ok(())
    }

    /// The events recorded since `since_ms` (all when `None`), oldest first, parsed; a
    /// line that is not JSON (written by a foreign tool) is skipped.
    pub fn parsed_events(
        &self,
        since_ms: Option<i64>,
        mut each: impl FnMut(serde_json::Value) -> Result<()>,
    ) -> Result<()> {
        let query = EventQuery {
            since_ms,
            ..EventQuery::default()
        };
        self.events(&query, |_, json| match serde_json::from_str(json) {
            Ok(event) => each(event),
            Err(_) => Ok(()),
        })
    }

    /// The recorded events whose id is among `ids`, parsed, in recording order: the
    /// ids are compared by SQLite, so only the wanted lines are parsed.
    pub fn events_by_id(
        &self,
        ids: &[&str],
        mut each: impl FnMut(serde_json::Value) -> Result<()>,
    ) -> Result<()> {
        let wanted = serde_json::Value::from(ids).to_string();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT json FROM events WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([wanted]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let json: String = row.get(0).map_err(|e| self.err(e))?;
            if let Ok(event) = serde_json::from_str(&json) {
                each(event)?;
            }
        }
        Ok(())
    }

    /// The recorded file events requests may be tied to (new entries, and changes with
    /// reasons) since `since_ms`, as JSON, oldest first.
    pub fn file_events_to_tie(&self, since_ms: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT json FROM events
                 WHERE ts_ms >= ?1 AND path != x''
                   AND (kind = 'new' OR json_extract(json, '$.reasons[0]') IS NOT NULL)
                 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([since_ms], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e));
        rows
    }

    /// Replace the baseline entries under `scopes` (every entry when `None`) with what
    /// `fill` supplies, and record the audit row, all in one transaction. Returns the
    /// number of entries written.
    pub fn accept(
        &mut self,
        scopes: Option<&[Vec<u8>]>,
        audit: &Audit,
        sign: Option<&ed25519_dalek::SigningKey>,
        fill: impl FnOnce(&mut dyn FnMut(Entry) -> Result<()>) -> Result<()>,
    ) -> Result<u64> {
        let meta = self.meta()?;
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        match scopes {
            None => {
                tx.execute("DELETE FROM entries", []).map_err(err)?;
            }
            Some(scopes) => {
                for scope in scopes {
                    // The entry itself and everything below it.
                    let (below, end) = bpath::subtree_bounds(scope);
                    tx.execute(
                        "DELETE FROM entries WHERE path = ?1 OR (path >= ?2 AND path < ?3)",
                        params![scope, below, end],
                    )
                    .map_err(err)?;
                }
            }
        }
        let written = insert_entries(&tx, &path, Rows::Entries, fill)?;
        reseal(&tx, &meta, sign).map_err(err)?;
        record_audit(&tx, audit, written).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(written)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    fn integrity(&self, reason: String) -> Error {
        Error::Integrity {
            path: self.path.clone(),
            reason,
        }
    }
}

fn header(meta: &Meta) -> seal::Header<'_> {
    seal::Header {
        schema_version: schema::SCHEMA_VERSION,
        policy: &meta.policy,
        host: &meta.host,
        fim_version: &meta.fim_version,
        created: &meta.created,
    }
}

/// Record the seal of the rows now in `entries` (read back in path order).
fn reseal(
    conn: &Connection,
    meta: &Meta,
    sign: Option<&ed25519_dalek::SigningKey>,
) -> rusqlite::Result<()> {
    let mut digest = seal::Digest::new(&header(meta));
    {
        let mut stmt = conn.prepare(&format!("{} ORDER BY path", Rows::Entries.select()))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            if let Ok(entry) = rows::read(row)? {
                digest.row(&entry.path, &entry.attrs);
            }
        }
    }
    write_seal(conn, &digest.finish(), sign)
}

fn write_seal(
    conn: &Connection,
    digest: &[u8; 32],
    sign: Option<&ed25519_dalek::SigningKey>,
) -> rusqlite::Result<()> {
    use base64::Engine;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut put =
        conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
    put.execute([
        "seal_digest",
        blake3::Hash::from_bytes(*digest).to_hex().as_str(),
    ])?;
    match sign {
        Some(key) => {
            put.execute(["seal_signature", &b64.encode(seal::sign(key, digest))])?;
            put.execute([
                "seal_public_key",
                &b64.encode(key.verifying_key().as_bytes()),
            ])?;
        }
        None => {
            conn.execute(
                "DELETE FROM meta WHERE key IN ('seal_signature', 'seal_public_key')",
                [],
            )?;
        }
    }
    Ok(())
}

/// One row of the audit trail (`accepts`): who changed the baseline, when, why, what.
fn record_audit(conn: &Connection, audit: &Audit, count: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO accepts (ts, user, reason, paths, count) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            audit.ts,
            audit.user,
            audit.reason,
            serde_json::to_string(&audit.paths).unwrap_or_default(),
            count as i64
        ],
    )
    .map(drop)
}

fn insert_entries(
    tx: &Transaction<'_>,
    path: &Path,
    rows: Rows,
    fill: impl FnOnce(&mut dyn FnMut(Entry) -> Result<()>) -> Result<()>,
) -> Result<u64> {
    let mut stmt = tx.prepare(&rows.insert()).map_err(|e| db_error(path, e))?;
    let mut written = 0u64;
    fill(&mut |entry| {
        rows::insert(&mut stmt, &entry).map_err(|e| db_error(path, e))?;
        written += 1;
        Ok(())
    })?;
    Ok(written)
}

/// Corruption and "not a database" are integrity failures; anything else (locked,
/// read-only, disk full) is an ordinary error.
fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    // A value of the wrong type or range was not written by fim.
    if matches!(
        e,
        rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    ) {
        return Error::Integrity {
            path: path.to_path_buf(),
            reason: format!("a row is malformed ({e})"),
        };
    }
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt) => Error::Integrity {
            path: path.to_path_buf(),
            reason: "corrupt (the database disk image is malformed)".into(),
        },
        Some(NotADatabase) => Error::Integrity {
            path: path.to_path_buf(),
            reason: "not a fim baseline (not an SQLite database)".into(),
        },
        _ => Error::Store {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// A baseline being built by `init`, in a temporary file until `finish`.
pub struct NewBaseline {
    conn: Option<Connection>,
    insert_sql: String,
    meta: Meta,
    sealer: seal::Sealer,
    temp: PathBuf,
    target: PathBuf,
    /// Held until the baseline is in place: one `init` per baseline at a time.
    _lock: std::fs::File,
    /// Renamed into place; until then, dropping discards the temporary file.
    finished: bool,
}

/// Create (or take over a stale) temporary file, empty, readable by its owner only (a
/// baseline lists every file's hash), and lock it against a concurrent `init`.
fn lock_temp(temp: &Path, target: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(temp)
        .map_err(|e| Error::io(temp, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |_| {
            Error::Usage(format!(
                "{}: another `fim init` is building this baseline",
                target.display()
            ))
        },
    )?;
    file.set_len(0).map_err(|e| Error::io(temp, e))?;
    let journal = sidecar(temp, "-journal");
    match std::fs::remove_file(&journal) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&journal, e)),
        _ => Ok(file),
    }
}

impl NewBaseline {
    /// Start a baseline at `target`; an existing one is only replaced with `force`.
    pub fn create(target: &Path, force: bool, meta: &Meta) -> Result<NewBaseline> {
        let exists = regular_file_exists(target).map_err(|e| Error::io(target, e))?;
        if exists && !force {
            return Err(Error::Usage(format!(
                "{}: a baseline already exists (use --force to replace it)",
                target.display()
            )));
        }
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let temp = temp_path(target);
        let lock = lock_temp(&temp, target)?;
        let conn = Connection::open(&temp).map_err(|e| db_error(&temp, e))?;
        let mut new = NewBaseline {
            conn: Some(conn),
            insert_sql: Rows::Entries.insert(),
            meta: meta.clone(),
            sealer: seal::Sealer::default(),
            temp,
            target: target.to_path_buf(),
            _lock: lock,
            finished: false,
        };
        new.init_schema(meta)?;
        Ok(new)
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("connection lives until finish")
    }

    fn init_schema(&mut self, meta: &Meta) -> Result<()> {
        let temp = self.temp.clone();
        let err = |e| db_error(&temp, e);
        // The temporary file is discarded on any failure, so it needs no journal and
        // no fsync until it is complete.
        self.conn()
            .execute_batch(&format!(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                 PRAGMA application_id = {}; PRAGMA user_version = {};
                 BEGIN; {}",
                schema::APPLICATION_ID,
                schema::SCHEMA_VERSION,
                schema::create()
            ))
            .map_err(err)?;
        let mut stmt = self
            .conn()
            .prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")
            .map_err(err)?;
        let version = schema::SCHEMA_VERSION.to_string();
        for (key, value) in [
            ("schema_version", version.as_str()),
            ("policy", meta.policy.as_str()),
            ("host", meta.host.as_str()),
            ("fim_version", meta.fim_version.as_str()),
            ("created", meta.created.as_str()),
        ] {
            stmt.execute([key, value]).map_err(err)?;
        }
        Ok(())
    }

    /// The log cursors a new baseline starts from (each log at its current end).
    pub fn log_cursors(&mut self, log_cursors: &[(String, Position)]) -> Result<()> {
        cursors::save(self.conn(), log_cursors).map_err(|e| db_error(&self.temp, e))
    }

    pub fn insert(&mut self, entry: &Entry) -> Result<()> {
        let mut stmt = self
            .conn()
            .prepare_cached(&self.insert_sql)
            .map_err(|e| db_error(&self.temp, e))?;
        rows::insert(&mut stmt, entry).map_err(|e| db_error(&self.temp, e))?;
        drop(stmt);
        self.sealer.add(entry);
        Ok(())
    }

    /// Seal (and sign, with a key), commit, make the file durable, and rename it over
    /// the target. Returns the seal's digest (hex).
    pub fn finish(mut self, sign: Option<&ed25519_dalek::SigningKey>) -> Result<String> {
        let temp = self.temp.clone();
        let err = |e| db_error(&temp, e);
        let digest = std::mem::take(&mut self.sealer).digest(&header(&self.meta));
        write_seal(self.conn(), &digest, sign).map_err(err)?;
        let conn = self.conn.take().expect("finish runs once");
        conn.execute_batch("COMMIT; PRAGMA journal_mode = WAL;")
            .map_err(err)?;
        conn.close().map_err(|(_, e)| err(e))?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| Error::io(p, e)
        };
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(io(&temp))?;
        retire_sidecars(&self.target)?;
        std::fs::rename(&temp, &self.target).map_err(io(&self.target))?;
        self.finished = true;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        Ok(blake3::Hash::from_bytes(digest).to_hex().to_string())
    }
}

impl Drop for NewBaseline {
    fn drop(&mut self) {
        // Not finished (an error, even during the final commit): discard the partial
        // file; the previous baseline is untouched.
        drop(self.conn.take());
        if !self.finished {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let _ = std::fs::remove_file(sidecar(&self.temp, suffix));
            }
        }
    }
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Before a new baseline replaces `target`, fold the old one's WAL into it and remove
/// the WAL and shared-memory files: SQLite would otherwise replay a stale WAL onto the
/// new database.
fn retire_sidecars(target: &Path) -> Result<()> {
    if regular_file_exists(target).unwrap_or(false) {
        if let Ok(old) = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_WRITE) {
            let _ = old.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        }
    }
    for suffix in ["-wal", "-shm"] {
        let path = sidecar(target, suffix);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::io(&path, e));
            }
        }
    }
    Ok(())
}

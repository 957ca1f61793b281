//! The durable outbox of the sinks. Every event is already in the `events` table, in
//! `seq` order; a sink's outbox is only its cursor there (the last `seq` it acknowledged),
//! so delivery is at least once and in order across restarts, and costs `verify` nothing
//! per event. One process at a time delivers a sink: it holds the sink's lease.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::db_error;
use crate::error::Result;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    sink     TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL,
    holder   INTEGER,
    lease_ms INTEGER
) WITHOUT ROWID;
-- What a human-facing sink already said, for suppressing identical repeats.
CREATE TABLE IF NOT EXISTS outbox_sent (
    sink        TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    ts_ms       INTEGER NOT NULL,
    PRIMARY KEY (sink, fingerprint)
) WITHOUT ROWID;
";

/// How long a lease lasts without renewal: a holder that died unseen is replaced after
/// this (one whose pid is gone is replaced at once).
pub const LEASE_MS: i64 = 30_000;

/// One recorded event waiting for a sink.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: i64,
    pub ts_ms: i64,
    pub json: String,
}

pub struct Outbox {
    conn: Connection,
    path: PathBuf,
}

impl Outbox {
    /// Open the outbox of an existing baseline (checked by `Baseline::open` first).
    pub fn open(db: &Path) -> Result<Outbox> {
        let err = |e| db_error(db, e);
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;")
            .map_err(err)?;
        conn.execute_batch(CREATE).map_err(err)?;
        Ok(Outbox {
            conn,
            path: db.to_path_buf(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> crate::error::Error {
        db_error(&self.path, e)
    }

    /// Give a sink its place: a sink seen for the first time starts after the events
    /// recorded so far (it is not flooded with history).
    pub fn register(&self, sink: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO outbox (sink, seq)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) FROM events))",
                [sink],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn cursor(&self, sink: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT seq FROM outbox WHERE sink = ?1", [sink], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// Up to `limit` events after `cursor`, oldest first.
    pub fn pending(&self, cursor: i64, limit: usize) -> Result<Vec<Pending>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, ts_ms, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![cursor, limit as i64], |r| {
                Ok(Pending {
                    seq: r.get(0)?,
                    ts_ms: r.get(1)?,
                    json: r.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
        rows.map_err(|e| self.err(e))
    }

    /// For a digest being gathered: when the first event after `cursor` was detected,
    /// and whether any waiting event is critical; `None` when none waits.
    pub fn gathering(&self, cursor: i64) -> Result<Option<(i64, bool)>> {
        self.conn
            .query_row(
                "SELECT (SELECT ts_ms FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1),
                        EXISTS (SELECT 1 FROM events
                                WHERE seq > ?1 AND json_extract(json, '$.severity') = 'critical')",
                [cursor],
                |r| {
                    let first: Option<i64> = r.get(0)?;
                    let critical: bool = r.get(1)?;
                    Ok(first.map(|ts| (ts, critical)))
                },
            )
            .map_err(|e| self.err(e))
    }

    /// How many events wait after `cursor`.
    pub fn backlog(&self, cursor: i64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE seq > ?1",
                [cursor],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Acknowledge everything up to `seq`, and remember the `fingerprints` said (for
    /// suppressing repeats), forgetting those older than `forget_before_ms`.
    pub fn advance(
        &mut self,
        sink: &str,
        seq: i64,
        fingerprints: &[[u8; 32]],
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE outbox SET seq = ?2 WHERE sink = ?1 AND seq < ?2",
            params![sink, seq],
        )
        .map_err(err)?;
        if !fingerprints.is_empty() {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO outbox_sent (sink, fingerprint, ts_ms) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for fp in fingerprints {
                insert
                    .execute(params![sink, &fp[..], now_ms])
                    .map_err(err)?;
            }
            tx.execute(
                "DELETE FROM outbox_sent WHERE sink = ?1 AND ts_ms < ?2",
                params![sink, forget_before_ms],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Was this fingerprint said by `sink` since `since_ms`?
    pub fn said_since(&self, sink: &str, fingerprint: &[u8; 32], since_ms: i64) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM outbox_sent WHERE sink = ?1 AND fingerprint = ?2 AND ts_ms >= ?3",
                params![sink, &fingerprint[..], since_ms],
                |_| Ok(()),
            )
            .optional()
            .map(|row| row.is_some())
            .map_err(|e| self.err(e))
    }

    /// Take or renew the lease of `sink` for this process until `now_ms + LEASE_MS`.
    /// `Err`'s are database errors; `Ok(Some(pid))` names the live process holding it.
    pub fn lease(&self, sink: &str, now_ms: i64) -> Result<Option<i64>> {
        let me = i64::from(rustix::process::getpid().as_raw_nonzero().get());
        let current: Option<(Option<i64>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT holder, lease_ms FROM outbox WHERE sink = ?1",
                [sink],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some((Some(holder), Some(until))) = current {
            if holder != me && until > now_ms && process_alive(holder) {
                return Ok(Some(holder));
            }
        }
        self.conn
            .execute(
                "UPDATE outbox SET holder = ?2, lease_ms = ?3 WHERE sink = ?1",
                params![sink, me, now_ms + LEASE_MS],
            )
            .map_err(|e| self.err(e))?;
        Ok(None)
    }

    /// Give the lease back (a one-shot command is done with the sink).
    pub fn release(&self, sink: &str) -> Result<()> {
        let me = i64::from(rustix::process::getpid().as_raw_nonzero().get());
        self.conn
            .execute(
                "UPDATE outbox SET holder = NULL, lease_ms = NULL WHERE sink = ?1 AND holder = ?2",
                params![sink, me],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

fn process_alive(pid: i64) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // EPERM means it exists but belongs to someone else.
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

//! What the probes keep in the baseline database: each probe's state (up or down,
//! since when, its streaks, the certificate thresholds already told), so a restart
//! neither forgets an open outage nor announces it again; and the last day of checks
//! with their timings, for the report page's response-time graphs.
//!
//! The probe source writes from its own connection: `Source::poll` has no access to
//! the daemon's, and a state row is one small upsert per check. The report and `fim
//! status` read the checks through the baseline; one whose policy has no probe has no
//! such table: no checks.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{db_error, Baseline};
use crate::error::Result;
use crate::probe::http::Timings;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS probe_state (probe TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe_checks (probe TEXT NOT NULL, ts_ms INTEGER NOT NULL, ok INTEGER NOT NULL, status INTEGER, error TEXT, dns_ms REAL, connect_ms REAL, tls_ms REAL, ttfb_ms REAL, total_ms REAL);
CREATE INDEX IF NOT EXISTS probe_checks_ts ON probe_checks (ts_ms);
";

/// Checks are kept this long.
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// One check as the history keeps it.
pub struct CheckRow<'a> {
    pub probe: &'a str,
    pub ts_ms: i64,
    pub ok: bool,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub timings: &'a Timings,
}

/// A file event of the history, for a `down`'s diagnosis.
#[derive(Clone, Debug, PartialEq)]
pub struct FileNote {
    pub id: String,
    /// When the file changed: its ctime, else the event's time.
    pub at_ms: i64,
    pub kind: String,
    pub path: String,
}

pub struct ProbeStore {
    conn: Connection,
    path: PathBuf,
}

impl ProbeStore {
    pub fn open(baseline: &Baseline) -> Result<ProbeStore> {
        let path = baseline.path().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| {
            conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
            conn.execute_batch(CREATE)?;
            Ok(conn)
        })
        .map_err(|e| db_error(&path, e))?;
        Ok(ProbeStore { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A probe's saved state (JSON), if any.
    pub fn state(&self, probe: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT json FROM probe_state WHERE probe = ?1",
                [probe],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| db_error(&self.path, e))
    }

    /// Save a check (and the probe's state after it, when given), dropping checks
    /// older than a day.
    pub fn save(&self, state: Option<&str>, check: &CheckRow<'_>) -> Result<()> {
        let write = || -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            if let Some(state) = state {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO probe_state (probe, json) VALUES (?1, ?2)",
                )?
                .execute(params![check.probe, state])?;
            }
            let t = check.timings;
            tx.prepare_cached(
                "INSERT INTO probe_checks (probe, ts_ms, ok, status, error, dns_ms, connect_ms,
                 tls_ms, ttfb_ms, total_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                check.probe,
                check.ts_ms,
                check.ok,
                check.status,
                check.error,
                t.dns_ms,
                t.connect_ms,
                t.tls_ms,
                t.ttfb_ms,
                t.total_ms
            ])?;
            tx.prepare_cached("DELETE FROM probe_checks WHERE ts_ms < ?1")?
                .execute([check.ts_ms - KEEP_MS])?;
            tx.commit()
        };
        write().map_err(|e| db_error(&self.path, e))
    }

    /// Save a probe's state alone (`verify`: its certificate thresholds).
    pub fn save_state(&self, probe: &str, state: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO probe_state (probe, json) VALUES (?1, ?2)")
            .and_then(|mut stmt| stmt.execute(params![probe, state]))
            .map(drop)
            .map_err(|e| db_error(&self.path, e))
    }

    /// The recorded file events since `since_ms`, oldest first.
    pub fn file_events(&self, since_ms: i64) -> Result<Vec<FileNote>> {
        let load = || -> rusqlite::Result<Vec<FileNote>> {
            let mut stmt = self.conn.prepare(
                "SELECT id, coalesce(CAST(strftime('%s', substr(json_extract(json, '$.new.ctime'), 1, 19)) AS INTEGER) * 1000, ts_ms),
                        kind, coalesce(json_extract(json, '$.path'), '')
                 FROM events
                 WHERE ts_ms >= ?1 AND path != x''
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map([since_ms], |r| {
                Ok(FileNote {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    kind: r.get(2)?,
                    path: r.get(3)?,
                })
            })?;
            rows.collect()
        };
        load().map_err(|e| db_error(&self.path, e))
    }
}

/// One check of a probe; timings in ms, `None` for a phase not reached.
#[derive(Debug, Clone)]
pub struct ProbeCheck {
    pub probe: String,
    pub ts_ms: i64,
    pub ok: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub total_ms: Option<f64>,
}

impl Baseline {
    fn has_table(&self, name: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// The checks since `since_ms`, by probe then time.
    pub fn probe_checks(&self, since_ms: i64) -> Result<Vec<ProbeCheck>> {
        if !self.has_table("probe_checks")? {
            return Ok(Vec::new());
        }
        let read = || -> rusqlite::Result<Vec<ProbeCheck>> {
            let mut stmt = self.conn.prepare(
                "SELECT probe, ts_ms, ok, status, error, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms
                 FROM probe_checks WHERE ts_ms >= ?1 ORDER BY probe, ts_ms",
            )?;
            let rows = stmt.query_map(params![since_ms], |r| {
                Ok(ProbeCheck {
                    probe: r.get(0)?,
                    ts_ms: r.get(1)?,
                    ok: r.get::<_, Option<i64>>(2)?.unwrap_or(0) != 0,
                    status: r
                        .get::<_, Option<i64>>(3)?
                        .and_then(|s| u16::try_from(s).ok()),
                    error: r.get(4)?,
                    dns_ms: r.get(5)?,
                    connect_ms: r.get(6)?,
                    tls_ms: r.get(7)?,
                    ttfb_ms: r.get(8)?,
                    total_ms: r.get(9)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// The last check of each probe.
    pub fn last_probe_checks(&self) -> Result<Vec<ProbeCheck>> {
        if !self.has_table("probe_checks")? {
            return Ok(Vec::new());
        }
        let since: i64 = self
            .conn
            .query_row(
                "SELECT coalesce(max(ts_ms), 0) - 86400000 FROM probe_checks",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let mut last: Vec<ProbeCheck> = Vec::new();
        for check in self.probe_checks(since)? {
            match last.last_mut() {
                Some(prev) if prev.probe == check.probe => *prev = check,
                _ => last.push(check),
            }
        }
        Ok(last)
    }
}

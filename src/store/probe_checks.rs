//! The probes' checks, one row each (`probe_checks`, written by the probe source):
//! read for the report's uptime and response-time charts and for `fim status`. A
//! baseline whose policy has no probe has no such table: no checks.

use rusqlite::params;

use super::Baseline;
use crate::error::Result;

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

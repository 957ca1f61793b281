//! The per-hour counts of what the logs showed (`crate::detect::activity`): added up
//! across saves, read by the report.

use rusqlite::{params, Connection};

use super::{db_error, Baseline};
use crate::detect::activity::{Activity, Counter};
use crate::error::Result;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS activity (
    hour_ms INTEGER NOT NULL,
    counter TEXT NOT NULL,
    key     TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (hour_ms, counter, key)
) WITHOUT ROWID;
";

fn ensure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE)
}

impl Baseline {
    /// Add `activity`'s counts to the saved ones, in one transaction.
    pub fn record_activity(&mut self, activity: &mut Activity) -> Result<()> {
        if activity.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        ensure(&tx).map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO activity (hour_ms, counter, key, count) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO UPDATE SET count = count + excluded.count",
                )
                .map_err(err)?;
            for (hour, counter, key, n) in activity.take() {
                stmt.execute(params![hour, counter.as_str(), key, n as i64])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// `counter`'s counts per hour and key since `since_ms`, oldest hour first.
    pub fn activity_per_hour(
        &self,
        counter: Counter,
        since_ms: i64,
    ) -> Result<Vec<(i64, String, u64)>> {
        let read = || -> rusqlite::Result<Vec<(i64, String, u64)>> {
            ensure(&self.conn)?;
            let mut stmt = self.conn.prepare(
                "SELECT hour_ms, key, count FROM activity
                 WHERE counter = ?1 AND hour_ms > ?2 - 3600000 ORDER BY hour_ms, key",
            )?;
            let rows = stmt.query_map(params![counter.as_str(), since_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// The `limit` keys of `counter` with the highest counts since `since_ms`.
    pub fn activity_top(
        &self,
        counter: Counter,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>> {
        let read = || -> rusqlite::Result<Vec<(String, u64)>> {
            ensure(&self.conn)?;
            let mut stmt = self.conn.prepare(
                "SELECT key, sum(count) AS n FROM activity
                 WHERE counter = ?1 AND hour_ms > ?2 - 3600000
                 GROUP BY key ORDER BY n DESC, key LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![counter.as_str(), since_ms, limit as i64], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }
}

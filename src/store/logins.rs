//! What the auth detectors learned: each user's source networks with their first and
//! last successful login, so `login-new-source` survives restarts and `verify` runs.
//! Created on first use, like the log cursors (older baselines lack it).

use rusqlite::params;

use super::{db_error, Baseline};
use crate::error::Result;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS login_sources (
    user     TEXT NOT NULL,
    network  TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    PRIMARY KEY (user, network)
) WITHOUT ROWID;
";

/// One learned source: (user, network in CIDR form, first ms, last ms).
pub type LoginSource = (String, String, i64, i64);

impl Baseline {
    pub fn login_sources(&self) -> Result<Vec<LoginSource>> {
        let load = || -> rusqlite::Result<Vec<LoginSource>> {
            self.conn.execute_batch(CREATE)?;
            let mut stmt = self
                .conn
                .prepare("SELECT user, network, first_ms, last_ms FROM login_sources")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect()
        };
        load().map_err(|e| self.err(e))
    }

    /// Add or refresh sources (first time kept, last time advanced).
    pub fn record_login_sources(&mut self, sources: &[LoginSource]) -> Result<()> {
        if sources.is_empty() {
            return Ok(());
        }
        let save = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            conn.execute_batch(CREATE)?;
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO login_sources (user, network, first_ms, last_ms)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user, network) DO UPDATE SET
                        first_ms = min(first_ms, excluded.first_ms),
                        last_ms = max(last_ms, excluded.last_ms)",
                )?;
                for (user, network, first, last) in sources {
                    stmt.execute(params![user, network, first, last])?;
                }
            }
            tx.commit()
        };
        save(&mut self.conn).map_err(|e| db_error(&self.path, e))
    }
}

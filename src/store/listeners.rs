//! The listening sockets known to be legitimate (`fim init`, `fim accept --listeners`):
//! the process detectors report the others as `new-listener`.

use rusqlite::{params, Connection};

use super::{db_error, record_audit, Audit, Baseline, NewBaseline};
use crate::error::Result;

const CREATE: &str =
    "CREATE TABLE IF NOT EXISTS known_listeners (listen TEXT PRIMARY KEY) WITHOUT ROWID;";

fn replace(conn: &Connection, listeners: &[String]) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE)?;
    conn.execute("DELETE FROM known_listeners", [])?;
    let mut stmt = conn.prepare("INSERT OR IGNORE INTO known_listeners (listen) VALUES (?1)")?;
    for l in listeners {
        stmt.execute(params![l])?;
    }
    Ok(())
}

impl Baseline {
    pub fn known_listeners(&self) -> Result<Vec<String>> {
        let load = || -> rusqlite::Result<Vec<String>> {
            self.conn.execute_batch(CREATE)?;
            let mut stmt = self.conn.prepare("SELECT listen FROM known_listeners")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        load().map_err(|e| self.err(e))
    }

    /// Take `listeners` as the known state, with its audit row, in one transaction.
    pub fn accept_listeners(&mut self, listeners: &[String], audit: &Audit) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        replace(&tx, listeners).map_err(err)?;
        record_audit(&tx, audit, listeners.len() as u64).map_err(err)?;
        tx.commit().map_err(err)
    }
}

impl NewBaseline {
    pub fn known_listeners(&mut self, listeners: &[String]) -> Result<()> {
        replace(self.conn(), listeners).map_err(|e| db_error(&self.temp, e))
    }
}

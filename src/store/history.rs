//! The accept audit trail, read back for `fim events --accepts`.

use serde::Serialize;

use super::Baseline;
use crate::error::Result;

/// One recorded `fim accept`, as `fim events --accepts` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptRecord {
    pub ts: String,
    pub user: String,
    pub reason: Option<String>,
    /// The accepted paths, or `["--all"]`.
    pub paths: Vec<String>,
    /// How many entries were written under them.
    pub count: i64,
}

impl Baseline {
    /// The recorded accepts, oldest first.
    pub fn accepts(&self, mut each: impl FnMut(AcceptRecord) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT ts, user, reason, paths, count FROM accepts ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let get_err = |e| self.err(e);
            let paths: String = row.get(3).map_err(get_err)?;
            each(AcceptRecord {
                ts: row.get(0).map_err(get_err)?,
                user: row.get(1).map_err(get_err)?,
                reason: row.get(2).map_err(get_err)?,
                paths: serde_json::from_str(&paths).map_err(|e| {
                    self.integrity(format!("an accept row's paths are malformed ({e})"))
                })?,
                count: row.get(4).map_err(get_err)?,
            })?;
        }
        Ok(())
    }
}

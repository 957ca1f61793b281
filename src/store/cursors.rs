//! The log follower's cursors, one row per followed file (and one mark per pattern),
//! saved in the same transaction as the events their lines produced: after a crash the
//! lines of an unsaved batch are read again, and none is skipped.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use crate::logs::follow::Cursor;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS log_cursors (
    path        TEXT PRIMARY KEY,
    dev         INTEGER NOT NULL,
    inode       INTEGER NOT NULL,
    offset      INTEGER NOT NULL,
    line        INTEGER NOT NULL,
    fingerprint BLOB NOT NULL,
    fp_len      INTEGER NOT NULL
) WITHOUT ROWID;
";

pub(super) fn load(conn: &Connection) -> rusqlite::Result<HashMap<String, Cursor>> {
    conn.execute_batch(CREATE)?;
    let mut stmt =
        conn.prepare("SELECT path, dev, inode, offset, line, fingerprint, fp_len FROM log_cursors")?;
    let rows = stmt.query_map([], |r| {
        let fingerprint: Vec<u8> = r.get(5)?;
        Ok((
            r.get::<_, String>(0)?,
            Cursor {
                dev: r.get::<_, i64>(1)? as u64,
                inode: r.get::<_, i64>(2)? as u64,
                offset: r.get::<_, i64>(3)? as u64,
                line: r.get::<_, i64>(4)? as u64,
                fingerprint: fingerprint.try_into().unwrap_or_default(),
                fingerprint_len: r.get::<_, i64>(6)? as u64,
            },
        ))
    })?;
    rows.collect()
}

pub(super) fn save(conn: &Connection, cursors: &[(String, Cursor)]) -> rusqlite::Result<()> {
    if cursors.is_empty() {
        return Ok(());
    }
    conn.execute_batch(CREATE)?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO log_cursors (path, dev, inode, offset, line, fingerprint, fp_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (path, c) in cursors {
        stmt.execute(params![
            path,
            c.dev as i64,
            c.inode as i64,
            c.offset as i64,
            c.line as i64,
            &c.fingerprint[..],
            c.fingerprint_len as i64
        ])?;
    }
    Ok(())
}

//! Where reading each log stopped: the log follower's cursors, one row per followed
//! file (and one mark per pattern), and the systemd journal's cursor, saved in the
//! same transaction as the events their records produced: after a crash the records
//! of an unsaved batch are read again, and none is skipped.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use crate::logs::follow::Cursor;
use crate::logs::Position;

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
CREATE TABLE IF NOT EXISTS journal_cursors (
    name   TEXT PRIMARY KEY,
    cursor TEXT NOT NULL
) WITHOUT ROWID;
";

pub(super) fn load(conn: &Connection) -> rusqlite::Result<HashMap<String, Position>> {
    conn.execute_batch(CREATE)?;
    let mut stmt = conn
        .prepare("SELECT path, dev, inode, offset, line, fingerprint, fp_len FROM log_cursors")?;
    let rows = stmt.query_map([], |r| {
        let fingerprint: Vec<u8> = r.get(5)?;
        Ok((
            r.get::<_, String>(0)?,
            Position::File(Cursor {
                dev: r.get::<_, i64>(1)? as u64,
                inode: r.get::<_, i64>(2)? as u64,
                offset: r.get::<_, i64>(3)? as u64,
                line: r.get::<_, i64>(4)? as u64,
                fingerprint: fingerprint.try_into().unwrap_or_default(),
                fingerprint_len: r.get::<_, i64>(6)? as u64,
            }),
        ))
    })?;
    let mut out: HashMap<String, Position> = rows.collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare("SELECT name, cursor FROM journal_cursors")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, Position::Journal(r.get(1)?)))
    })?;
    for row in rows {
        let (name, position) = row?;
        out.insert(name, position);
    }
    Ok(out)
}

pub(super) fn save(conn: &Connection, positions: &[(String, Position)]) -> rusqlite::Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    conn.execute_batch(CREATE)?;
    let mut file = conn.prepare_cached(
        "INSERT OR REPLACE INTO log_cursors (path, dev, inode, offset, line, fingerprint, fp_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut journal = conn
        .prepare_cached("INSERT OR REPLACE INTO journal_cursors (name, cursor) VALUES (?1, ?2)")?;
    for (name, position) in positions {
        match position {
            Position::File(c) => file.execute(params![
                name,
                c.dev as i64,
                c.inode as i64,
                c.offset as i64,
                c.line as i64,
                &c.fingerprint[..],
                c.fingerprint_len as i64
            ])?,
            Position::Journal(cursor) => journal.execute(params![name, cursor])?,
        };
    }
    Ok(())
}

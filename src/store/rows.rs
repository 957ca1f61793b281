//! Mapping between `Entry` and a row of the `entries` table.

use rusqlite::types::Value;
use rusqlite::{params, Row, Statement};

use crate::fs::{Attrs, Entry, FileType, Timestamp, Xattrs};

pub fn insert(stmt: &mut Statement<'_>, entry: &Entry) -> rusqlite::Result<()> {
    let a = &entry.attrs;
    // u64 values are stored bit-for-bit in SQLite's i64.
    stmt.execute(params![
        entry.path,
        a.file_type.code(),
        a.size as i64,
        a.mode,
        a.uid,
        a.gid,
        a.mtime.sec,
        a.mtime.nsec,
        a.ctime.sec,
        a.ctime.nsec,
        a.inode as i64,
        a.nlink as i64,
        a.target,
        (!a.xattrs.is_empty()).then(|| encode_xattrs(&a.xattrs)),
        a.blake3.as_ref().map(|h| &h[..]),
    ])?;
    Ok(())
}

/// Decode a row; `Err` with a description when the row cannot have been written by fim.
pub fn read(row: &Row<'_>) -> rusqlite::Result<Result<Entry, String>> {
    let path: Vec<u8> = row.get(0)?;
    let Some(file_type) = FileType::from_code(row.get(1)?) else {
        return Ok(Err("an entry has an unknown type".into()));
    };
    let xattrs = match row.get::<_, Option<Vec<u8>>>(13)? {
        None => Vec::new(),
        Some(blob) => match decode_xattrs(&blob) {
            Some(x) => x,
            None => return Ok(Err("an entry has malformed extended attributes".into())),
        },
    };
    let blake3 = match row.get::<_, Value>(14)? {
        Value::Null => None,
        Value::Blob(b) if b.len() == 32 => b.try_into().ok(),
        _ => return Ok(Err("an entry has a malformed hash".into())),
    };
    let nsec = |i: usize| -> rusqlite::Result<u32> { row.get(i) };
    Ok(Ok(Entry {
        path,
        attrs: Attrs {
            file_type,
            size: row.get::<_, i64>(2)? as u64,
            mode: row.get(3)?,
            uid: row.get(4)?,
            gid: row.get(5)?,
            mtime: Timestamp {
                sec: row.get(6)?,
                nsec: nsec(7)?,
            },
            ctime: Timestamp {
                sec: row.get(8)?,
                nsec: nsec(9)?,
            },
            inode: row.get::<_, i64>(10)? as u64,
            nlink: row.get::<_, i64>(11)? as u64,
            target: row.get(12)?,
            xattrs,
            blake3,
        },
    }))
}

/// `len name len value ...`, lengths as u32 little-endian.
fn encode_xattrs(xattrs: &Xattrs) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in xattrs {
        for part in [name, value] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn decode_xattrs(mut blob: &[u8]) -> Option<Xattrs> {
    fn take<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, rest) = blob.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (part, rest) = (rest.get(..len)?, &rest[len..]);
        *blob = rest;
        Some(part)
    }
    let mut out = Vec::new();
    while !blob.is_empty() {
        let name = take(&mut blob)?.to_vec();
        let value = take(&mut blob)?.to_vec();
        out.push((name, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattrs_round_trip_and_reject_garbage() {
        let x = vec![
            (b"user.a".to_vec(), vec![0, 1, 2]),
            (b"security.b".to_vec(), vec![]),
        ];
        assert_eq!(decode_xattrs(&encode_xattrs(&x)), Some(x));
        assert_eq!(decode_xattrs(&[9, 0, 0, 0, 1]), None);
    }
}

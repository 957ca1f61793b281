//! A baseline kept on read-only storage (AIDE's and Tripwire's advice: an intruder
//! who owns the box cannot rewrite it). SQLite cannot open it for writing, nor make
//! the `-wal` and `-shm` files beside it: it is read immutable into memory (SQLite's
//! backup API), so that the commands that only read it (`verify`, `events`, `status`,
//! `report`) work as usual, tables made on first use included; what they would
//! record is dropped, and the commands that change it refuse (`require_writable`).

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};
use rustix::fs::Access;
use url::Url;

/// Can this process write the baseline and make files beside it?
pub fn writable(path: &Path) -> bool {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    rustix::fs::access(path, Access::WRITE_OK).is_ok()
        && rustix::fs::access(dir, Access::WRITE_OK).is_ok()
}

/// The baseline at `path`, read immutable into a database in memory.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let file = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut memory = Connection::open_in_memory()?;
    Backup::new(&file, &mut memory)?.run_to_completion(1024, Duration::ZERO, None)?;
    Ok(memory)
}

/// `file:///PATH?immutable=1`, the path percent-encoded by the `url` crate (a `?`
/// or `#` in a folder's name would end it).
fn immutable_uri(path: &Path) -> String {
    let absolute = crate::fs::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match Url::from_file_path(&absolute) {
        Ok(mut url) => {
            url.set_query(Some("immutable=1"));
            url.into()
        }
        // Not absolute after all: SQLite reports the file it cannot open.
        Err(()) => absolute.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_would_end_or_change_their_path() {
        assert_eq!(
            immutable_uri(Path::new("/m/a b?#%.db")),
            "file:///m/a%20b%3F%23%25.db?immutable=1"
        );
    }
}

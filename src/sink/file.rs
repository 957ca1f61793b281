//! Files fim appends events to by name: the `file` sink (JSON Lines that log shippers
//! tail) and the `--output` of `fim watch`. The path is checked before each batch, so a
//! file rotated away (logrotate `create`) is followed by a fresh one; `copytruncate`
//! needs nothing, as every write appends.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::deliver::{Lines, Record};

/// A file appended to through its path: reopened when the path no longer names the
/// file that is open (renamed away, removed), or when asked to (SIGHUP).
pub struct AppendFile {
    path: PathBuf,
    /// The open file and its device and inode.
    open: Option<(std::fs::File, (u64, u64))>,
}

impl AppendFile {
    /// Open (or create) the file now, so a path that cannot work (a missing folder, a
    /// FIFO nobody reads) is an error at start-up rather than later.
    pub fn open(path: PathBuf) -> io::Result<AppendFile> {
        let mut file = AppendFile { path, open: None };
        file.reopen()?;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file now at the path: the open one, unless it was rotated away.
    pub fn followed(&mut self) -> io::Result<&mut std::fs::File> {
        let on_disk = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if on_disk.is_none() || on_disk != self.open.as_ref().map(|(_, id)| *id) {
            self.reopen()?;
        }
        self.opened()
    }

    /// The open file, without looking at the path (opened if closed).
    pub fn opened(&mut self) -> io::Result<&mut std::fs::File> {
        if self.open.is_none() {
            self.reopen()?;
        }
        Ok(&mut self.open.as_mut().expect("opened above").0)
    }

    /// Close the open file and open the path again.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.open = None;
        let file = open_append(&self.path)?;
        let meta = file.metadata()?;
        self.open = Some((file, (meta.dev(), meta.ino())));
        Ok(())
    }

    /// Forget the open file: the next write opens the path (after a write error, the
    /// file may have been replaced or its disk remounted).
    pub fn close(&mut self) {
        self.open = None;
    }
}

/// Open for appending without ever blocking: a FIFO with no reader is an error
/// ("No such device or address"), not a hang. Writes then block as usual.
fn open_append(path: &Path) -> io::Result<std::fs::File> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    fcntl_setfl(&file, fcntl_getfl(&file)? - OFlags::NONBLOCK)?;
    Ok(file)
}

pub struct FileSink(AppendFile);

impl FileSink {
    pub fn open(path: PathBuf) -> Result<FileSink, String> {
        let shown = path.display().to_string();
        AppendFile::open(path)
            .map(FileSink)
            .map_err(|e| format!("{shown}: {e}"))
    }
}

impl Lines for FileSink {
    fn send(&mut self, records: &[Record]) -> Result<(), String> {
        let mut text = String::new();
        for record in records {
            text.push_str(&record.text);
            text.push('\n');
        }
        let result = self
            .0
            .followed()
            .and_then(|f| f.write_all(text.as_bytes()).and_then(|()| f.flush()));
        result.map_err(|e| {
            self.0.close();
            format!("{}: {e}", self.0.path().display())
        })
    }
}

//! The `file` sink: JSON Lines appended to a path that log shippers tail. The path is
//! checked before every batch, so a file rotated away (logrotate `create`) is followed
//! by a fresh one; `copytruncate` needs nothing, as every write appends.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::deliver::{Lines, Record};

pub struct FileSink {
    path: PathBuf,
    open: Option<(std::fs::File, (u64, u64))>,
}

impl FileSink {
    /// Open (or create) the file now, so a path that cannot work (a missing folder, a
    /// FIFO nobody reads) is an error at start-up rather than a retry loop.
    pub fn open(path: PathBuf) -> Result<FileSink, String> {
        let shown = path.display().to_string();
        let mut sink = FileSink { path, open: None };
        sink.file().map_err(|e| format!("{shown}: {e}"))?;
        Ok(sink)
    }

    fn file(&mut self) -> std::io::Result<&mut std::fs::File> {
        let on_disk = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let current = self.open.as_ref().map(|(_, id)| *id);
        if on_disk.is_none() || on_disk != current {
            let file = super::open_append(&self.path)?;
            let meta = file.metadata()?;
            self.open = Some((file, (meta.dev(), meta.ino())));
        }
        Ok(&mut self.open.as_mut().expect("opened above").0)
    }
}

impl Lines for FileSink {
    fn send(&mut self, records: &[Record]) -> Result<(), String> {
        let mut text = String::new();
        for record in records {
            text.push_str(&record.text);
            text.push('\n');
        }
        let path = self.path.display().to_string();
        let result = self
            .file()
            .and_then(|f| f.write_all(text.as_bytes()).and_then(|()| f.flush()));
        result.map_err(|e| {
            // Reopen next time: the file may have been replaced or its disk remounted.
            self.open = None;
            format!("{path}: {e}")
        })
    }
}

//! Whole log files, start to end (`fim analyze`): plain or gzip-compressed (by their
//! magic bytes, whatever their name).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use super::follow::{split_lines, Line};

/// Hand out every line of the file at `path` as `source`.
pub fn read_whole(path: &Path, source: usize, each: &mut dyn FnMut(Line<'_>)) -> io::Result<u64> {
    let mut file = BufReader::with_capacity(256 << 10, File::open(path)?);
    let mut magic = [0u8; 2];
    let compressed = {
        use std::io::BufRead;
        let head = file.fill_buf()?;
        if head.len() >= 2 {
            magic.copy_from_slice(&head[..2]);
        }
        magic == [0x1f, 0x8b]
    };
    let mut reader: Box<dyn Read> = if compressed {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    // Evidence names its log as the daemon's does, absolutely: recorded, `access.log`
    // would say nothing of which one. (Not resolved: the name given is the one meant.)
    let name: Arc<str> = std::path::absolute(path)
        .as_deref()
        .unwrap_or(path)
        .to_string_lossy()
        .into();
    let mut buffer = Vec::new();
    let consumed = split_lines(&mut reader, &mut buffer, true, source, &name, 0, each)?;
    Ok(consumed.lines)
}

//! The one log follower: every log fim reads (access logs, auth logs) is followed by
//! this, with a cursor per file (device, inode, offset, line number, and a
//! fingerprint of the first bytes, so a reused inode is noticed). Cursors live in the
//! baseline database, saved with the events they produced: a restart resumes exactly
//! where it stopped.
//!
//! Rotation: rename + create (the old file, still open or found again by its inode
//! beside the log — also once compressed, by its fingerprint — is read to its end
//! first), copytruncate (the log shrinks: what was copied away unread is read from the
//! copy), a log deleted and recreated, a log that does not exist yet, and a glob that
//! starts to match a new file.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fs::open::open_regular;

/// Bytes of a log's beginning that identify it.
const FINGERPRINT_BYTES: u64 = 1024;
/// A line longer than this is cut there (the rest up to its newline is skipped).
pub const MAX_LINE: usize = 1 << 20;
const CHUNK: usize = 256 << 10;
/// A log's previous file is read on this long after it was last written to.
const DRAIN_QUIET: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cursor {
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
    /// Lines before `offset` (for messages naming a line).
    pub line: u64,
    pub fingerprint: [u8; 32],
    pub fingerprint_len: u64,
}

/// The cursor key of a pattern, marking that its existing files were taken at their
/// end: a file that matches later is new and read from its start.
pub fn pattern_key(pattern: &str) -> String {
    format!("pattern:{pattern}")
}

/// A line handed to the reader: which `[[log]]` it came from, its file, its number.
pub struct Line<'a> {
    pub source: usize,
    pub file: &'a Arc<str>,
    pub number: u64,
    pub bytes: &'a [u8],
}

struct Followed {
    path: PathBuf,
    name: Arc<str>,
    source: usize,
    file: Option<File>,
    cursor: Cursor,
    /// The last error reading it, said once until it changes or reading works again.
    failing: Option<String>,
    /// The previous file, after a rename or a deletion.
    draining: Option<Draining>,
}

/// A log's previous file after a rename or a deletion: its writer may hold it open
/// and write on (nginx until its USR1, Apache until its graceful restart), so it is
/// read on, until it has been quiet for `DRAIN_QUIET`.
struct Draining {
    file: File,
    offset: u64,
    line: u64,
    written: Instant,
}

pub struct Follower {
    patterns: Vec<(String, usize)>,
    files: Vec<Followed>,
    /// Cursors not (yet) attached to a followed file, by path.
    saved: HashMap<String, Cursor>,
    /// Patterns whose files were taken at their end already.
    initialised: Vec<String>,
    buffer: Vec<u8>,
    pub warnings: Vec<String>,
}

impl Follower {
    /// `patterns`: (path or glob, source index). `saved`: the cursors from the store.
    pub fn new(patterns: Vec<(String, usize)>, mut saved: HashMap<String, Cursor>) -> Follower {
        let initialised = patterns
            .iter()
            .filter(|(p, _)| saved.remove(&pattern_key(p)).is_some())
            .map(|(p, _)| p.clone())
            .collect();
        Follower {
            patterns,
            files: Vec::new(),
            saved,
            initialised,
            buffer: Vec::with_capacity(CHUNK),
            warnings: Vec::new(),
        }
    }

    /// The cursors to save: one per file, and a mark per pattern.
    pub fn cursors(&self) -> Vec<(String, Cursor)> {
        let mut out: Vec<(String, Cursor)> = self
            .files
            .iter()
            .map(|f| (f.name.to_string(), f.cursor.clone()))
            .collect();
        out.extend(
            self.patterns
                .iter()
                .map(|(p, _)| (pattern_key(p), Cursor::default())),
        );
        out
    }

    /// Take every log at its current end, reading nothing (`fim init`, a log newly
    /// added to the policy).
    pub fn skip_to_end(&mut self) {
        self.discover(true);
        for f in &mut self.files {
            if let Ok(file) = open_regular(&f.path) {
                if let Ok(meta) = file.metadata() {
                    f.cursor = Cursor {
                        dev: meta.dev(),
                        inode: meta.ino(),
                        offset: meta.len(),
                        line: 0,
                        ..Cursor::default()
                    };
                    refresh_fingerprint(&file, &mut f.cursor);
                    f.file = Some(file);
                }
            }
        }
    }

    /// Read every complete line written since the last call, in order per file.
    pub fn poll(&mut self, each: &mut dyn FnMut(Line<'_>)) {
        self.discover(false);
        let buffer = &mut self.buffer;
        for f in &mut self.files {
            match follow(f, buffer, each) {
                Ok(()) => f.failing = None,
                Err(e) => {
                    let message = format!("{}: {e}", f.path.display());
                    if f.failing.as_ref() != Some(&message) {
                        self.warnings.push(message.clone());
                        f.failing = Some(message);
                    }
                }
            }
        }
    }

    /// Files the patterns match now; new ones start at their beginning, except the
    /// files of a pattern seen for the first time (taken at their end, as `init` does).
    fn discover(&mut self, at_end: bool) {
        for (pattern, source) in &self.patterns {
            let first_time = !self.initialised.contains(pattern);
            for path in expand(pattern) {
                let name = path.to_string_lossy().into_owned();
                if self.files.iter().any(|f| *f.name == *name) {
                    continue;
                }
                let cursor = match self.saved.remove(&name) {
                    Some(cursor) => cursor,
                    None if at_end || first_time => at_end_of(&path),
                    None => Cursor::default(),
                };
                self.files.push(Followed {
                    path,
                    name: name.into(),
                    source: *source,
                    file: None,
                    cursor,
                    failing: None,
                    draining: None,
                });
            }
            if first_time {
                self.initialised.push(pattern.clone());
            }
        }
    }
}

fn at_end_of(path: &Path) -> Cursor {
    let Ok(file) = open_regular(path) else {
        return Cursor::default();
    };
    let Ok(meta) = file.metadata() else {
        return Cursor::default();
    };
    let mut cursor = Cursor {
        dev: meta.dev(),
        inode: meta.ino(),
        offset: meta.len(),
        ..Cursor::default()
    };
    refresh_fingerprint(&file, &mut cursor);
    cursor
}

/// A literal path, or the files a glob matches (rotated copies left out).
fn expand(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[', '{']) {
        return vec![PathBuf::from(pattern)];
    }
    let Ok(glob) = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
    else {
        return Vec::new();
    };
    // The folder part before the first wildcard is listed (one level per component
    // that holds a wildcard is enough for log folders).
    let base: PathBuf = Path::new(pattern)
        .ancestors()
        .find(|a| !a.to_string_lossy().contains(['*', '?', '[', '{']))
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let mut out = Vec::new();
    let mut dirs = vec![base];
    let depth = pattern.matches('/').count();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && path.to_string_lossy().matches('/').count() < depth {
                dirs.push(path);
            } else if kind.is_file() && glob.is_match(&path) && !is_rotated(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `access.log.1`, `access.log.2.gz`, `access.log-20261201`: copies logrotate made.
fn is_rotated(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let last = name.rsplit(['.', '-']).next().unwrap_or_default();
    name.ends_with(".gz")
        || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) && name.len() > last.len())
}

/// Read what was written to the log's previous file since the last look; after
/// `DRAIN_QUIET` without a write, its last line too, and let it go.
fn drain(f: &mut Followed, buffer: &mut Vec<u8>, each: &mut dyn FnMut(Line<'_>)) {
    let Some(mut old) = f.draining.take() else {
        return;
    };
    if old.written.elapsed() >= DRAIN_QUIET {
        return finish(f, old, buffer, each);
    }
    let mut reader = OffsetReader {
        file: &old.file,
        offset: old.offset,
    };
    if let Ok(consumed) = split_lines(
        &mut reader,
        buffer,
        false,
        f.source,
        &f.name,
        old.line,
        each,
    ) {
        if consumed.bytes > 0 {
            old.written = Instant::now();
        }
        old.offset += consumed.bytes;
        old.line += consumed.lines;
    }
    f.draining = Some(old);
}

/// Read the rest of a previous file, its last line included.
fn finish(f: &Followed, old: Draining, buffer: &mut Vec<u8>, each: &mut dyn FnMut(Line<'_>)) {
    let mut reader = OffsetReader {
        file: &old.file,
        offset: old.offset,
    };
    let _ = split_lines(&mut reader, buffer, true, f.source, &f.name, old.line, each);
}

fn follow(
    f: &mut Followed,
    buffer: &mut Vec<u8>,
    each: &mut dyn FnMut(Line<'_>),
) -> io::Result<()> {
    drain(f, buffer, each);
    let now = match std::fs::metadata(&f.path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    // The file open is still the log: read on (from the start if it was truncated).
    let open_is_log = match (&f.file, &now) {
        (Some(_), Some(meta)) => meta.dev() == f.cursor.dev && meta.ino() == f.cursor.inode,
        _ => false,
    };
    if open_is_log {
        if let (Some(file), Some(meta)) = (f.file.as_ref().map(File::try_clone), &now) {
            let file = file?;
            // Shorter, or grown again past the old end with other first bytes: cut
            // (copytruncate) since the last look.
            if meta.len() < f.cursor.offset || !fingerprint_matches(&file, &f.cursor) {
                read_rotated_copy(f, buffer, each);
                f.cursor = Cursor {
                    dev: f.cursor.dev,
                    inode: f.cursor.inode,
                    ..Cursor::default()
                };
            }
            return read_from(&file, f, buffer, each, false);
        }
    }
    // The log was renamed away or deleted: the open file is read on for a while.
    if let Some(file) = f.file.take() {
        // What cannot be read of the old file is lost either way: the new one must
        // still be read.
        let _ = read_from(&file, f, buffer, each, false);
        if let Some(older) = f.draining.take() {
            finish(f, older, buffer, each);
        }
        f.draining = Some(Draining {
            file,
            offset: f.cursor.offset,
            line: f.cursor.line,
            written: Instant::now(),
        });
        f.cursor = Cursor::default();
    }
    if now.is_none() {
        return Ok(());
    }
    let file = open_regular(&f.path)?;
    let meta_now = file.metadata()?;
    let same = meta_now.dev() == f.cursor.dev && meta_now.ino() == f.cursor.inode;
    let resumable =
        same && meta_now.len() >= f.cursor.offset && fingerprint_matches(&file, &f.cursor);
    if !resumable {
        if f.cursor.inode != 0 {
            // Rotated, truncated or replaced while fim was not reading: finish the old
            // file wherever it went, then read this one from its start.
            read_rotated_copy(f, buffer, each);
        }
        f.cursor = Cursor {
            dev: meta_now.dev(),
            inode: meta_now.ino(),
            ..Cursor::default()
        };
    }
    let reader = file.try_clone()?;
    f.file = Some(file);
    read_from(&reader, f, buffer, each, false)
}

fn fingerprint_matches(file: &File, cursor: &Cursor) -> bool {
    if cursor.fingerprint_len == 0 {
        return true;
    }
    let mut head = vec![0; cursor.fingerprint_len as usize];
    file.read_exact_at(&mut head, 0).is_ok()
        && *blake3::hash(&head).as_bytes() == cursor.fingerprint
}

fn refresh_fingerprint(file: &File, cursor: &mut Cursor) {
    let want = cursor.offset.min(FINGERPRINT_BYTES);
    if want <= cursor.fingerprint_len {
        return;
    }
    let mut head = vec![0; want as usize];
    if file.read_exact_at(&mut head, 0).is_ok() {
        cursor.fingerprint = *blake3::hash(&head).as_bytes();
        cursor.fingerprint_len = want;
    }
}

/// Read `file` from the cursor to its end, handing out complete lines; `to_the_end`
/// also hands out a last line without its newline (a file no longer written).
fn read_from(
    file: &File,
    f: &mut Followed,
    buffer: &mut Vec<u8>,
    each: &mut dyn FnMut(Line<'_>),
    to_the_end: bool,
) -> io::Result<()> {
    let mut reader = OffsetReader {
        file,
        offset: f.cursor.offset,
    };
    let consumed = split_lines(
        &mut reader,
        buffer,
        to_the_end,
        f.source,
        &f.name,
        f.cursor.line,
        each,
    )?;
    f.cursor.offset += consumed.bytes;
    f.cursor.line += consumed.lines;
    refresh_fingerprint(file, &mut f.cursor);
    Ok(())
}

/// Reads a file from an offset with pread, leaving the file's own position alone.
struct OffsetReader<F: Borrow<File>> {
    file: F,
    offset: u64,
}

impl<F: Borrow<File>> Read for OffsetReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.borrow().read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

pub struct Consumed {
    pub bytes: u64,
    pub lines: u64,
}

/// Hand out the lines of `reader`, numbered from `first_line + 1`. Returns how many
/// bytes and lines were consumed (a trailing partial line is not, unless
/// `to_the_end`). Lines past `MAX_LINE` are cut.
pub fn split_lines(
    reader: &mut dyn Read,
    buffer: &mut Vec<u8>,
    to_the_end: bool,
    source: usize,
    name: &Arc<str>,
    first_line: u64,
    each: &mut dyn FnMut(Line<'_>),
) -> io::Result<Consumed> {
    buffer.clear();
    let mut consumed = Consumed { bytes: 0, lines: 0 };
    // Hands out one line (unless it is the rest of a line already cut) and counts it.
    let mut hand = |bytes: &[u8], skipping: bool, consumed: &mut Consumed| {
        if !skipping {
            consumed.lines += 1;
            each(Line {
                source,
                file: name,
                number: first_line + consumed.lines,
                bytes,
            });
        }
        consumed.bytes += bytes.len() as u64;
    };
    let mut skipping = false;
    let mut eof = false;
    while !eof {
        let start = buffer.len();
        buffer.resize(start + CHUNK, 0);
        let n = loop {
            match reader.read(&mut buffer[start..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        buffer.truncate(start + n);
        eof = n == 0;
        let mut from = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buffer[from..]) {
            let end = from + nl + 1;
            hand(&buffer[from..end], skipping, &mut consumed);
            skipping = false;
            from = end;
        }
        buffer.drain(..from);
        if buffer.len() >= MAX_LINE {
            hand(&buffer[..MAX_LINE], skipping, &mut consumed);
            consumed.bytes += (buffer.len() - MAX_LINE) as u64;
            skipping = true;
            buffer.clear();
        }
    }
    if to_the_end && !buffer.is_empty() {
        hand(buffer, skipping, &mut consumed);
        buffer.clear();
    }
    Ok(consumed)
}

/// Where the log's previous file went: beside it, under a rotated name, found by its
/// inode, or (compressed) by its fingerprint. Its unread rest is handed out.
fn read_rotated_copy(f: &mut Followed, buffer: &mut Vec<u8>, each: &mut dyn FnMut(Line<'_>)) {
    let Some(dir) = f.path.parent() else { return };
    let Some(base) = f.path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.len() > base.len()
                && name.starts_with(&base)
                && matches!(name.as_bytes()[base.len()], b'.' | b'-')
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, path) in candidates.into_iter().take(4) {
        let Ok(file) = open_regular(&path) else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        let compressed = path.extension().is_some_and(|e| e == "gz");
        let mut reader: Box<dyn Read> = if compressed {
            let mut decoder = flate2::read::MultiGzDecoder::new(file);
            let mut head = vec![0; f.cursor.fingerprint_len as usize];
            if decoder.read_exact(&mut head).is_err()
                || *blake3::hash(&head).as_bytes() != f.cursor.fingerprint
            {
                continue;
            }
            let rest = f.cursor.offset - f.cursor.fingerprint_len;
            if io::copy(&mut (&mut decoder).take(rest), &mut io::sink()).ok() != Some(rest) {
                continue;
            }
            Box::new(decoder)
        } else {
            let same_file = meta.dev() == f.cursor.dev && meta.ino() == f.cursor.inode;
            // A copy (copytruncate) has another inode: it is the log's copy when it
            // begins as the log did.
            if !same_file && !fingerprint_matches(&file, &f.cursor) || meta.len() < f.cursor.offset
            {
                continue;
            }
            Box::new(OffsetReader {
                file,
                offset: f.cursor.offset,
            })
        };
        let name: Arc<str> = path.to_string_lossy().into();
        let _ = split_lines(
            &mut reader,
            buffer,
            true,
            f.source,
            &name,
            f.cursor.line,
            each,
        );
        return;
    }
}

#[cfg(test)]
mod tests;

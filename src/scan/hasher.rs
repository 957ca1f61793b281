//! BLAKE3 of a file through the descriptor the walk opened (`O_NOFOLLOW`). Files are
//! read with `pread`, never mmapped: an intruder who truncates a mapped file mid-hash
//! would kill fim with SIGBUS (BLAKE3 issue #488), and the mmap helpers reopen the path.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use rustix::fs::Stat;

use crate::fs::open::{stat_fd, unchanged};

/// Files up to this size are read in one `pread` into a per-thread buffer and hashed
/// on that thread; the many small files of a web tree cost system calls, not hashing.
pub const SMALL_FILE: u64 = 1 << 20;
/// Large files are read in chunks this big, each hashed across the rayon pool.
const CHUNK: usize = 4 << 20;
/// Below this, `update_rayon` is slower than a single-threaded update (blake3 docs).
const RAYON_MIN: usize = 128 << 10;
/// A file that changes this many times in a row while hashed is recorded unhashed.
const ATTEMPTS: usize = 3;

thread_local! {
    static SMALL_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SMALL_FILE as usize]);
}

/// Allocate this thread's buffer for small files now: its first use would otherwise
/// zero a megabyte (page faults on every page, half a millisecond) in the middle of
/// the daemon's first event.
pub fn warm_up() {
    SMALL_BUF.with_borrow(|buf| std::hint::black_box(buf.len()));
}

/// Call `f` with the bytes of the file of `size` bytes (at most `SMALL_FILE`) that
/// `hash_stable` hashed last on this thread, still in its buffer: `init` judges each
/// file from them instead of reading it again. Only valid right after a `Stable`
/// outcome, with nothing hashed on this thread in between.
pub fn with_hashed_bytes<R>(size: u64, f: impl FnOnce(&[u8]) -> R) -> R {
    debug_assert!(size <= SMALL_FILE);
    SMALL_BUF.with_borrow(|buf| f(&buf[..size as usize]))
}

/// The outcome of hashing a file that may be written while fim reads it.
pub enum Hashed {
    /// Size, mtime and ctime were the same before and after the read.
    Stable { stat: Stat, digest: [u8; 32] },
    /// The file changed during every attempt; no trustworthy hash exists.
    KeptChanging { stat: Stat },
}

/// Hash `file` (whose `fstat` is `before`), hashing again when a writer changed it
/// meanwhile.
pub fn hash_stable(file: &File, mut before: Stat) -> io::Result<Hashed> {
    for _ in 0..ATTEMPTS {
        let digest = hash_exact(file, before.st_size as u64)?;
        let after = stat_fd(file)?;
        if let (Some(digest), true) = (digest, unchanged(&before, &after)) {
            return Ok(Hashed::Stable {
                stat: after,
                digest,
            });
        }
        before = after;
    }
    Ok(Hashed::KeptChanging { stat: before })
}

/// BLAKE3 of the first `size` bytes of `file`, or `None` when it ends sooner
/// (truncated while read).
pub fn hash_exact(file: &File, size: u64) -> io::Result<Option<[u8; 32]>> {
    if size <= SMALL_FILE {
        // No rayon call happens while the buffer is borrowed (here, or by the judge in
        // `with_hashed_bytes`), so work stealing can never re-enter this thread-local.
        SMALL_BUF.with_borrow_mut(|buf| {
            let buf = &mut buf[..size as usize];
            Ok(read_full_at(file, buf, 0)?.then(|| *blake3::hash(buf).as_bytes()))
        })
    } else {
        let mut hasher = blake3::Hasher::new();
        // Zeroing is paid per file: no bigger than the file.
        let mut chunk = vec![0u8; CHUNK.min(size as usize)];
        let mut offset = 0u64;
        while offset < size {
            let want = CHUNK.min((size - offset) as usize);
            let buf = &mut chunk[..want];
            if !read_full_at(file, buf, offset)? {
                return Ok(None);
            }
            if want >= RAYON_MIN {
                hasher.update_rayon(buf);
            } else {
                hasher.update(buf);
            }
            offset += want as u64;
        }
        Ok(Some(*hasher.finalize().as_bytes()))
    }
}

/// Fill `buf` from `offset`; `false` at a premature end of file.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<bool> {
    Ok(read_at_most(file, buf, offset)? == buf.len())
}

/// Read into `buf` from `offset` until it is full or the file ends; how many bytes.
pub(crate) fn read_at_most(file: &File, buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn small_and_large_files_hash_like_blake3() {
        for len in [
            0usize,
            1,
            4095,
            SMALL_FILE as usize,
            SMALL_FILE as usize + 1,
            CHUNK * 2 + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let f = file_with(&data);
            let got = hash_exact(&f, len as u64).unwrap().unwrap();
            assert_eq!(got, *blake3::hash(&data).as_bytes(), "len {len}");
        }
    }

    #[test]
    fn truncated_file_gives_no_hash() {
        let f = file_with(b"short");
        assert_eq!(hash_exact(&f, 10).unwrap(), None);
        assert_eq!(hash_exact(&f, SMALL_FILE + 10).unwrap(), None);
    }
}

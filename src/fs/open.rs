//! Safe opens and metadata. Every entry is reached relative to its parent directory's
//! file descriptor with `O_NOFOLLOW`, so a symlink is recorded as a link and never
//! followed, and a FIFO or device is never read (`O_NONBLOCK` keeps even a raced-in
//! FIFO from blocking the open).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::entry::{Attrs, FileType, Timestamp, Xattrs};

/// Open a directory by absolute path. Ancestors of a watch root are the operator's
/// choice and are resolved normally; the root itself is then opened relative to it.
pub fn open_dir_path(path: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Open the directory `name` inside `parent`, refusing a symlink.
pub fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Open the entry `name` inside `parent` for reading, refusing a symlink and never
/// blocking. `O_NOATIME` keeps fim from disturbing the access times an investigator
/// may need; it is dropped when the kernel refuses it (not the owner, no CAP_FOWNER).
pub fn open_file_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    match rustix::fs::openat(parent, name, flags | OFlags::NOATIME, Mode::empty()) {
        Err(Errno::PERM) => Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?),
        other => Ok(other?),
    }
}

pub fn stat_fd(fd: impl AsFd) -> io::Result<Stat> {
    Ok(rustix::fs::fstat(fd)?)
}

/// `lstat` of `name` inside `parent`.
pub fn stat_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<Stat> {
    Ok(rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

pub fn read_link_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(parent, name, Vec::new())?.into_bytes())
}

/// The attributes a `stat` gives; target, xattrs and hash are filled in by the caller.
/// `None` for a mode no file type matches.
// `Stat`'s field types differ between architectures, so some casts are no-ops here.
#[allow(clippy::unnecessary_cast)]
pub fn attrs_from_stat(st: &Stat) -> Option<Attrs> {
    Some(Attrs {
        file_type: FileType::from_mode(st.st_mode as u32)?,
        size: st.st_size as u64,
        mode: st.st_mode as u32 & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: Timestamp {
            sec: st.st_mtime as i64,
            nsec: st.st_mtime_nsec as u32,
        },
        ctime: Timestamp {
            sec: st.st_ctime as i64,
            nsec: st.st_ctime_nsec as u32,
        },
        inode: st.st_ino as u64,
        nlink: st.st_nlink as u64,
        target: None,
        xattrs: Vec::new(),
        blake3: None,
    })
}

/// True when two `stat`s of the same open file show no change to its content:
/// a writer changes size, mtime or ctime.
pub fn unchanged(before: &Stat, after: &Stat) -> bool {
    before.st_size == after.st_size
        && before.st_mtime == after.st_mtime
        && before.st_mtime_nsec == after.st_mtime_nsec
        && before.st_ctime == after.st_ctime
        && before.st_ctime_nsec == after.st_ctime_nsec
}

/// Extended attributes of an open file or directory. One `flistxattr` call in the
/// common case of none.
pub fn xattrs_fd(fd: BorrowedFd<'_>) -> io::Result<Xattrs> {
    read_xattrs(
        || rustix::fs::flistxattr_query(fd),
        |buf| rustix::fs::flistxattr(fd, buf),
        |name| rustix::fs::fgetxattr_query(fd, name),
        |name, buf| rustix::fs::fgetxattr(fd, name, buf),
    )
}

/// Extended attributes of a symlink or special file, by path, not following it.
pub fn xattrs_path(path: &[u8]) -> io::Result<Xattrs> {
    read_xattrs(
        || rustix::fs::llistxattr_query(path),
        |buf| rustix::fs::llistxattr(path, buf),
        |name| rustix::fs::lgetxattr_query(path, name),
        |name, buf| rustix::fs::lgetxattr(path, name, buf),
    )
}

type Buf<'a> = &'a mut [u8];

fn read_xattrs(
    list_len: impl Fn() -> rustix::io::Result<usize>,
    list: impl Fn(Buf<'_>) -> rustix::io::Result<usize>,
    value_len: impl Fn(&CStr) -> rustix::io::Result<usize>,
    value: impl Fn(&CStr, Buf<'_>) -> rustix::io::Result<usize>,
) -> io::Result<Xattrs> {
    // The list can grow between the size query and the read: retry on ERANGE.
    for _ in 0..4 {
        let len = match list_len() {
            Ok(0) | Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Ok(len) => len,
            Err(e) => return Err(e.into()),
        };
        let mut names = vec![0u8; len];
        let got = match list(&mut names) {
            Ok(n) => n,
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        };
        names.truncate(got);
        let mut out = Vec::new();
        for name in names.split_inclusive(|b| *b == 0) {
            let Ok(cname) = CStr::from_bytes_with_nul(name) else {
                continue;
            };
            match read_value(cname, &value_len, &value) {
                Ok(v) => out.push((cname.to_bytes().to_vec(), v)),
                // Removed since it was listed.
                Err(Errno::NODATA) => {}
                Err(e) => return Err(e.into()),
            }
        }
        out.sort();
        return Ok(out);
    }
    Err(io::Error::other("extended attributes kept changing"))
}

fn read_value(
    name: &CStr,
    value_len: &impl Fn(&CStr) -> rustix::io::Result<usize>,
    value: &impl Fn(&CStr, Buf<'_>) -> rustix::io::Result<usize>,
) -> rustix::io::Result<Vec<u8>> {
    loop {
        let mut buf = vec![0u8; value_len(name)?];
        match value(name, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Open a regular file for reading without ever blocking on a FIFO or opening a
/// device put in its place (symlinks are followed): anything else is refused.
pub fn open_regular(path: &std::path::Path) -> io::Result<std::fs::File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    require_regular(&stat_fd(&fd)?)?;
    Ok(std::fs::File::from(fd))
}

/// Read a small regular file (a policy, a key, `open_regular`), at most `limit` bytes.
pub fn read_regular_file(path: &std::path::Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file is larger than {limit} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `Ok(false)` when nothing exists at `path`, `Ok(true)` for a regular file (symlinks
/// followed), and an error naming the type for anything else: SQLite would block
/// forever opening a FIFO.
pub fn regular_file_exists(path: &std::path::Path) -> io::Result<bool> {
    match rustix::fs::stat(path) {
        Ok(st) => require_regular(&st).map(|()| true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn require_regular(st: &Stat) -> io::Result<()> {
    match FileType::from_mode(st.st_mode) {
        Some(FileType::File) => Ok(()),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "not a regular file (it is a {})",
                other.map_or("file of unknown type", FileType::as_str)
            ),
        )),
    }
}

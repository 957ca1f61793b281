//! One process as `/proc/PID` shows it. Read by hand rather than with the `procfs`
//! crate: fim needs six small files read as raw bytes (names that are not UTF-8 must
//! survive), in the few microseconds after an exec event, and nothing else procfs parses.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What fim knows of a process; fields it could not read (it vanished, or belongs to a
/// user it may not inspect) stay empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Effective uid.
    pub uid: Option<u32>,
    /// The kernel's short name (a script's own name, or what the process set).
    pub comm: Vec<u8>,
    /// The executable's path, without the kernel's " (deleted)" mark.
    pub exe: Option<Vec<u8>>,
    /// The kernel marks the executable " (deleted)": removed or replaced since exec.
    pub exe_deleted: bool,
    /// The executable is a memfd sealed against writing, growing and shrinking: an
    /// immutable copy, the way container runtimes guard their own binary.
    pub exe_sealed: bool,
    pub cmdline: Vec<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    /// Start time in clock ticks since boot: with the pid, names one process.
    pub start: u64,
    /// User and system CPU time so far, in clock ticks.
    pub cpu: u64,
    /// Only `stat` and the executable were read (`read_if` found nothing to judge):
    /// uid, cmdline and cwd are unknown, not empty.
    pub partial: bool,
}

const DELETED: &[u8] = b" (deleted)";
/// How the kernel names an executable that lives in memory (`memfd_create`).
pub const MEMFD: &[u8] = b"/memfd:";

impl Proc {
    /// Read `/proc/PID` under `root` (the real `/proc`, or a test's copy). `None` when the
    /// process is gone (or is a kernel thread, which runs no executable of its own).
    pub fn read(root: &Path, pid: i32) -> Option<Proc> {
        Proc::read_if(root, pid, |_| true, |_| false)
    }

    /// Read `stat` and the executable, and the rest only when `detail` says they matter:
    /// done after every exec event, where most programs of a busy host need no more.
    /// `root_parent(ppid)` vouches that a process `/proc` shows as root's is root's (see
    /// `RootParents`), sparing the `status` read.
    /// Each file costs the fewest system calls and path lookups: `stat` and `exe` by
    /// path, then, for the rest, the directory opened once (from there on it pins the
    /// process: a reused pid is not read by mistake) and its files opened from it, into
    /// one buffer with no size probe; `status` only when needed.
    pub fn read_if(
        root: &Path,
        pid: i32,
        detail: impl FnOnce(&Proc) -> bool,
        root_parent: impl FnOnce(i32) -> bool,
    ) -> Option<Proc> {
        use rustix::fs::{Mode, OFlags, CWD};
        let base = root.join(pid.to_string());
        let mut buf = vec![0; 1024];
        let n = read_into(CWD, base.join("stat"), &mut buf)?;
        let Stat { mut proc, gone } = parse_stat(pid, &buf[..n])?;
        if let Some(exe) = link(CWD, base.join("exe")) {
            let (path, deleted) = strip_deleted(&exe);
            proc.exe_deleted = deleted;
            proc.exe = Some(path.to_vec());
        }
        // An executable fim may not look into leaves only the rest to tell; a process
        // that has exited has no more to tell.
        if (proc.exe.is_some() || gone) && !detail(&proc) {
            proc.partial = true;
            return Some(proc);
        }
        let dir = rustix::fs::open(
            &base,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        proc.uid = uid(&dir, &mut buf, || root_parent(proc.ppid));
        if let Some(n) = read_into(&dir, "cmdline", &mut buf) {
            proc.cmdline = split_cmdline(&buf[..n]);
        }
        proc.exe_sealed = proc.exe.as_deref().is_some_and(|e| e.starts_with(MEMFD)) && sealed(&dir);
        proc.cwd = link(&dir, "cwd");
        Some(proc)
    }

    /// The name a person would give it: argv[0]'s base name (what `ps` shows, and what
    /// `php-fpm: pool www` sets), else the kernel's short name.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        let arg0 = self.cmdline.first().map(|a| {
            let first_word = a.split(|b| *b == b' ' || *b == b':').next().unwrap_or(a);
            base_name(first_word)
        });
        let exe = self.exe.as_deref().map(base_name);
        arg0.into_iter()
            .chain(exe)
            .chain(std::iter::once(self.comm.as_slice()))
    }
}

pub fn base_name(path: &[u8]) -> &[u8] {
    path.rsplit(|b| *b == b'/').next().unwrap_or(path)
}

struct Stat {
    proc: Proc,
    /// Exited (a zombie not yet reaped): its executable, cmdline and cwd are gone.
    gone: bool,
}

/// The kernel's flag for its own threads (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

/// `comm` sits in parentheses and may itself hold ") ": the fields follow the last one.
/// `None` for a kernel thread: nothing of it runs from disk.
fn parse_stat(pid: i32, stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    let comm = stat.get(open + 1..close)?.to_vec();
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    // Fields from the third (state) on: ppid is the 4th, flags the 9th, utime 14th,
    // stime 15th, starttime 22nd (proc(5)).
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    if field(9)? & PF_KTHREAD != 0 {
        return None;
    }
    Some(Stat {
        proc: Proc {
            pid,
            ppid: field(4)? as i32,
            comm,
            start: field(22)?,
            cpu: field(14)? + field(15)?,
            ..Proc::default()
        },
        gone: matches!(fields.first(), Some(&"Z") | Some(&"X")),
    })
}

fn link(dir: impl AsFd, name: impl rustix::path::Arg) -> Option<Vec<u8>> {
    rustix::fs::readlinkat(dir, name, Vec::new())
        .ok()
        .map(|l| l.into_bytes())
}

/// Read `dir/name` into `buf` (grown as needed, never shrunk); its length.
fn read_into(dir: impl AsFd, name: impl rustix::path::Arg, buf: &mut Vec<u8>) -> Option<usize> {
    use rustix::fs::{Mode, OFlags};
    let file =
        rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize((len * 2).max(1024), 0);
        }
        let room = buf.len() - len;
        match rustix::io::read(&file, &mut buf[len..]) {
            // A `/proc/PID` file hands over all it has when there is room: a short
            // read is its end, and the empty read that would confirm it is spared.
            Ok(n) if n < room => return Some(len + n),
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
}

/// The effective uid. `/proc/PID` belongs to it while the process is dumpable (every
/// ordinary program after its exec), to root otherwise (setuid programs, workers that
/// dropped privileges): only then, and unless `vouched` says root it is, is the longer
/// `status` read.
fn uid(
    dir: &rustix::fd::OwnedFd,
    buf: &mut Vec<u8>,
    vouched: impl FnOnce() -> bool,
) -> Option<u32> {
    let owner = rustix::fs::fstat(dir).ok()?.st_uid;
    if owner != 0 || vouched() {
        return Some(owner);
    }
    let n = read_into(dir, "status", buf)?;
    status_uid(&buf[..n])
}

fn status_uid(status: &[u8]) -> Option<u32> {
    let text = String::from_utf8_lossy(status);
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_ascii_whitespace().nth(2)?.parse().ok()
}

/// Which parents run as root, for exec events. A program just exec'd is dumpable
/// unless its exec changed its credentials (setuid, setgid, capabilities) or it could
/// not be read: so `/proc` showing it as root's, with a root parent, means root (a
/// setuid-root program, or a root parent's child), without the `status` read that is
/// the dearest part of an exec's look. Wrong only for a root parent's child that
/// changed user before an exec of a setgid or unreadable program. The parents'
/// answers are kept by pid and `/proc` inode, which a reused pid does not share.
#[derive(Default)]
pub struct RootParents {
    euid: HashMap<i32, (u64, Option<u32>)>,
}

impl RootParents {
    /// At most this many parents are kept (then all are forgotten): a host's live ones.
    const KEPT: usize = 4096;

    pub fn is_root(&mut self, root: &Path, ppid: i32) -> bool {
        let base = root.join(ppid.to_string());
        let Ok(dir) = rustix::fs::stat(&base) else {
            return false;
        };
        if dir.st_uid != 0 {
            return false;
        }
        let ino = dir.st_ino;
        if let Some((known, euid)) = self.euid.get(&ppid) {
            if *known == ino {
                return *euid == Some(0);
            }
        }
        let mut buf = Vec::new();
        let euid = read_into(rustix::fs::CWD, base.join("status"), &mut buf)
            .and_then(|n| status_uid(&buf[..n]));
        if self.euid.len() >= Self::KEPT {
            self.euid.clear();
        }
        self.euid.insert(ppid, (ino, euid));
        euid == Some(0)
    }
}

fn split_cmdline(raw: &[u8]) -> Vec<Vec<u8>> {
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).map(<[u8]>::to_vec).collect()
}

pub fn strip_deleted(path: &[u8]) -> (&[u8], bool) {
    match path.strip_suffix(DELETED) {
        Some(p) => (p, true),
        None => (path, false),
    }
}

/// Whether the memfd behind `/proc/PID/exe` is sealed immutable. Opened read-only to
/// ask the kernel, never read or run.
fn sealed(dir: &rustix::fd::OwnedFd) -> bool {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::AsRawFd;
    let Ok(file) = rustix::fs::openat(dir, "exe", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    else {
        return false;
    };
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor owned by `file`.
    let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
    let immutable = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    seals >= 0 && seals & immutable == immutable
}

/// The pids in `/proc`.
pub fn pids(root: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            std::str::from_utf8(e.file_name().as_bytes())
                .ok()?
                .parse()
                .ok()
        })
        .collect()
}

/// Mapped executable code (libraries) marked deleted in `/proc/PID/maps`: replaced by
/// an update, or removed, since the process mapped it. Only read, never opened.
pub fn deleted_libraries(root: &Path, pid: i32) -> Vec<Vec<u8>> {
    let Ok(maps) = std::fs::read(root.join(pid.to_string()).join("maps")) else {
        return Vec::new();
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in maps.split(|b| *b == b'\n') {
        // address perms offset dev inode path
        let mut fields = line.splitn(6, |b| *b == b' ');
        let perms = fields.nth(1).unwrap_or_default();
        let path = fields
            .nth(3)
            .map(|p| p.trim_ascii_start())
            .unwrap_or_default();
        let (path, deleted) = strip_deleted(path);
        let library = path.starts_with(b"/")
            && !path.starts_with(b"/dev/")
            && !path.starts_with(MEMFD)
            && memchr::memmem::find(base_name(path), b".so").is_some();
        if deleted && library && perms.get(2) == Some(&b'x') && !out.iter().any(|p| p == path) {
            out.push(path.to_vec());
        }
    }
    out
}

/// Lossy text with control characters escaped, for fields and summaries.
pub fn text(bytes: &[u8]) -> String {
    let lossy = String::from_utf8_lossy(bytes);
    if !lossy.chars().any(char::is_control) {
        return lossy.into_owned();
    }
    lossy
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub fn os(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_hostile_comm() {
        let stat = b"42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 9876 1000 100";
        let Stat { proc: p, gone } = parse_stat(42, stat).unwrap();
        assert_eq!(p.comm, b"a) b (c");
        assert_eq!((p.ppid, p.cpu, p.start, gone), (7, 8, 9876, false));
        assert!(parse_stat(1, b"garbage").is_none());
        let zombie = b"43 (sh) Z 7 42 42 0 -1 4194564 100 0 0 0 5 3 0 0 20 0 1 0 9877 0 0";
        assert!(parse_stat(43, zombie).unwrap().gone);
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0";
        assert!(parse_stat(2, kthread).is_none());
    }

    #[test]
    fn cmdline_deleted_and_text() {
        assert_eq!(
            split_cmdline(b"sh\0-c\0id\0"),
            vec![b"sh".to_vec(), b"-c".to_vec(), b"id".to_vec()]
        );
        assert!(split_cmdline(b"").is_empty());
        assert_eq!(strip_deleted(b"/tmp/x (deleted)"), (&b"/tmp/x"[..], true));
        assert_eq!(text(b"a\x1bb\xff"), "a\\u{1b}b\u{fffd}");
    }

    #[test]
    fn names_of_a_renamed_worker() {
        let p = Proc {
            cmdline: vec![b"php-fpm: pool www".to_vec()],
            exe: Some(b"/usr/sbin/php-fpm8.2".to_vec()),
            comm: b"php-fpm8.2".to_vec(),
            ..Proc::default()
        };
        let names: Vec<&[u8]> = p.names().collect();
        assert_eq!(names[0], b"php-fpm");
    }

    #[test]
    fn this_process_reads() {
        let me = Proc::read(Path::new("/proc"), std::process::id() as i32).unwrap();
        assert!(me.exe.is_some() && !me.cmdline.is_empty() && me.start > 0);
        assert!(!me.partial && me.uid.is_some());
        // What `detail` turns down is read no further than stat and exe.
        let pid = std::process::id() as i32;
        let part = Proc::read_if(Path::new("/proc"), pid, |_| false, |_| true).unwrap();
        assert!(part.partial && part.cmdline.is_empty() && part.cwd.is_none());
        assert_eq!(
            (part.exe, part.start, part.ppid),
            (me.exe, me.start, me.ppid)
        );
        assert!(part.uid.is_none());
    }
}

//! The judgement of one process (pure but for reading its parents and maps): which
//! detectors it concerns, with the event's fields and a summary.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::net;
use super::read::{self, text, Proc};
use crate::detect::ProcessFields;

/// Detector slots, in `settings::KINDS` order.
const DELETED: usize = 0;
const WRITABLE: usize = 1;
const SPAWN: usize = 2;
const LISTENER: usize = 3;
const MINER: usize = 4;
const STALE: usize = 5;

/// Shells, interpreters and network tools a web server has no business starting.
const SHELLS: [&str; 22] = [
    "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "ash", "busybox", "python", "python2",
    "python3", "perl", "ruby", "lua", "nc", "ncat", "netcat", "socat", "curl", "wget", "telnet",
];
/// The web server and its workers (prefixes: `php-fpm8.2`, `apache2`, `httpd-worker`).
const SERVERS: [&str; 12] = [
    "nginx",
    "apache",
    "httpd",
    "php-fpm",
    "php-cgi",
    "uwsgi",
    "gunicorn",
    "lighttpd",
    "caddy",
    "unicorn",
    "puma",
    "passenger",
];
const MINERS: [&str; 13] = [
    "xmrig",
    "xmr-stak",
    "minerd",
    "cpuminer",
    "ethminer",
    "nbminer",
    "t-rex",
    "lolminer",
    "phoenixminer",
    "kdevtmpfsi",
    "kinsing",
    "cgminer",
    "ccminer",
];
/// Who may start a root program from a sealed memfd: init and the container runtimes
/// (runc runs `runc init` from `memfd:runc_cloned:/proc/self/exe`, its CVE-2019-5736
/// guard; crun, youki and systemd's executor do the like; supervisors started by
/// init, such as a VM's agent, keep their binary the same way).
const MEMFD_PARENTS: [&str; 7] = [
    "runc",
    "crun",
    "youki",
    "containerd-shim",
    "conmon",
    "systemd",
    "init",
];
const WRITABLE_DIRS: [&[u8]; 3] = [b"/tmp/", b"/var/tmp/", b"/dev/shm/"];
/// A web user's process over this share of a core for this long is a miner.
const BUSY_SHARE: f64 = 0.8;
const BUSY_MS: i64 = 120_000;

pub struct Finding {
    pub slot: usize,
    /// What the Tracker dedupes on: the executable (or the listener).
    pub subject: Vec<u8>,
    pub start: u64,
    pub fields: ProcessFields,
    pub summary: String,
    pub reasons: Vec<String>,
    /// Other events it is tied to (filled by `Processes`, which knows them).
    pub related: Vec<String>,
}

/// Which exec'd programs are worth reading in full: what `Judge::process` reports on
/// shows in the executable and the kernel's short name already. The rest (a build
/// server's compilers) are read no further; the scan sees their command lines.
#[derive(Clone)]
pub struct Interest {
    watched: Vec<Vec<u8>>,
}

impl Interest {
    pub fn new(watched: Vec<Vec<u8>>) -> Interest {
        Interest { watched }
    }

    pub fn detail(&self, p: &Proc) -> bool {
        let exe = p.exe.as_deref().unwrap_or_default();
        p.exe_deleted
            || exe.starts_with(read::MEMFD)
            || self.place(exe).is_some()
            || is_shell(p)
            || has_miner_name(p)
    }

    /// Why running `exe` from where it is is suspect.
    fn place(&self, exe: &[u8]) -> Option<&'static str> {
        if self
            .watched
            .iter()
            .any(|root| exe.starts_with(root) && exe.get(root.len()) == Some(&b'/'))
        {
            Some("runs from a watched tree")
        } else if WRITABLE_DIRS.iter().any(|d| exe.starts_with(d)) {
            Some("runs from a world-writable directory")
        } else {
            None
        }
    }
}

pub struct Judge {
    web_users: HashMap<u32, String>,
    interest: Interest,
    known_listeners: HashSet<String>,
    users: HashMap<u32, String>,
    /// (pid, start) → (cpu ticks, ms, busy since ms) at the previous scan.
    cpu: HashMap<(i32, u64), (u64, i64, Option<i64>)>,
    ticks_per_s: f64,
    /// Socket inode → its owner found at an earlier scan (`None`: no process of ours
    /// holds it): the fd tables are walked for a listener once, not every scan.
    owners: HashMap<u64, Option<i32>>,
}

fn is_name(name: &[u8], list: &[&str], prefix: bool) -> bool {
    list.iter().any(|n| {
        if prefix {
            name.starts_with(n.as_bytes())
        } else {
            name == n.as_bytes()
                || (name.starts_with(n.as_bytes())
                    && name[n.len()..]
                        .iter()
                        .all(|b| b.is_ascii_digit() || *b == b'.'))
        }
    })
}

/// A shell, interpreter or network tool by any of its names.
fn is_shell(p: &Proc) -> bool {
    p.names().any(|n| is_name(n, &SHELLS, false))
}

fn has_miner_name(p: &Proc) -> bool {
    p.names().any(|n| is_name(n, &MINERS, true))
}

impl Judge {
    pub fn new(
        web_users: HashMap<u32, String>,
        interest: Interest,
        known_listeners: HashSet<String>,
    ) -> Judge {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let users = passwd
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                Some((f.nth(1)?.parse().ok()?, name.to_owned()))
            })
            .collect();
        // SAFETY: sysconf only reads a constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Judge {
            web_users,
            interest,
            known_listeners,
            users,
            cpu: HashMap::new(),
            owners: HashMap::new(),
            ticks_per_s: if ticks > 0 { ticks as f64 } else { 100.0 },
        }
    }

    fn fields(&self, p: &Proc, table: &HashMap<i32, Proc>) -> ProcessFields {
        let parent_exe = table
            .get(&p.ppid)
            .and_then(|pp| pp.exe.clone())
            .or_else(|| {
                std::fs::read_link(format!("/proc/{}/exe", p.ppid))
                    .ok()
                    .map(|l| {
                        use std::os::unix::ffi::OsStringExt;
                        l.into_os_string().into_vec()
                    })
            });
        ProcessFields {
            pid: p.pid,
            ppid: p.ppid,
            user: p
                .uid
                .map(|u| self.users.get(&u).cloned().unwrap_or_else(|| u.to_string())),
            exe: p.exe.as_deref().map(text),
            cmdline: p.cmdline.iter().map(|a| text(a)).collect(),
            cwd: p.cwd.as_deref().map(text),
            parent_exe: parent_exe.as_deref().map(text),
            listen: None,
        }
    }

    fn finding(
        &self,
        slot: usize,
        p: &Proc,
        table: &HashMap<i32, Proc>,
        what: String,
        reason: &str,
    ) -> Finding {
        let fields = self.fields(p, table);
        let exe = fields.exe.clone().unwrap_or_else(|| text(&p.comm));
        Finding {
            slot,
            subject: p.exe.clone().unwrap_or_else(|| p.comm.clone()),
            start: p.start,
            summary: format!(
                "{what}: pid {} {exe} (user {})",
                p.pid,
                fields.user.as_deref().unwrap_or("?")
            ),
            fields,
            reasons: vec![reason.to_owned()],
            related: Vec::new(),
        }
    }

    /// What one process shows by itself and by its parents.
    pub fn process(&self, p: &Proc, table: &HashMap<i32, Proc>) -> Vec<Finding> {
        let mut out = Vec::new();
        let exe = p.exe.as_deref().unwrap_or_default();
        let memfd = exe.starts_with(read::MEMFD);
        if p.exe_deleted && !memfd {
            if read::os(exe).exists() {
                out.push(self.finding(
                    STALE,
                    p,
                    table,
                    "runs an executable replaced on disk".into(),
                    "executable replaced since start",
                ));
            } else {
                out.push(self.finding(
                    DELETED,
                    p,
                    table,
                    "runs a deleted executable".into(),
                    "executable deleted from disk",
                ));
            }
        }
        let memfd_reported = memfd && !self.runtime_memfd(p, table);
        let place = self.interest.place(exe);
        if memfd_reported || place.is_some() {
            let reason = place.unwrap_or("runs from memory (memfd)");
            out.push(self.finding(
                WRITABLE,
                p,
                table,
                "program run from a writable place".into(),
                reason,
            ));
        }
        if is_shell(p) {
            let web_user = p.uid.is_some_and(|u| self.web_users.contains_key(&u));
            let found = match self.server_ancestor(p, table) {
                Some(server) => Some((
                    format!("shell or tool started under {server}"),
                    "parent chain reaches the web server",
                )),
                None => web_user.then(|| {
                    (
                        "shell or tool run by the web user".into(),
                        "runs as a web server user",
                    )
                }),
            };
            if let Some((what, reason)) = found {
                let mut f = self.finding(SPAWN, p, table, what, reason);
                // Per parent: another worker spawning is another report.
                f.subject = format!("{} ", p.ppid).into_bytes();
                f.subject.extend(p.exe.as_deref().unwrap_or_default());
                out.push(f);
            }
        }
        let stratum = p.cmdline.iter().any(|a| {
            // Case-blind, without a lowered copy of every argument of every exec.
            a.windows(8).any(|w| w.eq_ignore_ascii_case(b"stratum+"))
                || a.windows(9).any(|w| w.eq_ignore_ascii_case(b"stratum2+"))
        });
        if stratum {
            out.push(self.finding(
                MINER,
                p,
                table,
                "cryptocurrency miner".into(),
                "stratum URL in the command line",
            ));
        } else if has_miner_name(p) {
            out.push(self.finding(
                MINER,
                p,
                table,
                "cryptocurrency miner".into(),
                "a known miner's name",
            ));
        }
        out
    }

    /// A memfd program as a container runtime or init starts one: run by root, from a
    /// memfd sealed immutable, with init or a runtime as its parent. A fileless dropper
    /// fails at least one of these (a web user's memfd is always reported; a root
    /// intruder would have to seal it and be started by init or a runtime).
    fn runtime_memfd(&self, p: &Proc, table: &HashMap<i32, Proc>) -> bool {
        if p.uid != Some(0) || !p.exe_sealed {
            return false;
        }
        if p.ppid <= 1 {
            return true;
        }
        let Some(parent) = ancestor(p.ppid, table) else {
            return false;
        };
        parent.uid == Some(0) && parent.names().any(|n| is_name(n, &MEMFD_PARENTS, true))
    }

    /// The web server process among the ancestors, by name.
    fn server_ancestor(&self, p: &Proc, table: &HashMap<i32, Proc>) -> Option<String> {
        let mut pid = p.ppid;
        for _ in 0..32 {
            if pid <= 1 {
                return None;
            }
            let parent = ancestor(pid, table)?;
            if let Some(name) = parent.names().find(|n| is_name(n, &SERVERS, true)) {
                return Some(text(name));
            }
            pid = parent.ppid;
        }
        None
    }

    /// A full snapshot: each process, the libraries it maps, and CPU use.
    pub fn scan(&mut self, root: &Path, table: &HashMap<i32, Proc>, now_ms: i64) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut cpu = HashMap::with_capacity(self.cpu.len());
        for p in table.values() {
            out.extend(self.process(p, table));
            let libs = read::deleted_libraries(root, p.pid);
            if let Some(lib) = libs.first() {
                let mut f = self.finding(
                    STALE,
                    p,
                    table,
                    format!("still runs {} replaced on disk", text(lib)),
                    "mapped library replaced or deleted since start",
                );
                f.subject = lib.clone();
                f.reasons.extend(
                    libs.iter()
                        .skip(1)
                        .map(|l| format!("also maps {}", text(l))),
                );
                out.push(f);
            }
            if p.uid.is_some_and(|u| self.web_users.contains_key(&u)) {
                let key = (p.pid, p.start);
                let busy_since = match self.cpu.get(&key) {
                    Some((was, at, since)) if now_ms > *at => {
                        let used = (p.cpu.saturating_sub(*was)) as f64 / self.ticks_per_s;
                        let share = used / ((now_ms - at) as f64 / 1000.0);
                        (share >= BUSY_SHARE).then(|| since.unwrap_or(*at))
                    }
                    _ => None,
                };
                if busy_since.is_some_and(|s| now_ms - s >= BUSY_MS) {
                    out.push(self.finding(
                        MINER,
                        p,
                        table,
                        "web user process using a whole core for minutes".into(),
                        "sustained CPU by a web server user",
                    ));
                }
                cpu.insert(key, (p.cpu, now_ms, busy_since));
            }
        }
        self.cpu = cpu;
        out
    }

    /// Listening sockets not in the baseline's known state.
    pub fn listeners(
        &mut self,
        root: &Path,
        pids: &[i32],
        table: &HashMap<i32, Proc>,
    ) -> Vec<Finding> {
        let new: Vec<net::Listener> = net::listeners(&root.join("net"))
            .into_iter()
            .filter(|l| !self.known_listeners.contains(&l.listen))
            .collect();
        let current: HashSet<u64> = new.iter().map(|l| l.inode).collect();
        self.owners.retain(|inode, owner| {
            current.contains(inode) && owner.is_none_or(|pid| table.contains_key(&pid))
        });
        let wanted: Vec<u64> = current
            .iter()
            .filter(|i| !self.owners.contains_key(i))
            .copied()
            .collect();
        let found = net::owners(root, pids, &wanted);
        for inode in wanted {
            self.owners.insert(inode, found.get(&inode).copied());
        }
        new.into_iter()
            .filter_map(|l| {
                let p = table.get(&self.owners.get(&l.inode).copied().flatten()?)?;
                let mut f = self.finding(
                    LISTENER,
                    p,
                    table,
                    format!("new listener {}", l.listen),
                    "not listening when the baseline was made",
                );
                f.subject = l.listen.clone().into_bytes();
                f.fields.listen = Some(l.listen);
                Some(f)
            })
            .collect()
    }
}

/// A parent as the table knows it, or as `/proc` shows it when the table does not.
fn ancestor(pid: i32, table: &HashMap<i32, Proc>) -> Option<Cow<'_, Proc>> {
    match table.get(&pid) {
        Some(p) => Some(Cow::Borrowed(p)),
        None => Proc::read(Path::new("/proc"), pid).map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memfd_proc(uid: u32, ppid: i32, sealed: bool) -> Proc {
        Proc {
            pid: 4000,
            ppid,
            uid: Some(uid),
            exe: Some(b"/memfd:runc_cloned:/proc/self/exe".to_vec()),
            exe_deleted: true,
            exe_sealed: sealed,
            cmdline: vec![b"runc".to_vec(), b"init".to_vec()],
            start: 1,
            ..Proc::default()
        }
    }

    fn writable(judge: &Judge, p: &Proc, table: &HashMap<i32, Proc>) -> bool {
        judge.process(p, table).iter().any(|f| f.slot == WRITABLE)
    }

    #[test]
    fn only_a_runtimes_sealed_root_memfd_is_quiet() {
        let judge = Judge::new(HashMap::new(), Interest::new(Vec::new()), HashSet::new());
        let mut table = HashMap::new();
        let runc = Proc {
            pid: 3999,
            ppid: 1,
            uid: Some(0),
            exe: Some(b"/usr/sbin/runc".to_vec()),
            cmdline: vec![b"runc".to_vec(), b"create".to_vec()],
            ..Proc::default()
        };
        table.insert(runc.pid, runc.clone());
        let shell = Proc {
            pid: 3998,
            exe: Some(b"/usr/bin/bash".to_vec()),
            cmdline: vec![b"bash".to_vec()],
            ..runc
        };
        table.insert(shell.pid, shell);
        assert!(!writable(&judge, &memfd_proc(0, 3999, true), &table));
        assert!(!writable(&judge, &memfd_proc(0, 1, true), &table));
        // Not sealed, not root (a web user's is never quiet), or started by a shell.
        assert!(writable(&judge, &memfd_proc(0, 3999, false), &table));
        assert!(writable(&judge, &memfd_proc(33, 1, true), &table));
        assert!(writable(&judge, &memfd_proc(0, 3998, true), &table));
        // A memfd is no deleted executable.
        assert!(judge
            .process(&memfd_proc(33, 1, false), &table)
            .iter()
            .all(|f| f.slot != DELETED && f.slot != STALE));
    }
}

//! What fim sees on the box when a site goes down, for the `down` event's `reasons`:
//! is a web server running, is anything listening on the port, is a disk full, did the
//! kernel kill something for memory lately. Read from `/proc`, `statvfs` and the
//! kernel log (`/dev/kmsg`, when readable); each missing source is simply not told.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::procs::read::pids;

/// Process names of web servers and their application workers.
const SERVERS: &[&str] = &[
    "nginx", "apache2", "httpd", "caddy", "lighttpd", "haproxy", "traefik", "php-fpm", "uwsgi",
    "gunicorn", "node",
];

/// How far back an OOM kill is told.
const OOM_WINDOW_S: f64 = 15.0 * 60.0;

/// A filesystem with less free than this (bytes, or per cent) is called full.
const FULL_BYTES: u64 = 64 << 20;
const FULL_PERCENT: f64 = 2.0;

pub fn reasons(port: u16, trees: &[PathBuf]) -> Vec<String> {
    let proc_root = Path::new("/proc");
    let mut out = vec![web_servers(proc_root), listening(port)];
    out.extend(full_disks(trees));
    out.extend(oom_kills());
    out
}

fn web_servers(proc_root: &Path) -> String {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for pid in pids(proc_root) {
        let Ok(comm) = std::fs::read(proc_root.join(pid.to_string()).join("comm")) else {
            continue;
        };
        let name = String::from_utf8_lossy(comm.trim_ascii_end()).into_owned();
        // php-fpm8.2, and "php-fpm: pool www" workers
        if SERVERS.iter().any(|s| name.starts_with(s)) {
            *seen.entry(name).or_default() += 1;
        }
    }
    if seen.is_empty() {
        return format!(
            "no web server process running (looked for {})",
            SERVERS.join(", ")
        );
    }
    let list: Vec<String> = seen.iter().map(|(n, c)| format!("{n} ×{c}")).collect();
    format!("running: {}", list.join(", "))
}

fn listening(port: u16) -> String {
    let suffix = format!(":{port}/tcp");
    let here: Vec<String> = crate::procs::current_listeners()
        .into_iter()
        .filter(|l| l.ends_with(&suffix))
        .collect();
    if here.is_empty() {
        format!("nothing listens on TCP port {port} on this host")
    } else {
        format!("listening on this host: {}", here.join(", "))
    }
}

fn full_disks(trees: &[PathBuf]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let places = ["/", "/var", "/var/log", "/tmp"].map(PathBuf::from);
    for path in places.iter().chain(trees) {
        let Ok(st) = rustix::fs::statvfs(path) else {
            continue;
        };
        if st.f_blocks == 0 || !seen.insert(st.f_fsid) {
            continue;
        }
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        let percent = st.f_bavail as f64 * 100.0 / st.f_blocks as f64;
        if free < FULL_BYTES || percent < FULL_PERCENT {
            out.push(format!(
                "disk full: {} has {} free ({percent:.1}%)",
                path.display(),
                humanize(free)
            ));
        }
    }
    out
}

fn humanize(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{b} B"),
    }
}

/// OOM kills in the kernel log of the last 15 minutes.
fn oom_kills() -> Vec<String> {
    let Ok(mut kmsg) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return Vec::new();
    };
    // Kernel log stamps count from boot, as /proc/uptime does (servers do not suspend).
    let Some(now_s) = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut record = vec![0u8; 8192];
    // One record per read; EAGAIN at the end of the buffer, EPIPE past an overwritten one.
    for _ in 0..100_000 {
        let n = match kmsg.read(&mut record) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        };
        let text = String::from_utf8_lossy(&record[..n]);
        if let Some(line) = oom_line(&text, now_s) {
            out.push(line);
        }
    }
    out.dedup();
    out.truncate(5);
    out
}

/// `PRIO,SEQ,USEC,FLAGS;Out of memory: Killed process 123 (php-fpm8.2) ...`
fn oom_line(record: &str, now_s: f64) -> Option<String> {
    let (head, message) = record.split_once(';')?;
    let usec: f64 = head.split(',').nth(2)?.parse().ok()?;
    let rest = message.split_once("Killed process ")?.1;
    let ago = now_s - usec / 1e6;
    if !(0.0..=OOM_WINDOW_S).contains(&ago) {
        return None;
    }
    let pid = rest.split_whitespace().next()?;
    let name = rest.split_once('(')?.1.split_once(')')?.0;
    Some(format!(
        "the kernel OOM-killed {name} (pid {pid}) {} min ago",
        (ago / 60.0).round()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oom_record_is_told_when_recent() {
        let r =
            "3,1234,5000000000,-;Out of memory: Killed process 4242 (php-fpm8.2) total-vm:1kB\n";
        assert_eq!(
            oom_line(r, 5_000.0 + 180.0).as_deref(),
            Some("the kernel OOM-killed php-fpm8.2 (pid 4242) 3 min ago")
        );
        assert_eq!(oom_line(r, 5_000.0 + 3_600.0), None);
        assert_eq!(oom_line("6,1,1,-;eth0: link up", 10.0), None);
    }

    #[test]
    fn the_listener_and_processes_are_told() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening(port).contains(&format!("127.0.0.1:{port}/tcp")));
        drop(l);
        assert!(listening(port).starts_with("nothing listens"));
        assert!(!web_servers(Path::new("/proc")).is_empty());
    }
}

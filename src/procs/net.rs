//! Listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}`, and the processes holding
//! them, found by socket inode in `/proc/PID/fd` (what `ss -lp` does).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A listener as the contract writes it: `"0.0.0.0:4444/tcp"`, `"[::1]:53/udp"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Listener {
    pub listen: String,
    pub inode: u64,
}

/// TCP in state LISTEN; UDP bound and not connected.
pub fn listeners(net: &Path) -> Vec<Listener> {
    let mut out = Vec::new();
    for (file, proto, v6) in [
        ("tcp", "tcp", false),
        ("tcp6", "tcp", true),
        ("udp", "udp", false),
        ("udp6", "udp", true),
    ] {
        let Ok(text) = std::fs::read_to_string(net.join(file)) else {
            continue;
        };
        out.extend(
            text.lines()
                .skip(1)
                .filter_map(|l| parse_line(l, proto, v6)),
        );
    }
    out.sort();
    out.dedup_by(|a, b| a.listen == b.listen);
    out
}

fn parse_line(line: &str, proto: &str, v6: bool) -> Option<Listener> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let (local, remote, state) = (f.get(1)?, f.get(2)?, f.get(3)?);
    let inode: u64 = f.get(9)?.parse().ok()?;
    let listening = match proto {
        "tcp" => *state == "0A",
        _ => remote.chars().all(|c| c == '0' || c == ':'),
    };
    if !listening || inode == 0 {
        return None;
    }
    let (addr, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = if v6 {
        format!("[{}]", ipv6(addr)?)
    } else {
        ipv4(addr)?.to_string()
    };
    Some(Listener {
        listen: format!("{addr}:{port}/{proto}"),
        inode,
    })
}

/// The kernel prints the address as host-order 32-bit words in hex.
fn ipv4(hex: &str) -> Option<Ipv4Addr> {
    let n = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(n.to_ne_bytes()))
}

fn ipv6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for word in 0..4 {
        let n = u32::from_str_radix(&hex[word * 8..word * 8 + 8], 16).ok()?;
        bytes[word * 4..word * 4 + 4].copy_from_slice(&n.to_ne_bytes());
    }
    Some(Ipv6Addr::from(bytes))
}

/// socket inode → pid, for the inodes asked about (the whole fd table is read only when
/// there is something to find).
pub fn owners(proc_root: &Path, pids: &[i32], wanted: &[u64]) -> HashMap<u64, i32> {
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    for &pid in pids {
        let Ok(fds) = std::fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else {
            continue;
        };
        for fd in fds.filter_map(|e| e.ok()) {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.as_os_str().as_bytes();
            let inode = link
                .strip_prefix(b"socket:[")
                .and_then(|r| r.strip_suffix(b"]"))
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok());
            if let Some(inode) = inode.filter(|i| wanted.contains(i)) {
                out.entry(inode).or_insert(pid);
            }
        }
        if out.len() == wanted.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_proc_net() {
        let tcp = "   0: 0100007F:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        let l = parse_line(tcp, "tcp", false).unwrap();
        assert_eq!(
            l,
            Listener {
                listen: "127.0.0.1:4444/tcp".into(),
                inode: 12345
            }
        );
        let established = tcp.replace(" 0A ", " 01 ");
        assert!(parse_line(&established, "tcp", false).is_none());
        let tcp6 = "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1";
        assert_eq!(
            parse_line(tcp6, "tcp", true).unwrap().listen,
            "[::1]:80/tcp"
        );
        let udp_connected = "  1: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 888 2";
        assert!(parse_line(udp_connected, "udp", false).is_none());
        let udp = "  1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 889 2";
        assert_eq!(
            parse_line(udp, "udp", false).unwrap().listen,
            "0.0.0.0:53/udp"
        );
        assert!(parse_line("garbage", "tcp", false).is_none());
    }
}

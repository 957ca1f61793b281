//! Client addresses: IPv4, IPv6 (also bracketed), `::ffff:` mapped normalised to V4, and the
//! `X-Forwarded-For` walk through trusted proxies.

use std::net::IpAddr;

use ipnet::IpNet;
use memchr::memchr;

/// An address as a server logs it: `203.0.113.7`, `2001:db8::1`, `[::1]`, `fe80::1%eth0`.
pub(super) fn ip(b: &[u8]) -> Option<IpAddr> {
    let b = match b {
        [b'[', inner @ .., b']'] => inner,
        _ => b,
    };
    // A zone only means something on the host itself; the address is what detectors count.
    let b = match memchr(b'%', b) {
        Some(zone) => &b[..zone],
        None => b,
    };
    // Cheap test first: an address is at most 45 bytes (IPv4-mapped IPv6 written in full).
    if b.is_empty() || b.len() > 45 {
        return None;
    }
    let parsed: IpAddr = std::str::from_utf8(b).ok()?.parse().ok()?;
    Some(parsed.to_canonical())
}

/// One `X-Forwarded-For` entry, which some proxies write with a port.
fn hop(entry: &[u8]) -> Option<IpAddr> {
    let entry = entry.trim_ascii();
    if let [b'[', rest @ ..] = entry {
        let close = memchr(b']', rest)?;
        return ip(&rest[..close]);
    }
    let colons = entry.iter().filter(|&&c| c == b':').count();
    match colons {
        1 => ip(&entry[..memchr(b':', entry)?]),
        _ => ip(entry),
    }
}

/// The client behind `peer`: the right-most `X-Forwarded-For` address that is not itself a
/// trusted proxy, believed only when `peer` is trusted. The walk stops at an entry that is not an
/// address (`-`, `unknown`, junk) and keeps the last hop it could believe; when every hop is
/// trusted, the left-most is the client.
pub(super) fn forwarded_client(peer: IpAddr, xff: &[u8], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|net| net.contains(a));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in xff.rsplit(|&c| c == b',') {
        let Some(addr) = hop(entry) else { break };
        client = addr;
        if !is_trusted(&addr) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_in_every_spelling() {
        assert_eq!(ip(b"203.0.113.7"), Some(a("203.0.113.7")));
        assert_eq!(ip(b"2001:db8::1"), Some(a("2001:db8::1")));
        assert_eq!(ip(b"[::1]"), Some(a("::1")));
        assert_eq!(ip(b"::ffff:198.51.100.4"), Some(a("198.51.100.4")));
        assert_eq!(ip(b"fe80::1%eth0"), Some(a("fe80::1")));
        assert_eq!(ip(b"example.org"), None);
        assert_eq!(ip(b"1.2.3.4.5"), None);
        assert_eq!(ip(b"\xff\xfe"), None);
    }

    #[test]
    fn forwarded_for_is_believed_only_through_trusted_hops() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let xff = b"198.51.100.9, 203.0.113.7, 10.1.1.1";
        // An untrusted peer may say anything: it is the client.
        assert_eq!(
            forwarded_client(a("192.0.2.1"), xff, &trusted),
            a("192.0.2.1")
        );
        // One trusted hop (the peer), then the proxy's own entry 10.1.1.1, then the client.
        assert_eq!(
            forwarded_client(a("10.0.0.1"), xff, &trusted),
            a("203.0.113.7")
        );
        // No trusted proxy at all.
        assert_eq!(forwarded_client(a("10.0.0.1"), xff, &[]), a("10.0.0.1"));
        // Every hop trusted: the left-most.
        assert_eq!(
            forwarded_client(a("10.0.0.1"), b"10.2.2.2, 10.3.3.3", &trusted),
            a("10.2.2.2")
        );
        // Junk stops the walk at the last believable hop.
        assert_eq!(
            forwarded_client(a("10.0.0.1"), b"-", &trusted),
            a("10.0.0.1")
        );
        assert_eq!(
            forwarded_client(a("fd00::1"), b"evil, 10.9.9.9", &trusted),
            a("10.9.9.9")
        );
        // Ports and brackets as some proxies write them; mapped addresses normalised.
        assert_eq!(
            forwarded_client(a("10.0.0.1"), b"[2001:db8::7]:4711", &trusted),
            a("2001:db8::7")
        );
        assert_eq!(
            forwarded_client(a("10.0.0.1"), b"198.51.100.9:80", &trusted),
            a("198.51.100.9")
        );
        assert_eq!(
            forwarded_client(a("10.0.0.1"), b"::ffff:192.0.2.8", &trusted),
            a("192.0.2.8")
        );
    }
}

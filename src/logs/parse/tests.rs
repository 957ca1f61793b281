//! The parser as the follower and detectors use it: line endings, proxies, hostile input.

use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

const XFF_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;

fn xff_line(peer: &str, xff: &str) -> Vec<u8> {
    format!(r#"{peer} - - [01/Dec/2026:20:22:32 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "{xff}""#)
        .into_bytes()
}

#[test]
fn forwarded_for_with_zero_one_and_two_trusted_hops() {
    let format = || LogFormat::from_policy(XFF_FORMAT).unwrap();
    let client = |trusted: &[&str], peer: &str, xff: &str| {
        let parser = Parser::new(format(), nets(trusted));
        parser.parse(&xff_line(peer, xff)).unwrap().client
    };
    // No trusted proxy: the peer, whatever the header says.
    assert_eq!(client(&[], "10.0.0.1", "203.0.113.9"), ip("10.0.0.1"));
    // One trusted hop: the address the proxy saw.
    assert_eq!(
        client(&["10.0.0.0/8"], "10.0.0.1", "198.51.100.1, 203.0.113.9"),
        ip("203.0.113.9")
    );
    // Two trusted hops (a CDN in front of a load balancer), IPv6 among them.
    let two = ["10.0.0.0/8", "2001:db8:cd::/48"];
    assert_eq!(
        client(
            &two,
            "10.0.0.1",
            "198.51.100.1, 203.0.113.9, 2001:db8:cd::7"
        ),
        ip("203.0.113.9")
    );
    // A peer outside the trusted list is not believed.
    assert_eq!(client(&two, "192.0.2.1", "203.0.113.9"), ip("192.0.2.1"));
    // nginx writes "-" for a missing header.
    assert_eq!(client(&two, "10.0.0.1", "-"), ip("10.0.0.1"));
}

#[test]
fn formats_without_forwarded_for_ignore_proxies() {
    let parser = Parser::new(LogFormat::Combined, nets(&["10.0.0.0/8"]));
    let line = xff_line("10.0.0.1", "203.0.113.9");
    let r = parser.parse(&line).unwrap();
    assert_eq!(r.client, ip("10.0.0.1"));
    let json = Parser::new(LogFormat::Json, nets(&["10.0.0.0/8"]));
    let line = br#"{"remote_addr":"10.0.0.1","msec":"1","status":200,"http_x_forwarded_for":"203.0.113.9"}"#;
    assert_eq!(json.parse(line).unwrap().client, ip("203.0.113.9"));
}

#[test]
fn line_endings_and_blank_lines() {
    let parser = Parser::new(LogFormat::Common, vec![]);
    let line = b"[::1] - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1\r\n";
    assert_eq!(parser.parse(line).unwrap().client, ip("::1"));
    assert_eq!(parser.parse(b"\n").unwrap_err(), ParseError::Empty);
    assert_eq!(parser.parse(b"   \r\n").unwrap_err(), ParseError::Empty);
}

fn every_format() -> Vec<Parser> {
    let mut formats = vec![
        LogFormat::Combined,
        LogFormat::Common,
        LogFormat::VhostCombined,
        LogFormat::Json,
    ];
    for t in [
        XFF_FORMAT,
        r#"escape=json {"t":"$time_iso8601","a":"$remote_addr","r":"$request","s":$status}"#,
        r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D %v"#,
    ] {
        formats.push(LogFormat::from_policy(t).unwrap());
    }
    formats
        .into_iter()
        .map(|f| Parser::new(f, nets(&["0.0.0.0/0", "::/0"])))
        .collect()
}

#[test]
fn a_megabyte_line_parses_or_fails_quickly() {
    let big = "A".repeat(1 << 20);
    let line = format!(
        r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /{big} HTTP/1.1" 414 0 "-" "{big}" "-""#
    );
    let parser = Parser::new(LogFormat::Combined, vec![]);
    let r = parser.parse(line.as_bytes()).unwrap();
    assert_eq!((r.target.len(), r.status), (big.len() + 1, 414));
    let started = std::time::Instant::now();
    for parser in every_format() {
        let _ = parser.parse(line.as_bytes());
        let _ = parser.parse(big.as_bytes());
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn non_utf8_is_kept_lossily() {
    let parser = Parser::new(LogFormat::Combined, vec![]);
    let line = b"192.0.2.1 - \xff\xfe [10/Oct/2000:13:55:36 -0700] \"GET /\xc3\x28 HTTP/1.1\" 200 1 \"-\" \"\x80bot\"";
    let r = parser.parse(line).unwrap();
    assert_eq!(r.user.as_deref(), Some("\u{FFFD}\u{FFFD}"));
    assert_eq!(r.target, "/\u{FFFD}(");
    assert_eq!(r.user_agent.as_deref(), Some("\u{FFFD}bot"));
}

#[test]
fn garbage_is_an_error_for_every_format() {
    for parser in every_format() {
        for junk in [
            &b"garbage"[..],
            b"\x00\x01\x02",
            b"{",
            b"\"",
            b"192.0.2.1",
            b"192.0.2.1 - - [",
            b"\xff\xff\xff\xff",
            b"\\",
        ] {
            assert!(parser.parse(junk).is_err(), "{parser:?} took {junk:?}");
        }
    }
}

#[test]
fn errors_say_why_in_a_few_words() {
    assert_eq!(
        ParseError::Truncated(Field::Referer).to_string(),
        "line ends before the referer"
    );
    assert_eq!(ParseError::Bad(Field::Time).to_string(), "bad time stamp");
    assert_eq!(std::mem::size_of::<ParseError>(), 2);
}

//! Property-based fuzzing of the access-log parsers: log lines are written by anyone who can
//! send a request. No format may panic on any bytes; every failure is a short one-line error;
//! and a line built from known parts parses back into those parts. Run longer with e.g.
//! `PROPTEST_CASES=100000 cargo test --release --test parse_fuzz`.

use std::net::IpAddr;

use proptest::prelude::*;

use fim::logs::parse::{LogFormat, Parser};

const TEMPLATES: [&str; 4] = [
    r#"log_format main '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"';"#,
    r#"escape=json {"t":"$time_iso8601","a":"$remote_addr","r":"$request","s":$status,"h":"$host"}"#,
    r#"LogFormat "%v %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D" x"#,
    "escape=none $msec $remote_addr $request_method $uri$is_args$args $status",
];

const LINES: [&[u8]; 4] = [
    br#"203.0.113.7 - - [01/Dec/2026:20:22:32 +0100] "GET /wp-login.php?x=%2F HTTP/1.1" 200 4523 "https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)" "10.0.0.1""#,
    br#"{"time_iso8601":"2026-12-01T20:22:32+01:00","remote_addr":"2001:db8::5","request":"GET /?a=\"b\" HTTP/2.0","status":"200","body_bytes_sent":612,"host":"h"}"#,
    br#"www.example.org:443 192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /.env HTTP/1.1" 404 437 "-" "Go-http-client/1.1""#,
    br#"blog 198.51.100.3 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00" 400 - "-" "-" 1532"#,
];

fn parsers() -> Vec<Parser> {
    let mut formats = vec![
        LogFormat::Combined,
        LogFormat::Common,
        LogFormat::VhostCombined,
        LogFormat::Json,
    ];
    formats.extend(TEMPLATES.iter().map(|t| LogFormat::from_policy(t).unwrap()));
    let trusted = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    formats
        .into_iter()
        .map(|f| Parser::new(f, trusted.clone()))
        .collect()
}

fn parse_all(parsers: &[Parser], line: &[u8]) {
    for parser in parsers {
        if let Err(e) = parser.parse(line) {
            let message = e.to_string();
            assert!(!message.is_empty() && message.len() < 80, "{message:?}");
            assert!(!message.contains('\n'));
        }
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(2048), ..ProptestConfig::default() })]

    #[test]
    fn no_format_panics_on_arbitrary_bytes(line in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&parsers(), &line);
    }

    #[test]
    fn no_format_panics_on_mutated_real_lines(
        which in 0..LINES.len(),
        edits in prop::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 1..12),
    ) {
        let mut line = LINES[which].to_vec();
        for (at, op, byte) in edits {
            let at = at % (line.len() + 1);
            match op {
                0 if at < line.len() => line[at] = byte,
                1 => line.insert(at, byte),
                _ if at < line.len() => { line.remove(at); }
                _ => line.truncate(at),
            }
        }
        parse_all(&parsers(), &line);
    }

    #[test]
    fn format_strings_never_panic(text in "[ -~]{0,120}", line in "[ -~]{0,200}") {
        if let Ok(format) = LogFormat::from_policy(&text) {
            let _ = Parser::new(format, vec![]).parse(line.as_bytes());
        }
    }

    #[test]
    fn combined_lines_parse_back_into_their_parts(
        v4 in any::<[u8; 4]>(),
        v6 in any::<[u16; 8]>(),
        use_v6 in any::<bool>(),
        method in "[A-Z]{3,7}",
        path in "/[!-~]{0,60}",
        status in 100u16..600,
        bytes in any::<u32>(),
        agent in "[ !#-\\[\\]-~]{1,80}",
        secs in 0i64..4_000_000_000,
    ) {
        let client: IpAddr = if use_v6 { v6.into() } else { v4.into() };
        let client = client.to_canonical();
        let ts = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        // As nginx writes them: `"` and `\` escaped as `\x22`, `\x5C`.
        let logged = path.replace('\\', r"\x5C").replace('"', r"\x22");
        let line = format!(
            r#"{client} - - [{}] "{method} {logged} HTTP/1.1" {status} {bytes} "-" "{agent}""#,
            ts.format("%d/%b/%Y:%H:%M:%S +0000"),
        );
        let r = Parser::new(LogFormat::Combined, vec![]).parse(line.as_bytes()).unwrap();
        prop_assert_eq!(r.client, client);
        prop_assert_eq!(r.ts, ts);
        prop_assert_eq!(&*r.method, method.as_str());
        prop_assert_eq!(&*r.target, path.as_str());
        prop_assert_eq!((r.status, r.bytes), (status, u64::from(bytes)));
        prop_assert_eq!(r.user_agent.as_deref(), (agent != "-").then_some(agent.as_str()));
    }
}

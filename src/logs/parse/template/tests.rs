use super::*;
use crate::logs::parse::LogFormat;
use chrono::{DateTime, Utc};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn template(text: &str) -> Template {
    match LogFormat::from_policy(text).unwrap() {
        LogFormat::Template(t) => t,
        other => panic!("not a template: {other:?}"),
    }
}

#[test]
fn nginx_main_pasted_with_the_directive() {
    let t = template(
        r#"log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';"#,
    );
    let line = br#"10.0.0.2 - bob [01/Dec/2026:20:22:32 +0000] "GET /a\x22b HTTP/1.1" 403 12 "-" "Wget/1.21" "203.0.113.50, 10.0.0.9""#;
    let (r, xff) = t.parse(line).unwrap();
    assert_eq!(r.ts, at("2026-12-01T20:22:32Z"));
    assert_eq!(r.user.as_deref(), Some("bob"));
    assert_eq!(r.target, "/a\"b");
    assert_eq!((r.status, r.bytes), (403, 12));
    assert_eq!(r.user_agent.as_deref(), Some("Wget/1.21"));
    assert_eq!(xff.as_deref(), Some(&b"203.0.113.50, 10.0.0.9"[..]));
}

#[test]
fn nginx_escape_json_template() {
    let t = template(
        r#"log_format json_combined escape=json '{"time":"$time_iso8601","ip":"$remote_addr",'
            '"req":"$request","st":$status,"sz":$body_bytes_sent,"ref":"$http_referer",'
            '"ua":"$http_user_agent","host":"$host","rt":$request_time}';"#,
    );
    let line = br#"{"time":"2026-12-01T21:22:32+01:00","ip":"2001:db8::1","req":"GET /?q=\"<script>\"\u0001 HTTP/1.1","st":200,"sz":5,"ref":"","ua":"Mozilla/5.0","host":"example.org","rt":0.001}"#;
    let (r, xff) = t.parse(line).unwrap();
    assert_eq!(r.ts, at("2026-12-01T20:22:32Z"));
    assert_eq!(r.target, "/?q=\"<script>\"\u{1}");
    assert_eq!((r.status, r.bytes), (200, 5));
    assert_eq!(r.referer, None);
    assert_eq!(r.vhost.as_deref(), Some("example.org"));
    assert_eq!(xff, None);
}

#[test]
fn nginx_bare_strings_uri_args_and_msec() {
    let t = template(r#"escape=none $msec $remote_addr $request_method $uri$is_args$args $status"#);
    let (r, _) = t
        .parse(b"1700000000.500 192.0.2.9 GET /search?q=a\\b 200")
        .unwrap();
    assert_eq!(r.ts, at("2023-11-14T22:13:20.500Z"));
    assert_eq!(
        (r.method.as_ref(), r.target.as_ref()),
        ("GET", "/search?q=a\\b")
    );
    assert_eq!(r.protocol, "");
    let t = template("$remote_addr [$time_local] ${request_method} $uri?$args $status");
    let (r, _) = t
        .parse(b"192.0.2.9 [10/Oct/2000:13:55:36 -0700] GET /x?a=1 200")
        .unwrap();
    assert_eq!(r.target, "/x?a=1");
}

#[test]
fn apache_logformat_with_vhost_and_duration() {
    let t = template(
        r#"LogFormat "%v %a %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D" timed"#,
    );
    let line = br#"blog.example.org 198.51.100.3 - - [10/Oct/2000:13:55:36 -0700] "GET /wp-login.php HTTP/1.1" 200 - "-" "Mozilla/5.0 \"x\"" 1532"#;
    let (r, _) = t.parse(line).unwrap();
    assert_eq!(r.vhost.as_deref(), Some("blog.example.org"));
    assert_eq!(
        r.client,
        "198.51.100.3".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!((r.status, r.bytes), (200, 0));
    assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0 \"x\""));
}

#[test]
fn apache_strings_without_the_directive() {
    for text in [
        r#"%h %l %u %t \"%r\" %>s %O \"%{X-Forwarded-For}i\""#,
        r#"%h %l %u %t "%r" %>s %O "%{X-Forwarded-For}i""#,
        r#""%h %l %u %t \"%r\" %>s %O \"%{X-Forwarded-For}i\"" proxied"#,
    ] {
        let t = template(text);
        let line =
            br#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 999 "192.0.2.44""#;
        let (r, xff) = t.parse(line).unwrap();
        assert_eq!(r.bytes, 999, "{text}");
        assert_eq!(xff.as_deref(), Some(&b"192.0.2.44"[..]), "{text}");
    }
    let t = template("%{msec}t %a %m %U%q %H %s");
    let split = t.parse(b"1700000000123 192.0.2.1 GET /a ?b=c HTTP/1.1 200");
    assert_eq!(split.unwrap_err(), ParseError::Bad(Field::Status));
    let (r, _) = t
        .parse(b"1700000000123 192.0.2.1 GET /a?b=c HTTP/1.1 200")
        .unwrap();
    assert_eq!(r.ts, at("2023-11-14T22:13:20.123Z"));
    assert_eq!(
        (r.target.as_ref(), r.protocol.as_ref()),
        ("/a?b=c", "HTTP/1.1")
    );
}

#[test]
fn formats_that_cannot_work_are_refused() {
    let err = |t: &str| LogFormat::from_policy(t).unwrap_err();
    assert_eq!(err("  "), FormatError::Empty);
    assert!(matches!(err("apache please"), FormatError::Unknown(_)));
    assert!(
        matches!(err("$time_local $status"), FormatError::Missing(m) if m.starts_with("client"))
    );
    assert!(matches!(err("%h %s"), FormatError::Missing(m) if m.starts_with("time")));
    assert!(matches!(err("%h %t"), FormatError::Missing(m) if m.starts_with("status")));
    assert_eq!(
        err("$remote_addr$status $msec"),
        FormatError::Adjacent("$remote_addr".into(), "$status".into())
    );
    assert_eq!(err("%h %t %>s %Z"), FormatError::Directive("%Z".into()));
    assert_eq!(
        err("%h %{%Y-%m-%d %H:%M:%S}t %s"),
        FormatError::TimeFormat("%Y-%m-%d %H:%M:%S".into())
    );
    assert_eq!(
        err("escape=xml $remote_addr"),
        FormatError::Escape("xml".into())
    );
    assert!(matches!(
        err("log_format main '$remote_addr"),
        FormatError::Unterminated(_)
    ));
    assert!(matches!(err("%h %{Referer"), FormatError::Unterminated(_)));
    // Every message says what is wrong in words.
    assert!(err("%h %t %>s %Z").to_string().contains("%Z"));
}

#[test]
fn lines_that_do_not_fit_say_where() {
    let t = template(r#"$remote_addr [$time_local] "$request" $status"#);
    assert_eq!(
        t.parse(b"192.0.2.1 [10/Oct/2000:13:55").unwrap_err(),
        ParseError::Truncated(Field::Time)
    );
    assert_eq!(
        t.parse(b"192.0.2.1 (10/Oct/2000:13:55:36 -0700)")
            .unwrap_err(),
        ParseError::Unended(Field::Client)
    );
    assert_eq!(
        t.parse(b"192.0.2.1 [10/Oct/2000:13:55:36 -0700) x")
            .unwrap_err(),
        ParseError::Mismatch(Field::Request)
    );
    assert_eq!(
        t.parse(br#"192.0.2.1 [10/Oct/2000:13:55:36 -0700] "GET /"#)
            .unwrap_err(),
        ParseError::Truncated(Field::Request)
    );
    assert_eq!(
        t.parse(br#"192.0.2.1 [10/Oct/2000:13:55:36 -0700] "GET /" x"#)
            .unwrap_err(),
        ParseError::Bad(Field::Status)
    );
    assert_eq!(
        t.parse(br#"nohost [10/Oct/2000:13:55:36 -0700] "GET /" 200"#)
            .unwrap_err(),
        ParseError::Bad(Field::Client)
    );
}

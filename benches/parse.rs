//! Access-log parsing per format, over realistic lines (browsers, crawlers, scanners, a TLS
//! probe). Criterion's throughput is lines per second; the `fim analyze` target (≥ 280,000
//! lines/s with every detector on) leaves parsing well under a microsecond a line.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use fim::logs::parse::{LogFormat, Parser};

const COMBINED: [&str; 8] = [
    r#"203.0.113.7 - - [01/Dec/2026:20:22:32 +0100] "GET /wp-content/themes/twentytwentyfour/style.css?ver=6.4.2 HTTP/1.1" 200 4523 "https://example.org/blog/hello-world/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36""#,
    r#"66.249.66.1 - - [01/Dec/2026:20:22:33 +0100] "GET /blog/page/2/ HTTP/1.1" 200 18211 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)""#,
    r#"2001:db8:4006:80b::200e - - [01/Dec/2026:20:22:33 +0100] "GET /.env HTTP/1.1" 404 162 "-" "Mozilla/5.0 (l9explore/1.2.2)""#,
    r#"198.51.100.23 - - [01/Dec/2026:20:22:34 +0100] "POST /wp-login.php HTTP/1.1" 200 3934 "https://example.org/wp-login.php" "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0""#,
    r#"192.0.2.44 - admin [01/Dec/2026:20:22:35 +0100] "GET /wp-admin/admin-ajax.php?action=heartbeat HTTP/2.0" 200 47 "https://example.org/wp-admin/post.php?post=12&action=edit" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15""#,
    r#"45.148.10.5 - - [01/Dec/2026:20:22:35 +0100] "GET /index.php?s=/Index/\x5Cthink\x5Capp/invokefunction&function=call_user_func_array HTTP/1.1" 404 162 "-" "Mozilla/5.0 zgrab/0.x""#,
    r#"185.224.128.17 - - [01/Dec/2026:20:22:36 +0100] "\x16\x03\x01\x00\xF7\x01\x00\x00\xF3\x03\x03" 400 157 "-" "-""#,
    r#"::ffff:192.0.2.9 - - [01/Dec/2026:20:22:36 +0100] "HEAD / HTTP/1.1" 200 0 "-" "Uptime-Kuma/1.23.11""#,
];

/// The same request as nginx's `escape=json` template below writes it.
fn json_line(line: &str) -> String {
    let r = Parser::new(LogFormat::Combined, vec![])
        .parse(line.as_bytes())
        .unwrap();
    let s = |t: &str| serde_json::to_string(t).unwrap();
    format!(
        r#"{{"time_iso8601":{},"remote_addr":"{}","request":{},"status":"{}","body_bytes_sent":{},"http_referer":{},"http_user_agent":{},"http_x_forwarded_for":"","host":"example.org","request_time":"0.004"}}"#,
        s(&r.ts.to_rfc3339()),
        r.client,
        s(&format!("{} {} {}", r.method, r.target, r.protocol)),
        r.status,
        r.bytes,
        s(r.referer.as_deref().unwrap_or("")),
        s(r.user_agent.as_deref().unwrap_or("")),
    )
}

fn bench(c: &mut Criterion, name: &str, format: LogFormat, lines: &[String]) {
    let parser = Parser::new(format, vec!["10.0.0.0/8".parse().unwrap()]);
    for line in lines {
        parser.parse(line.as_bytes()).unwrap();
    }
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for line in lines {
                black_box(parser.parse(black_box(line.as_bytes())).ok());
            }
        })
    });
    group.finish();
}

fn formats(c: &mut Criterion) {
    let combined: Vec<String> = COMBINED.iter().map(|l| l.to_string()).collect();
    bench(c, "combined", LogFormat::Combined, &combined);

    let json: Vec<String> = COMBINED.iter().map(|l| json_line(l)).collect();
    bench(c, "json", LogFormat::Json, &json);

    let main = LogFormat::from_policy(
        r#"log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                          '$status $body_bytes_sent "$http_referer" '
                          '"$http_user_agent" "$http_x_forwarded_for" rt=$request_time';"#,
    )
    .unwrap();
    let with_xff: Vec<String> = COMBINED
        .iter()
        .map(|l| {
            format!(r#"{l} "203.0.113.50, 10.0.0.9" rt=0.004"#).replacen(
                "203.0.113.7",
                "10.0.0.2",
                1,
            )
        })
        .collect();
    bench(c, "template_nginx_main", main, &with_xff);

    let apache = LogFormat::from_policy(
        r#"LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined"#,
    )
    .unwrap();
    bench(c, "template_apache_combined", apache, &combined);

    let escape_json = LogFormat::from_policy(
        r#"log_format j escape=json '{"time_iso8601":"$time_iso8601","remote_addr":"$remote_addr","request":"$request","status":"$status","body_bytes_sent":$body_bytes_sent,"http_referer":"$http_referer","http_user_agent":"$http_user_agent","http_x_forwarded_for":"$http_x_forwarded_for","host":"$host","request_time":"$request_time"}';"#,
    )
    .unwrap();
    bench(c, "template_escape_json", escape_json, &json);
}

criterion_group!(benches, formats);
criterion_main!(benches);

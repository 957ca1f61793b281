//! The site nginx serves and its benign visitors: a person browsing (IPv4 and IPv6), a
//! polite crawler, a monitoring check, a user who mistypes a password. None of it may be
//! reported. Each visitor is in a /24 of its own, away from the attackers' 127.0.0.0/24.

use std::path::Path;
use std::time::Duration;

use super::tools::{curl, produced, run, tool_dir};
use super::{Nginx, BASIC_PASSWORD};

pub const BROWSER: &str = "127.0.1.1";
pub const BROWSER6: &str = "::1";
pub const CRAWLER: &str = "127.0.2.1";
pub const MONITOR: &str = "127.0.3.1";
pub const LOGIN_USER: &str = "127.0.4.1";

pub const BROWSER_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
pub const GOOGLEBOT_UA: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
pub const MONITOR_UA: &str = "check_http/v2.3.3 (monitoring-plugins 2.3.3)";

/// A small site of 20 linked pages, each with its stylesheet, script and images, and a
/// robots.txt; no favicon (browsers ask for it and get a 404, as on many real sites).
pub fn write_site(docroot: &Path) -> Vec<String> {
    for dir in ["css", "js", "img"] {
        std::fs::create_dir_all(docroot.join(dir)).unwrap();
    }
    std::fs::write(docroot.join("css/site.css"), "body { font: 16px serif }\n").unwrap();
    std::fs::write(docroot.join("js/site.js"), "console.log('ready');\n").unwrap();
    std::fs::write(docroot.join("img/logo.png"), b"\x89PNG\r\n\x1a\nlogo").unwrap();
    std::fs::write(docroot.join("robots.txt"), "User-agent: *\nAllow: /\n").unwrap();
    let pages: Vec<String> = (0..20)
        .map(|i| {
            if i == 0 {
                "/index.html".to_owned()
            } else {
                format!("/page{i}.html")
            }
        })
        .collect();
    for (i, page) in pages.iter().enumerate() {
        std::fs::write(
            docroot.join(format!("img/photo{i}.jpg")),
            b"\xff\xd8\xffphoto",
        )
        .unwrap();
        let next = &pages[(i + 1) % pages.len()];
        let prev = &pages[(i + pages.len() - 1) % pages.len()];
        std::fs::write(
            docroot.join(&page[1..]),
            format!(
                "<html><head><link rel=stylesheet href=/css/site.css><script src=/js/site.js></script></head>\n\
                 <body><img src=/img/logo.png><img src=/img/photo{i}.jpg>\n\
                 <a href={prev}>previous</a> <a href={next}>next</a> <a href=/index.html>home</a></body></html>\n"
            ),
        )
        .unwrap();
    }
    pages
}

/// A person reading a few pages: each page with its stylesheet, script and images, the
/// favicon the browser asks for (404), over IPv4 and IPv6.
pub fn browse(nginx: &Nginx, client: &str, pages: &[String]) {
    for (i, page) in pages.iter().take(6).enumerate() {
        let photo = format!("/img/photo{i}.jpg");
        let referer = if client == "::1" {
            nginx.url6(page)
        } else {
            nginx.url(page)
        };
        curl(
            nginx,
            client,
            BROWSER_UA,
            &[
                page,
                "/css/site.css",
                "/js/site.js",
                "/img/logo.png",
                &photo,
                "/favicon.ico",
            ],
            &["-e", &referer],
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A polite crawler: wget recursive over the whole site, with Googlebot's user agent,
/// reading robots.txt first.
pub fn crawl(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "wget");
    let url = nginx.url("/index.html");
    run(
        &dir,
        60,
        "wget",
        &[
            "--recursive",
            "--level=inf",
            "--page-requisites",
            "--delete-after",
            "-q",
            "-e",
            "robots=on",
            "--wait=0.05",
            "-U",
            GOOGLEBOT_UA,
            "--bind-address",
            CRAWLER,
            &url,
        ],
    );
    let lines = produced(nginx, CRAWLER, "wget", 20);
    let pages = lines.iter().filter(|l| l.contains(".html HTTP/")).count();
    assert!(pages >= 20, "the crawler saw {pages} pages: {lines:#?}");
    lines
}

/// A monitoring check of the home page every second, `times` times.
pub fn monitor(nginx: &Nginx, times: usize) {
    for _ in 0..times {
        curl(nginx, MONITOR, MONITOR_UA, &["/"], &[]);
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A user who mistypes the password twice, then logs in: on WordPress (200, 200, 302,
/// then the dashboard) and on the basic-auth area (401, 401, 200).
pub fn login_user(nginx: &Nginx) {
    curl(nginx, LOGIN_USER, BROWSER_UA, &["/wp-login.php"], &[]);
    for (body, ok) in [
        ("log=alice&pwd=wonderlnd", false),
        ("log=alice&pwd=Wonderland", false),
        ("log=alice&pwd=wonderland", true),
    ] {
        let mut extra = vec!["--data", body];
        if ok {
            extra.extend(["-H", "X-Test-Login: ok"]);
        }
        let code = curl(nginx, LOGIN_USER, BROWSER_UA, &["/wp-login.php"], &extra);
        assert_eq!(code, [if ok { 302 } else { 200 }]);
        std::thread::sleep(Duration::from_millis(500));
    }
    curl(nginx, LOGIN_USER, BROWSER_UA, &["/wp-admin/"], &[]);
    for (password, expected) in [
        ("wonderlnd", 401),
        ("Wonderland", 401),
        (BASIC_PASSWORD, 200),
    ] {
        let user = format!("alice:{password}");
        let code = curl(
            nginx,
            LOGIN_USER,
            BROWSER_UA,
            &["/private/"],
            &["-u", &user],
        );
        assert_eq!(code, [expected]);
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// All the benign traffic at once, as a real server sees it: the monitor runs while the
/// others browse, crawl and log in.
pub fn benign_traffic(nginx: &Nginx, pages: &[String]) {
    std::thread::scope(|s| {
        s.spawn(|| monitor(nginx, 6));
        s.spawn(|| browse(nginx, BROWSER, pages));
        s.spawn(|| browse(nginx, BROWSER6, pages));
        s.spawn(|| crawl(nginx));
        s.spawn(|| login_user(nginx));
    });
}

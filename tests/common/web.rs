//! A real nginx on loopback for the access-log tests, the site it serves, and checks of
//! the web detections fim prints. The attack tools and the benign traffic are in
//! `tools`.

pub mod tools;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const NGINX: &str = "/usr/sbin/nginx";

/// The password of the basic-auth user `alice` on `/private/`.
pub const BASIC_PASSWORD: &str = "wonderland";

/// Are the programs a test needs installed? Missing, the test is skipped with one line,
/// unless CI asks for them with FIM_REQUIRE_WEB_TOOLS=1.
pub fn have(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("FIM_REQUIRE_WEB_TOOLS").is_none(),
        "required but missing: {}",
        missing.join(", ")
    );
    eprintln!("skipped: not installed: {}", missing.join(", "));
    false
}

fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).exists().then(|| program.into());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// How nginx writes its access log.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LogFormat {
    Combined,
    /// `log_format fimjson escape=json '{...}'`, keyed by nginx variable names.
    Json,
}

/// The JSON template, as an operator would paste it into `[[log]] format`.
pub const JSON_LOG_FORMAT: &str = concat!(
    r#"{"remote_addr":"$remote_addr","time_iso8601":"$time_iso8601","request":"$request","#,
    r#""status":$status,"body_bytes_sent":$body_bytes_sent,"http_referer":"$http_referer","#,
    r#""http_user_agent":"$http_user_agent","http_x_forwarded_for":"$http_x_forwarded_for","host":"$host"}"#
);

/// A free port on both 127.0.0.1 and [::1] (bound and released).
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if TcpListener::bind(("::1", port)).is_ok() {
            return port;
        }
    }
}

/// nginx in the foreground (`daemon off`), everything it writes inside `dir`; stopped on
/// Drop. It stands in for a WordPress site:
/// - `/wp-login.php` answers a POST with 200 (a failed login, as WordPress does), or 302
///   when the request carries `X-Test-Login: ok` (the password check is WordPress's;
///   that header is not logged, so the line is the one WordPress would give);
/// - `/xmlrpc.php` answers 200 with a fault, as WordPress does for a wrong password;
/// - `/wp-content/uploads/` accepts WebDAV PUT and DELETE: a PUT really creates the file;
/// - `/broken` answers 500; `/item?id=1` is a page for sqlmap; `/wp-admin/` a dashboard;
/// - `/private/` asks for basic auth (`alice`, [`BASIC_PASSWORD`]).
///
/// Tools that cannot bind a source address send `X-Test-Client: ADDR` from 127.0.0.1;
/// nginx's realip module logs ADDR as `$remote_addr`, so each tool has its own client.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub docroot: PathBuf,
    pub log: PathBuf,
    pub pid_file: PathBuf,
}

impl Nginx {
    pub fn start(dir: &Path, docroot: &Path, format: LogFormat) -> Nginx {
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::create_dir_all(dir.join("private")).unwrap();
        std::fs::write(dir.join("private/index.html"), "<p>private area</p>\n").unwrap();
        let hash = Command::new("openssl")
            .args(["passwd", "-apr1", BASIC_PASSWORD])
            .output()
            .unwrap();
        assert!(hash.status.success(), "openssl passwd failed");
        std::fs::write(
            dir.join("htpasswd"),
            format!("alice:{}", String::from_utf8(hash.stdout).unwrap()),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("access.log");
        let pid_file = dir.join("nginx.pid");
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, docroot, &log, &pid_file, port, format)).unwrap();
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut nginx = Nginx {
            child,
            port,
            dir,
            docroot: docroot.to_owned(),
            log,
            pid_file,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpStream::connect(("::1", port)).is_err()
        {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                panic!(
                    "nginx exited ({status}): {}",
                    std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The probe connections above are logged by nobody (no request), but wait for
        // the log file to exist so tests can read it at once.
        nginx.settle();
        nginx
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn url6(&self, path: &str) -> String {
        format!("http://[::1]:{}{path}", self.port)
    }

    /// nginx writes a line once the response is sent: wait until the log stops growing.
    pub fn settle(&self) {
        let size = || std::fs::metadata(&self.log).map(|m| m.len()).ok();
        let mut last = size();
        let mut stable_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stable_since.elapsed() < Duration::from_millis(150) {
            assert!(Instant::now() < deadline, "the access log never settled");
            std::thread::sleep(Duration::from_millis(25));
            let now = size();
            if now != last {
                last = now;
                stable_since = Instant::now();
            }
        }
    }

    /// Every line of the current access log.
    pub fn lines(&self) -> Vec<String> {
        self.settle();
        read_lines(&self.log)
    }

    /// The lines whose client address is `client`: the ones a tool run produced.
    pub fn lines_from(&self, client: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| line_client(l) == Some(client))
            .collect()
    }

    /// How many times nginx wrote `what` to its error log.
    pub fn notices(&self, what: &str) -> usize {
        read_lines(&self.dir.join("error.log"))
            .iter()
            .filter(|l| l.contains(what))
            .count()
    }

    /// The real logrotate, forced, with its own state file: `create` (rename, then nginx
    /// reopens on SIGUSR1) or `copytruncate`.
    pub fn logrotate(&self, how: &str) {
        let conf = self.dir.join(format!("logrotate-{how}.conf"));
        let post = if how == "create" {
            format!(
                "    postrotate\n        kill -USR1 $(cat {})\n    endscript\n",
                self.pid_file.display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &conf,
            format!(
                "{} {{\n    rotate 5\n    {how}\n{post}}}\n",
                self.log.display()
            ),
        )
        .unwrap();
        let reopened = || self.notices(": reopening logs");
        let before = reopened();
        let out = Command::new("logrotate")
            .arg("-f")
            .arg("-s")
            .arg(self.dir.join("logrotate.state"))
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logrotate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // After `create`, nginx's master and worker must have reopened the new file before
        // the next request (each notes it, the worker just before it reopens).
        if how == "create" {
            let start = Instant::now();
            while reopened() < before + 2 {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "nginx did not reopen its log"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its worker; SIGKILL would leave it behind.
        self.signal(rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(
    dir: &Path,
    docroot: &Path,
    log: &Path,
    pid: &Path,
    port: u16,
    format: LogFormat,
) -> String {
    let d = dir.display();
    let user = if super::is_root() { "user root;" } else { "" };
    let log_format = match format {
        LogFormat::Combined => "combined",
        LogFormat::Json => "fimjson",
    };
    format!(
        r#"daemon off;
{user}
worker_processes 1;
pid {pid};
error_log {d}/error.log notice;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    log_not_found off;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Test-Client;
    log_format fimjson escape=json '{json}';
    access_log {log} {log_format};
    server {{
        listen 127.0.0.1:{port};
        listen [::1]:{port};
        server_name localhost;
        root {root};
        location = /wp-login.php {{
            if ($request_method = POST) {{ set $login post; }}
            if ($http_x_test_login = ok) {{ set $login "${{login}}ok"; }}
            if ($login = postok) {{ return 302 /wp-admin/; }}
            default_type text/html;
            return 200 "<p>ERROR: The password you entered is incorrect.</p><form></form>\n";
        }}
        location = /xmlrpc.php {{
            default_type text/xml;
            return 200 "<methodResponse><fault>403 Incorrect username or password.</fault></methodResponse>\n";
        }}
        location /wp-admin/ {{ default_type text/html; return 200 "<p>Dashboard</p>\n"; }}
        location /wp-content/uploads/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
        location /broken {{ return 500; }}
        location = /item {{ default_type text/html; return 200 "<p>item</p>\n"; }}
        location /private/ {{
            auth_basic "private";
            auth_basic_user_file {d}/htpasswd;
            alias {d}/private/;
        }}
    }}
}}
"#,
        pid = pid.display(),
        json = JSON_LOG_FORMAT,
        log = log.display(),
        root = docroot.display(),
    )
}

pub fn read_lines(path: &Path) -> Vec<String> {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default())
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The client address of a combined or JSON log line.
pub fn line_client(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix(r#"{"remote_addr":""#) {
        return rest.split('"').next();
    }
    line.split(' ').next()
}

/// The status of a combined or JSON log line.
pub fn line_status(line: &str) -> Option<u16> {
    if let Some((_, rest)) = line.split_once(r#""status":"#) {
        return rest.get(..3)?.parse().ok();
    }
    // The status follows the quoted request line.
    line.split('"')
        .nth(2)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

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

pub const KINDS: &[&str] = &[
    "sensitive-file-probe",
    "backdoor-probe",
    "admin-probe",
    "scanner",
    "path-traversal",
    "sqli",
    "xss",
    "not-found-burst",
    "brute-force",
    "flood",
    "error-burst",
    "webshell-access",
    "planted-file",
];

/// `fim analyze ARGS...`: the exit code must say whether something was detected, and
/// every detection must be well formed (see `check_detection`) against `logs`.
pub fn analyze(args: &[&str], logs: &[&Path]) -> Vec<Value> {
    let mut full = vec!["analyze"];
    full.extend_from_slice(args);
    let run = super::fim(&full);
    assert!(
        run.code == 0 || run.code == 1,
        "analyze exit {}; stderr: {}",
        run.code,
        run.stderr
    );
    let events = run.events();
    assert_eq!(
        run.code,
        i32::from(!events.is_empty()),
        "exit code vs detections; stderr: {}\n{events:#?}",
        run.stderr
    );
    for e in &events {
        check_detection(e, "analyze", logs);
    }
    events
}

/// The kinds detected for `client`.
pub fn kinds_for(events: &[Value], client: &str) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["client"] == client)
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The detections of `kind` for `client`.
pub fn detections<'a>(events: &'a [Value], kind: &str, client: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["client"] == client)
        .collect()
}

fn is_ts(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not a list: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{what} holds a non-string: {v}"))
                .to_owned()
        })
        .collect()
}

/// Every field of the contract, with its type; evidence lines are real lines of the
/// logs given (read whole, decompressed when gzip'd).
pub fn check_detection(e: &Value, source: &str, logs: &[&Path]) {
    let ctx = || format!("{e:#}");
    assert!(
        e["id"].as_str().is_some_and(|s| !s.is_empty()),
        "id: {}",
        ctx()
    );
    assert!(is_ts(&e["ts"]), "ts: {}", ctx());
    assert_eq!(e["category"], "web", "{}", ctx());
    let kind = e["kind"].as_str().unwrap_or_default();
    assert!(KINDS.contains(&kind), "kind: {}", ctx());
    assert!(
        e["rule"].as_str().is_some_and(|s| !s.is_empty()),
        "rule: {}",
        ctx()
    );
    assert!(
        ["info", "low", "medium", "high", "critical"]
            .contains(&e["severity"].as_str().unwrap_or("")),
        "severity: {}",
        ctx()
    );
    assert!(
        e["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && !s.contains('\n')),
        "summary: {}",
        ctx()
    );
    assert_eq!(e["source"], source, "{}", ctx());
    assert!(
        e["host"].as_str().is_some_and(|s| !s.is_empty()),
        "host: {}",
        ctx()
    );
    let count = e["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("count: {}", ctx()));
    assert!(
        is_ts(&e["first_ts"]) && is_ts(&e["last_ts"]),
        "first/last_ts: {}",
        ctx()
    );
    assert!(
        e["first_ts"].as_str() <= e["last_ts"].as_str(),
        "first_ts > last_ts: {}",
        ctx()
    );
    let evidence = e["evidence"]
        .as_array()
        .unwrap_or_else(|| panic!("evidence: {}", ctx()));
    assert!(
        evidence.len() <= 20,
        "more than 20 evidence lines: {}",
        ctx()
    );
    assert!(
        count >= evidence.len() as u64 && count >= 1,
        "count: {}",
        ctx()
    );
    if !logs.is_empty() {
        let known: Vec<(String, BTreeSet<String>)> = logs
            .iter()
            .map(|p| {
                (
                    p.to_str().unwrap().to_owned(),
                    log_text(p).into_iter().collect(),
                )
            })
            .collect();
        for ev in evidence {
            let file = ev["file"]
                .as_str()
                .unwrap_or_else(|| panic!("evidence file: {}", ctx()));
            let line = ev["line"]
                .as_str()
                .unwrap_or_else(|| panic!("evidence line: {}", ctx()));
            assert!(
                known.iter().any(|(_, lines)| lines.contains(line)),
                "evidence line {line:?} ({file}) is in none of the logs: {}",
                ctx()
            );
        }
    }
    strings(&e["related"], "related");
    if let Some(reasons) = e.get("reasons") {
        strings(reasons, "reasons");
    }
    match kind {
        "error-burst" => assert!(e["client"].is_null(), "error-burst has a client: {}", ctx()),
        _ => assert!(
            e["client"].as_str().is_some_and(|s| !s.is_empty()),
            "client: {}",
            ctx()
        ),
    }
    assert!(
        e["vhost"].is_null() || e["vhost"].is_string(),
        "vhost: {}",
        ctx()
    );
    assert!(
        e["log"].as_str().is_some_and(|s| s.starts_with('/')),
        "log: {}",
        ctx()
    );
    let statuses = e["statuses"]
        .as_object()
        .unwrap_or_else(|| panic!("statuses: {}", ctx()));
    for (code, n) in statuses {
        assert!(
            code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && n.as_u64().is_some(),
            "statuses: {}",
            ctx()
        );
    }
    let paths = strings(&e["paths"], "paths");
    assert!(paths.len() <= 20, "more than 20 paths: {}", ctx());
    assert_eq!(
        paths.iter().collect::<BTreeSet<_>>().len(),
        paths.len(),
        "paths repeat: {}",
        ctx()
    );
    assert!(
        e["user_agent"].is_null() || e["user_agent"].is_string(),
        "user_agent: {}",
        ctx()
    );
    strings(&e["files"], "files");
}

/// The lines of a log, gunzipped when its name ends in `.gz`.
pub fn log_text(path: &Path) -> Vec<String> {
    if path.extension().is_some_and(|x| x == "gz") {
        let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
        assert!(out.status.success(), "gzip -dc {}", path.display());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    } else {
        read_lines(path)
    }
}

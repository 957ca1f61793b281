//! A real nginx on loopback for the access-log tests. The attack tools are in `tools`,
//! the site and its benign visitors in `benign`, the checks of fim's detections in
//! `checks`.

pub mod benign;
pub mod checks;
pub mod tools;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

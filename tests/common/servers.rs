//! Real receivers on loopback for the sink tests: a webhook endpoint written here (so
//! it can fail on purpose), and rsyslogd and aiosmtpd started as child processes; and a
//! static site for the exposure checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port (bound and released: another process could take it, rarely).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Is a receiver the test needs installed? Missing, the test is skipped, unless CI
/// asks for it with FIM_REQUIRE_SINK_SERVERS=1.
pub fn have(program: &str, what: &str) -> bool {
    let found = Path::new(program).exists();
    if !found {
        crate::common::skip(
            &format!("{program} ({what}) is not installed"),
            Some("FIM_REQUIRE_SINK_SERVERS"),
        );
    }
    found
}

/// Wait up to 20 s for `ready`.
pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook endpoint: answers 503 to the first `fail_first` requests, then 200, and
/// keeps every request it acknowledged.
pub struct Hook {
    pub port: u16,
    pub accepted: Arc<Mutex<Vec<Request>>>,
    pub failed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Hook {
    pub fn start(fail_first: usize) -> Hook {
        Hook::start_on(0, fail_first)
    }

    pub fn start_on(port: u16, fail_first: usize) -> Hook {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hook = Hook {
            port,
            accepted: Arc::default(),
            failed: Arc::default(),
            stop: Arc::default(),
        };
        let (accepted, failed, stop) = (
            hook.accepted.clone(),
            hook.failed.clone(),
            hook.stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = serve(stream, &accepted, &failed, fail_first);
            }
        });
        hook
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.accepted.lock().unwrap().clone()
    }

    /// Every event received, in arrival order (duplicates kept).
    pub fn events(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.body.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: TcpStream,
    accepted: &Mutex<Vec<Request>>,
    failed: &AtomicUsize,
    fail_first: usize,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("POST ") {
        return Ok(());
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let status = if failed.load(Ordering::SeqCst) < fail_first {
        failed.fetch_add(1, Ordering::SeqCst);
        "503 Service Unavailable"
    } else {
        accepted.lock().unwrap().push(Request {
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        "200 OK"
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()
}

/// rsyslogd listening on UDP, TCP and a unix socket, writing what it receives to a
/// file, one line per message: `INPUT FACILITY APP-NAME MSGID MSG`.
pub struct Rsyslog {
    child: Child,
    pub udp: u16,
    pub tcp: u16,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Rsyslog {
    pub fn start(dir: &Path) -> Rsyslog {
        let (udp, tcp) = (free_port(), free_port());
        let socket = dir.join("log.sock");
        let log = dir.join("received.log");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="seen" type="string" string="%inputname% %syslogfacility-text% %app-name% %msgid% %msg%\n")
ruleset(name="fim") {{ action(type="omfile" file="{log}" template="seen") }}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="fim")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="fim")
input(type="imuxsock" Socket="{socket}" UseSpecialParser="off" ruleset="fim")
"#,
                dir = dir.display(),
                log = log.display(),
                socket = socket.display(),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        wait_for("rsyslogd", || {
            socket.exists() && TcpStream::connect(("127.0.0.1", tcp)).is_ok()
        });
        Rsyslog {
            child,
            udp,
            tcp,
            socket,
            log,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd (Python) on loopback, delivering into a Maildir.
pub struct Smtp {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

pub const PYTHON: &str = "/usr/bin/python3";

impl Smtp {
    pub fn start(dir: &Path) -> Smtp {
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        wait_for("aiosmtpd", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Smtp {
            child,
            port,
            maildir,
        }
    }

    /// The messages delivered so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A static web server over `docroot`, like a careless nginx: any file is sent as it
/// is (a PHP script is "run": its answer is `ran NAME`), except the names in `deny`
/// (403); a missing file is 404. Every requested path is kept.
pub struct Site {
    pub port: u16,
    pub requested: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Site {
    pub fn start(docroot: &Path, deny: &'static [&'static str]) -> Site {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let site = Site {
            port,
            requested: Arc::default(),
            stop: Arc::default(),
        };
        let (requested, stop, docroot) = (
            site.requested.clone(),
            site.stop.clone(),
            docroot.to_owned(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = serve_file(stream, &docroot, deny, &requested);
            }
        });
        site
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requested(&self) -> Vec<String> {
        self.requested.lock().unwrap().clone()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_file(
    stream: TcpStream,
    docroot: &Path,
    deny: &[&str],
    requested: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    requested.lock().unwrap().push(target.clone());
    let rel = percent_decode(target.trim_start_matches('/'));
    let path = docroot.join(&rel);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let denied = rel.split('/').any(|part| deny.contains(&part));
    let (status, body) = match std::fs::read(&path) {
        _ if denied || rel.contains("..") => ("403 Forbidden", b"forbidden".to_vec()),
        Ok(_) if rel.ends_with(".php") => ("200 OK", format!("ran {}", name.unwrap()).into_bytes()),
        Ok(bytes) => ("200 OK", bytes),
        Err(_) => ("404 Not Found", b"not found".to_vec()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

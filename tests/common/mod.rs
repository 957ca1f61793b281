//! Helpers for driving the real `fim` binary on real temporary trees.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod pty;
pub mod web;

pub struct Env {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
    pub db: PathBuf,
}

impl Env {
    /// A fresh tree `www/` (with a few files) and a baseline path beside it. Lives under
    /// the target directory: a disk filesystem with extended attributes.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("fim-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("www");
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("index.php"), "<?php echo 'hello';\n").unwrap();
        std::fs::write(root.join("style.css"), "body { color: black }\n").unwrap();
        std::fs::write(root.join("sub/page.html"), "<p>page</p>\n").unwrap();
        std::fs::write(root.join("sub/deeper/data.txt"), "data\n").unwrap();
        let db = base.join("baseline.db");
        Env {
            _dir: dir,
            base,
            root,
            db,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Run fim with `--db` appended to the subcommand's arguments.
    pub fn fim(&self, args: &[&str]) -> Run {
        let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        full.insert(1, "--db".into());
        full.insert(2, self.db.to_str().unwrap().into());
        fim(&full)
    }

    /// `fim init ROOT` with the default policy; must succeed.
    pub fn init(&self) {
        let root = self.root.to_str().unwrap().to_owned();
        self.fim(&["init", &root]).success();
    }

    /// `fim init --policy` with `policy` written to a file; must succeed.
    pub fn init_with_policy(&self, policy: &str) -> PathBuf {
        let path = self.write_policy(policy);
        self.fim(&["init", "--policy", path.to_str().unwrap()])
            .success();
        path
    }

    pub fn write_policy(&self, policy: &str) -> PathBuf {
        let path = self.base.join("policy.toml");
        std::fs::write(&path, policy.replace("ROOT", self.root.to_str().unwrap())).unwrap();
        path
    }

    /// `fim verify`: the events it printed; the exit code must match them (0 or 1).
    pub fn verify(&self) -> Vec<Value> {
        let run = self.fim(&["verify"]);
        let events = run.events();
        let expected = if events.is_empty() { 0 } else { 1 };
        assert_eq!(
            run.code, expected,
            "verify exit code; stderr: {}",
            run.stderr
        );
        events
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| parse_event_line(l.as_bytes()))
            .collect()
    }
}

/// Run the fim binary; fails the test if it runs longer than 60 s (a hang). Output is
/// drained while it runs, so a large report cannot block it on a full pipe.
pub fn fim<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(args)
        .env_remove("FIM_DB")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("fim hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout.join().unwrap()).unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// The one event about `path` (panics when there is not exactly one).
pub fn event_for<'a>(events: &'a [Value], path: &Path) -> &'a Value {
    let p = path.to_str().unwrap();
    let found: Vec<_> = events.iter().filter(|e| e["path"] == p).collect();
    assert_eq!(found.len(), 1, "events for {p}: {events:#?}");
    found[0]
}

/// The events about entries other than directories (whose mtime follows their children).
pub fn non_dir_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] != "dir").collect()
}

pub fn changes(event: &Value) -> Vec<&str> {
    event["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {event}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

pub fn reasons(event: &Value) -> Vec<&str> {
    event["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons in {event}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Say on one line, past the test harness's capture, that the test is skipped and
/// why; fails instead when CI forbids this skip by setting `require`.
pub fn skip(why: &str, require: Option<&str>) {
    if let Some(var) = require {
        assert!(
            std::env::var_os(var).is_none(),
            "{why}, and {var} is set: this test may not be skipped here"
        );
    }
    use std::io::Write;
    // The harness captures `eprintln!` of passing tests; a skip must be seen.
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// Can python3 import these modules? Asked quietly: a missing module is a skip to
/// report on one line, not a traceback in the test output.
/// Whether `python` (a path, or a name on PATH) imports `modules`, asked quietly.
pub fn python_has(python: &str, modules: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A running `fim watch`, with its stdout parsed line by line and a notify socket
/// owned by the test.
pub struct Daemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Value>,
    notify: std::os::unix::net::UnixDatagram,
    pub seen: Vec<Value>,
    /// Its stderr lines, when started with `start_logged`.
    log: Option<std::sync::mpsc::Receiver<String>>,
    pub logged: Vec<String>,
}

/// One JSON event line printed by `fim watch`.
fn parse_event_line(line: &[u8]) -> Value {
    serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("bad JSON line {:?}: {e}", String::from_utf8_lossy(line)))
}

/// Does a notify datagram hold the line `what` (`READY=1`, `RELOADING=1`, ...)?
fn says(datagram: &[u8], what: &str) -> bool {
    String::from_utf8_lossy(datagram).lines().any(|l| l == what)
}

/// Read `stdout` into `out` until READY=1 arrives on `notify`, then what is left in the
/// pipe (written before READY=1 was sent).
fn read_until_ready(
    stdout: &mut std::process::ChildStdout,
    notify: &std::os::unix::net::UnixDatagram,
    out: &mut Vec<u8>,
) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use std::io::Read;
    let flags = fcntl_getfl(&*stdout).unwrap();
    fcntl_setfl(&*stdout, flags | OFlags::NONBLOCK).unwrap();
    // Reads what the pipe holds; false at its end (fim exited).
    fn read_available(stdout: &mut std::process::ChildStdout, out: &mut Vec<u8>) -> bool {
        let mut buf = [0u8; 8192];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) => panic!("reading fim watch's output: {e}"),
            }
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no READY=1 from fim watch within 30 s");
        let timeout = Timespec::try_from(left).unwrap();
        let mut fds = [
            PollFd::new(&*stdout, PollFlags::IN),
            PollFd::new(notify, PollFlags::IN),
        ];
        poll(&mut fds, Some(&timeout)).unwrap();
        let (out_ready, notify_ready) =
            (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
        if out_ready && !read_available(stdout, out) {
            panic!(
                "fim watch exited before READY=1, having printed {:?}",
                String::from_utf8_lossy(out)
            );
        }
        if notify_ready {
            let n = notify.recv(&mut buf).unwrap();
            if says(&buf[..n], "READY=1") {
                read_available(stdout, out);
                break;
            }
        }
    }
    fcntl_setfl(&*stdout, flags).unwrap();
}

impl Daemon {
    /// Start `fim watch --db` (plus `args`) and wait for READY=1.
    pub fn start(env: &Env, args: &[&str]) -> Daemon {
        Daemon::start_with(env, args, &[])
    }

    /// `start`, with extra environment variables.
    pub fn start_with(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(env, args, vars, false)
    }

    /// `start`, with its stderr (the log, at the default level) captured for `expect_log`.
    pub fn start_logged(env: &Env, args: &[&str]) -> Daemon {
        Daemon::spawn(env, args, &[], true)
    }

    fn spawn(env: &Env, args: &[&str], vars: &[(&str, &str)], capture_log: bool) -> Daemon {
        let socket = env.base.join(format!("notify-{}.sock", rand_suffix()));
        let notify = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_fim"));
        command
            .args(["watch", "--db"])
            .arg(&env.db)
            .args(args)
            .env("NOTIFY_SOCKET", &socket)
            .envs(vars.iter().copied());
        // A log that is not captured lands in the test output: warnings only there.
        if capture_log {
            command.env_remove("RUST_LOG");
        } else {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if capture_log {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .unwrap();
        let log = child.stderr.take().map(|stderr| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let mut stdout = child.stdout.take().unwrap();
        // What fim printed before READY=1 is in the pipe by then: read it all here, so
        // that `drain` right after `start` sees every event of the start-up catch-up.
        let mut early = Vec::new();
        read_until_ready(&mut stdout, &notify, &mut early);
        let cut = early.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let partial = early.split_off(cut);
        let seen = early
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(parse_event_line)
            .collect();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::{BufRead, Read};
            let rest = std::io::Cursor::new(partial).chain(stdout);
            for line in std::io::BufReader::new(rest).lines() {
                let Ok(line) = line else { break };
                if tx.send(parse_event_line(line.as_bytes())).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            notify,
            seen,
            log,
            logged: Vec::new(),
        }
    }

    pub fn wait_notify(&mut self, what: &str) {
        let mut buf = [0u8; 4096];
        loop {
            let n = self
                .notify
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {what} from fim watch: {e}"));
            if says(&buf[..n], what) {
                return;
            }
        }
    }

    /// The `STATUS=` messages sent since the last call.
    pub fn statuses(&mut self) -> Vec<String> {
        self.notify.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            for line in String::from_utf8_lossy(&buf[..n]).lines() {
                if let Some(status) = line.strip_prefix("STATUS=") {
                    out.push(status.to_owned());
                }
            }
        }
        self.notify.set_nonblocking(false).unwrap();
        out
    }

    /// Events printed so far (drains the pipe without waiting).
    pub fn drain(&mut self) -> &[Value] {
        while let Ok(v) = self.lines.try_recv() {
            self.seen.push(v);
        }
        &self.seen
    }

    /// Wait (up to 10 s) until an event for `path` of `kind` has been printed; returns it.
    pub fn expect(&mut self, kind: &str, path: &Path) -> Value {
        let p = path.to_str().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self
                .seen
                .iter()
                .find(|e| e["path"] == p && e["kind"] == kind)
            {
                return e.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => self.seen.push(v),
                Err(_) => panic!("no {kind} event for {p}; saw {:#?}", self.seen),
            }
        }
    }

    /// Wait (up to 10 s) for a log line containing `text` (needs `start_logged`); returns it.
    pub fn expect_log(&mut self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.logged.iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let log = self.log.as_ref().expect("started with start_logged");
            match log.recv_timeout(left) {
                Ok(line) => self.logged.push(line),
                Err(_) => panic!("no log line with {text:?}; logged {:#?}", self.logged),
            }
        }
    }

    /// All events about `path` seen so far.
    pub fn about(&mut self, path: &Path) -> Vec<Value> {
        let p = path.to_str().unwrap().to_owned();
        self.drain()
            .iter()
            .filter(|e| e["path"] == p.as_str())
            .cloned()
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// SIGTERM; returns the exit code and how long the daemon took to exit. The
    /// remaining output is collected into `seen`.
    pub fn stop(self) -> (i32, Duration, Vec<Value>) {
        self.signal(rustix::process::Signal::TERM);
        self.stop_after_signal()
    }

    /// Wait for the exit after a stopping signal was sent.
    pub fn stop_after_signal(mut self) -> (i32, Duration, Vec<Value>) {
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(20) {
                self.child.kill().unwrap();
                panic!("fim watch did not stop");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = start.elapsed();
        // The reader thread ends at EOF; collect what it still has.
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(v);
        }
        (
            status.code().unwrap_or(-1),
            took,
            std::mem::take(&mut self.seen),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The rest of the README's fenced block from the line that starts with `first_line`
/// (say, a comment naming the file the block is meant for), so tests run what the
/// README tells operators to write.
pub fn readme_block(first_line: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find(&format!("\n{first_line}"))
        .unwrap_or_else(|| panic!("README has no block starting with {first_line:?}"))
        + 1;
    let end = start + readme[start..].find("\n```").unwrap();
    readme[start..=end].to_owned()
}

/// Where `name` is on $PATH (or in /usr/sbin, /sbin), if installed.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// The published schemas' ECS field list, when fetched (tests/schemas/fetch.sh) and the
/// Python validator can run; else a skip, unless CI asks for them (FIM_REQUIRE_SCHEMAS).
pub fn schemas() -> Option<String> {
    let fields = std::env::var("FIM_ECS_FIELDS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/schemas/ecs_flat.json").to_owned()
    });
    let python_ok = Command::new("python3")
        .args(["-c", "import jsonschema, ocsf_json_schema"])
        .status()
        .is_ok_and(|s| s.success());
    if Path::new(&fields).exists() && python_ok {
        return Some(fields);
    }
    assert!(
        std::env::var_os("FIM_REQUIRE_SCHEMAS").is_none(),
        "schemas missing: run tests/schemas/fetch.sh target/schemas"
    );
    eprintln!("skipped: run tests/schemas/fetch.sh target/schemas to validate");
    None
}

/// tests/schemas/validate.py ARGS: its report, which must say there were no problems.
pub fn validate(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/schemas/validate.py"
        ))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The ids an event names in `related`.
pub fn related(event: &Value) -> Vec<&str> {
    event["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

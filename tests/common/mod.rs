//! Helpers for driving the real `fim` binary on real temporary trees.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

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
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

/// Run the fim binary; fails the test if it runs longer than 60 s (a hang).
pub fn fim<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(args)
        .env_remove("FIM_DB")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("fim hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
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

pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

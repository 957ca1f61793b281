//! The process detectors on real processes: copies of `sleep` run from the docroot and
//! `/tmp`, a binary deleted after it started, a shell under a parent named `php-fpm`,
//! a `stratum+tcp://` command line, a loopback listener started after `init` and
//! accepted away, and a 20 ms shell caught by the exec events of `fim watch`.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{Daemon, Env};
use serde_json::Value;

const POLICY: &str = r#"[[watch]]
path = "ROOT"

[processes]
interval = "1s"
"#;

/// Every process a test starts, killed when it ends.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    fn spawn(&mut self, program: &Path, args: &[&str]) -> u32 {
        let child = Command::new(program).args(args).spawn().unwrap();
        let pid = child.id();
        self.0.push(child);
        pid
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn copy_of(program: &str, to: &Path) {
    std::fs::copy(program, to).unwrap();
}

fn process_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["category"] == "process")
        .collect()
}

fn find<'a>(events: &[&'a Value], kind: &str, pid: u32) -> Option<&'a Value> {
    events
        .iter()
        .copied()
        .find(|e| e["kind"] == kind && e["pid"] == pid)
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn verify_reports_suspicious_processes_once_each_and_not_ordinary_ones() {
    let env = Env::new();
    env.init_with_policy(POLICY);
    let mut procs = Procs::default();
    let tmp = tempfile::tempdir_in("/tmp").unwrap();

    let docroot_sleep = env.path("sleep-copy");
    copy_of("/bin/sleep", &docroot_sleep);
    let in_docroot = procs.spawn(&docroot_sleep, &["30"]);
    let tmp_sleep = tmp.path().join("sleep");
    copy_of("/bin/sleep", &tmp_sleep);
    let in_tmp = procs.spawn(&tmp_sleep, &["30"]);
    let gone = env.base.join("gone");
    copy_of("/bin/sleep", &gone);
    let deleted = procs.spawn(&gone, &["30"]);
    let fpm = env.base.join("php-fpm");
    copy_of("/bin/sh", &fpm);
    let worker = procs.spawn(&fpm, &["-c", "sh -c 'sleep 30; true'; true"]);
    let miner = procs.spawn(
        Path::new("/bin/sh"),
        &["-c", "sleep 30; true", "stratum+tcp://pool.example:3333"],
    );
    let ordinary = procs.spawn(Path::new("/bin/sh"), &["-c", "sleep 30; true"]);
    let port = free_port();
    let listener = procs.spawn(
        Path::new("/usr/bin/python3"),
        &[
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&gone).unwrap();
    let listen = format!("127.0.0.1:{port}/tcp");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .contains(&format!(":{port:04X} 00000000:0000 0A"))
    {
        assert!(
            Instant::now() < deadline,
            "python3 never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let events = env.verify();
    let found = process_events(&events);
    let docroot = find(&found, "exec-from-writable", in_docroot).expect("docroot sleep");
    assert_eq!(docroot["exe"], docroot_sleep.to_str().unwrap());
    assert_eq!(
        docroot["cmdline"],
        serde_json::json!([docroot_sleep.to_str().unwrap(), "30"])
    );
    assert_eq!(docroot["reasons"][0], "runs from a watched tree");
    assert_eq!(docroot["user"], "root");
    assert!(
        find(&found, "exec-from-writable", in_tmp).is_some(),
        "{found:#?}"
    );
    let del = find(&found, "deleted-executable", deleted).expect("deleted");
    assert_eq!(del["severity"], "high");
    let spawn = found
        .iter()
        .find(|e| e["kind"] == "web-shell-spawn" && e["ppid"] == worker)
        .expect("sh under php-fpm");
    assert_eq!(spawn["parent_exe"], fpm.to_str().unwrap());
    assert_eq!(spawn["severity"], "critical");
    assert!(find(&found, "miner", miner).is_some(), "{found:#?}");
    let new = find(&found, "new-listener", listener).expect("listener");
    assert_eq!(new["listen"], listen);
    let mine = [in_docroot, in_tmp, deleted, miner, listener];
    for e in &found {
        assert_ne!(e["pid"], ordinary, "an ordinary shell reported: {e}");
        assert_ne!(e["pid"], 1, "systemd/init reported: {e}");
        let sshd_or_cron = ["sshd", "cron", "systemd"]
            .iter()
            .any(|n| e["exe"].as_str().is_some_and(|x| x.ends_with(n)));
        assert!(!sshd_or_cron, "the box's own daemons reported: {e}");
        if mine.iter().any(|p| e["pid"] == *p) {
            assert_eq!(e["count"], 1, "{e}");
            assert_eq!(e["evidence"], serde_json::json!([]));
        }
    }

    // Accepted away: the listener is known now, with an audit row.
    env.fim(&["accept", "--listeners", "--reason", "test server"])
        .success();
    let again = env.verify();
    let found = process_events(&again);
    assert!(
        find(&found, "new-listener", listener).is_none(),
        "{found:#?}"
    );
    assert!(find(&found, "exec-from-writable", in_tmp).is_some());
}

#[test]
fn watch_catches_a_20_ms_shell_under_php_fpm_by_its_exec_event() {
    if !common::is_root() {
        eprintln!("skipped: exec events need root");
        return;
    }
    let env = Env::new();
    let policy = env.init_with_policy(&POLICY.replace("\"1s\"", "\"1h\""));
    let mut daemon = Daemon::start(&env, &["--policy", policy.to_str().unwrap()]);
    // The first scan happens at start; what follows is seen only by exec events.
    std::thread::sleep(Duration::from_millis(500));
    let fpm = env.base.join("php-fpm");
    copy_of("/bin/sh", &fpm);
    let mut procs = Procs::default();
    let worker = procs.spawn(&fpm, &["-c", "sh -c 'sleep 0.02; true'; sleep 30"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = daemon.drain().to_vec();
        if let Some(e) = seen
            .iter()
            .find(|e| e["kind"] == "web-shell-spawn" && e["ppid"] == worker)
        {
            assert_eq!(e["exe"], "/usr/bin/dash");
            assert_eq!(e["source"], "watch");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no web-shell-spawn; saw {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
}

#[test]
fn a_bad_processes_table_is_refused_with_its_line() {
    let env = Env::new();
    let path = env.write_policy("[[watch]]\npath = \"ROOT\"\n\n[processes]\nintervall = \"1s\"\n");
    let run = env.fim(&["init", "--policy", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(":4") || run.stderr.contains("line 4"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("intervall"), "{}", run.stderr);
}

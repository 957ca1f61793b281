//! Operating fim as the README says: log rotation with the real `logrotate`, the
//! nightly cron line, the systemd unit.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use rustix::process::Signal;

/// Wait (up to 10 s) until `file` holds an event about `path`.
fn wait_for_event_in(file: &Path, path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !holds_event(file, path) {
        assert!(
            Instant::now() < deadline,
            "no event for {} in {}: {:?}",
            path.display(),
            file.display(),
            fs::read_to_string(file)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn holds_event(file: &Path, path: &Path) -> bool {
    let p = path.to_str().unwrap();
    fs::read_to_string(file).is_ok_and(|text| {
        text.lines()
            .any(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|e| e["path"] == p))
    })
}

/// The files the process `pid` has open, as their paths.
fn open_files(pid: u32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn watch_output_follows_logrotate_and_reopens_on_sighup() {
    let Some(logrotate) = tool("logrotate") else {
        assert!(
            std::env::var_os("FIM_REQUIRE_LOGROTATE").is_none(),
            "install logrotate"
        );
        eprintln!("skipped: logrotate is not installed (apt-get install logrotate)");
        return;
    };
    let env = Env::new();
    env.init();
    let logs = env.base.join("log");
    fs::create_dir(&logs).unwrap();
    let out = logs.join("events.jsonl");
    let rotated = logs.join("events.jsonl.1");
    // The README's snippet, for this test's folder.
    let conf = env.base.join("logrotate.conf");
    fs::write(
        &conf,
        readme_block("# /etc/logrotate.d/fim")
            .replace("/var/log/fim/", &format!("{}/", logs.display())),
    )
    .unwrap();
    let rotate = || {
        let status = std::process::Command::new(&logrotate)
            .arg("-f")
            .arg("-s")
            .arg(env.base.join("logrotate.state"))
            .arg(&conf)
            .status()
            .unwrap();
        assert!(status.success(), "logrotate failed");
    };

    let d = Daemon::start(&env, &["--output", out.to_str().unwrap()]);
    fs::write(env.path("index.php"), "<?php echo 'one';").unwrap();
    wait_for_event_in(&out, &env.path("index.php"));

    // logrotate renames the file and creates a new one; the daemon still has the
    // renamed one open until it has something to write, or until SIGHUP.
    rotate();
    assert!(holds_event(&rotated, &env.path("index.php")));
    assert_eq!(fs::read_to_string(&out).unwrap(), "");
    let rotated_name = rotated.display().to_string();
    assert!(open_files(d.pid()).contains(&rotated_name));
    d.signal(Signal::HUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_files(d.pid()).contains(&rotated_name) {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reopen the output"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(open_files(d.pid()).contains(&out.display().to_string()));
    fs::write(env.path("style.css"), "two").unwrap();
    wait_for_event_in(&out, &env.path("style.css"));

    // Rotated again, with no signal: the next event goes to the new file all the same.
    rotate();
    assert!(holds_event(&rotated, &env.path("style.css")));
    fs::write(env.path("sub/page.html"), "three").unwrap();
    wait_for_event_in(&out, &env.path("sub/page.html"));
    assert!(!holds_event(&rotated, &env.path("sub/page.html")));
    assert!(
        logs.join("events.jsonl.2.gz").exists(),
        "compressed by the snippet"
    );
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);
}

#[test]
fn watch_logs_start_ready_reloads_and_health_at_the_default_level() {
    let env = Env::new();
    env.init();
    let policy = env.write_policy("[[watch]]\npath = \"ROOT\"\n");
    let policy = policy.to_str().unwrap();
    let mut d = Daemon::start_logged(&env, &["--policy", policy, "--health-interval", "1s"]);
    let start = d.expect_log("starting fim");
    assert!(
        start.contains(&format!("baseline {}", env.db.display()))
            && start.contains(&format!("policy from {policy}"))
            && start.contains("events to stdout"),
        "{start}"
    );
    d.expect_log("ready: watching 3 directories, 7 entries");
    fs::write(env.path("index.php"), "changed").unwrap();
    d.expect("modified", &env.path("index.php"));
    let health = d.expect_log("health: ");
    assert!(health.contains("in the last 1s"), "{health}");
    assert!(health.contains("RSS "), "{health}");
    d.signal(Signal::HUP);
    d.expect_log(&format!("policy reloaded from {policy}; rescanning"));
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);

    // verify and init stay quiet at the default level.
    let run = env.fim(&["verify"]);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| !l.starts_with("fim verify:"))
            .count(),
        0,
        "{}",
        run.stderr
    );
}

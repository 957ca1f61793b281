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

/// A system set up as the README's Install section and site policy say, inside the
/// test's folder: the install lines (all but `cargo install`: the binary under test
/// stands for /usr/local/bin/fim) run with every system path moved into `base`.
struct Setup {
    /// `/etc/fim`, `/var/log/fim`, `/usr/local/share/man/man1`, `/etc/bash_completion.d`.
    etc: std::path::PathBuf,
    logs: std::path::PathBuf,
    man: std::path::PathBuf,
    completions: std::path::PathBuf,
}

impl Setup {
    fn new(env: &Env) -> Setup {
        let moved = |p: &str| env.base.join(p.trim_start_matches('/'));
        let setup = Setup {
            etc: moved("/etc/fim"),
            logs: moved("/var/log/fim"),
            man: moved("/usr/local/share/man/man1"),
            completions: moved("/etc/bash_completion.d"),
        };
        fs::create_dir_all(&setup.completions).unwrap();
        let install = readme_block("# Install (as root, in a clone of this repository)");
        let mut ran = 0;
        for line in install.lines().skip(1) {
            if line.starts_with("cargo install") {
                continue;
            }
            let line = setup.localize(env, line);
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "{line}");
            ran += 1;
        }
        assert_eq!(ran, 3, "{install}");
        let site = readme_block("# /etc/fim/site.toml")
            .replace("/var/www/html", env.root.to_str().unwrap());
        fs::write(setup.etc.join("site.toml"), setup.localize(env, &site)).unwrap();
        setup
    }

    /// A README line with the system paths moved into the test's folder.
    fn localize(&self, env: &Env, text: &str) -> String {
        let bin = env!("CARGO_BIN_EXE_fim");
        text.replace("/usr/local/bin/fim", bin)
            .replace("fim manpage", &format!("{bin} manpage"))
            .replace("fim completions", &format!("{bin} completions"))
            .replace("/var/lib/fim/fim.db", env.db.to_str().unwrap())
            .replace("/var/lib/fim", env.db.parent().unwrap().to_str().unwrap())
            .replace("/etc/fim", self.etc.to_str().unwrap())
            .replace("/var/log/fim", self.logs.to_str().unwrap())
            .replace("/usr/local/share/man/man1", self.man.to_str().unwrap())
            .replace("/etc/bash_completion.d", self.completions.to_str().unwrap())
    }

    /// Run a README command line through sh; (exit code, stdout, stderr).
    fn sh(&self, env: &Env, line: &str) -> Run {
        let line = match line.strip_prefix("fim ") {
            Some(rest) => format!("{} {rest}", env!("CARGO_BIN_EXE_fim")),
            None => line.to_owned(),
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(self.localize(env, &line))
            .env("FIM_DB", &env.db)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn sink_events(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.logs.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn the_readme_install_and_five_commands_protect_a_site() {
    let env = Env::new();
    let setup = Setup::new(&env);
    assert!(setup.etc.join("wordpress.toml").is_file());
    assert!(setup.etc.join("signatures/webshells.toml").is_file());
    assert!(setup.man.join("fim-policy-update.1").is_file());
    assert!(fs::read_to_string(setup.completions.join("fim"))
        .unwrap()
        .contains("_fim()"));

    let block = readme_block("fim policy check /etc/fim/site.toml   ");
    let commands: Vec<&str> = block
        .lines()
        .filter(|l| l.starts_with("fim ") || l.starts_with("systemctl "))
        .map(|l| l.split("  #").next().unwrap().trim())
        .collect();
    assert_eq!(commands.len(), 5, "{block}");
    let [check, init, _systemd, verify, accept] = commands[..] else {
        unreachable!()
    };
    assert!(setup.sh(&env, check).success().stdout.contains(": ok: "));
    setup.sh(&env, init).success();
    fs::write(env.path("index.php"), "<?php echo 'updated';").unwrap();
    let run = setup.sh(&env, verify);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let index = env.path("index.php").display().to_string();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("modified") && l.contains(&index)),
        "{}",
        run.stdout
    );
    setup.sh(&env, accept).success();
    let run = setup.sh(&env, verify);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("no differences"), "{}", run.stdout);
}

#[test]
fn the_readme_cron_line_mails_the_report_and_keeps_json_in_the_file_sink() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let site = setup.etc.join("site.toml");
    env.fim(&["init", "-q", "--policy", site.to_str().unwrap()])
        .success();
    let cron = readme_block("# /etc/cron.d/fim");
    let line = cron.lines().find(|l| !l.starts_with('#')).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[5], "root", "{line}");
    let command = fields[6..].join(" ");

    // cron mails stdout and stderr together; a clean night says so.
    let run = setup.sh(&env, &command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("no differences"), "{}", run.stdout);

    fs::write(env.path("index.php"), "<?php echo 'defaced';").unwrap();
    fs::write(env.path("shell.php"), "<?php system($_GET['c']);").unwrap();
    let run = setup.sh(&env, &command);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mail = run.stdout;
    for path in [env.path("index.php"), env.path("shell.php")] {
        assert!(mail.contains(path.to_str().unwrap()), "{mail}");
    }
    assert!(mail.contains("differences: 1 new, "), "{mail}");
    assert!(
        mail.lines().all(|l| !l.starts_with('{')),
        "the mail is for people: {mail}"
    );
    // The JSON went to the policy's file sink.
    let events = setup.sink_events();
    assert_eq!(
        event_for(&events, &env.path("index.php"))["kind"],
        "modified"
    );
    assert_eq!(event_for(&events, &env.path("shell.php"))["kind"], "new");
}

#[test]
fn the_readme_systemd_unit_verifies_and_can_write_what_fim_writes() {
    let env = Env::new();
    let unit = readme_block("# /etc/systemd/system/fim.service");
    // ProtectSystem=strict: everything fim writes must be in a folder systemd makes
    // writable (StateDirectory=, LogsDirectory=, ReadWritePaths=).
    let mut writable = Vec::new();
    for line in unit.lines() {
        if let Some((key, value)) = line.split_once('=') {
            match key {
                "StateDirectory" => writable.push(format!("/var/lib/{value}/")),
                "LogsDirectory" => writable.push(format!("/var/log/{value}/")),
                "ReadWritePaths" => writable.extend(value.split(' ').map(|v| format!("{v}/"))),
                _ => {}
            }
        }
    }
    assert!(unit.contains("ProtectSystem=strict"));
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    let db = exec
        .split(" --db ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let site = readme_block("# /etc/fim/site.toml");
    let sink = site
        .lines()
        .find_map(|l| l.strip_prefix("path = "))
        .unwrap()
        .trim_matches('"');
    for written in [db, sink] {
        assert!(
            writable.iter().any(|dir| written.starts_with(dir.as_str())),
            "{written} is read-only under the unit ({writable:?})"
        );
    }
    assert!(exec.contains("--policy /etc/fim/site.toml"), "{exec}");

    let Some(analyze) = tool("systemd-analyze") else {
        eprintln!("skipped: systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    let file = env.base.join("fim.service");
    fs::write(
        &file,
        unit.replace("/usr/local/bin/fim", env!("CARGO_BIN_EXE_fim")),
    )
    .unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    let about_fim: Vec<&str> = said.lines().filter(|l| l.contains("fim.service")).collect();
    assert!(about_fim.is_empty(), "{about_fim:#?}");
}

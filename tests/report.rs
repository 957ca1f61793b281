//! The HTML report, `fim events --incident` and `fim status`, on a day of activity
//! made with the real binary: file changes found by verify, a replayed access log and
//! auth log (`analyze --db`), then the page opened in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{Local, Utc};
use common::{Daemon, Env};
use serde_json::Value;

const ATTACKER: &str = "203.0.113.7";
const SHELL_USER: &str = "198.51.100.9";
const HOSTILE_UA: &str = "<script>alert('ua')</script>";
const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>.txt";

const POLICY: &str = r#"
[[watch]]
path = "ROOT"

[[rule]]
name = "upload-code"
paths = ["uploads/**/*.php"]
severity = "critical"
"#;

/// How many requests of each class the access log holds.
struct Expected {
    ok: usize,
    not_found: usize,
    errors: usize,
}

/// The day: 30 probes for missing pages from the attacker (404), an upload, a webshell
/// used 12 times, and ordinary visitors (some answered 500); 41 failed SSH logins
/// then one that succeeds.
fn day(env: &Env) -> (PathBuf, PathBuf, Expected) {
    std::fs::create_dir_all(env.path("uploads")).unwrap();
    let policy = env.write_policy(POLICY);
    env.fim(&["init", "--policy", policy.to_str().unwrap()])
        .success();
    std::fs::write(env.path("uploads/x.php"), "<?php system($_GET['c']); ?>\n").unwrap();
    std::fs::write(env.path(&format!("uploads/{HOSTILE_NAME}")), "hi\n").unwrap();
    let now = Utc::now();
    let at = |s: i64| (now + chrono::Duration::seconds(s)).format("%d/%b/%Y:%H:%M:%S +0000");
    let mut lines: Vec<(i64, String)> = Vec::new();
    for i in 0..30 {
        let t = -600 + i;
        lines.push((
            t,
            format!(
            "{ATTACKER} - - [{}] \"GET /missing{i}.php HTTP/1.1\" 404 100 \"-\" \"{HOSTILE_UA}\"",
            at(t)
        ),
        ));
    }
    lines.push((
        -2,
        format!(
            "{ATTACKER} - - [{}] \"POST /upload.php HTTP/1.1\" 200 10 \"-\" \"curl/8.0\"",
            at(-2)
        ),
    ));
    for i in 0..12 {
        let t = 5 + i;
        lines.push((
            t,
            format!(
            "{SHELL_USER} - - [{}] \"GET /uploads/x.php?c=id HTTP/1.1\" 200 10 \"-\" \"curl/8.0\"",
            at(t)
        ),
        ));
    }
    let mut expected = Expected {
        ok: 13,
        not_found: 30,
        errors: 0,
    };
    for i in 0..300 {
        let t = -3 * 3600 + i * 30;
        let status = if i % 20 == 0 { 500 } else { 200 };
        match status {
            500 => expected.errors += 1,
            _ => expected.ok += 1,
        }
        lines.push((
            t,
            format!(
            "192.0.2.{} - - [{}] \"GET /index.php HTTP/1.1\" {status} 1000 \"-\" \"Mozilla/5.0\"",
            i % 50,
            at(t)
        ),
        ));
    }
    lines.sort_by_key(|(t, _)| *t);
    let access = env.base.join("access.log");
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    std::fs::write(&access, text.join("\n") + "\n").unwrap();
    // Syslog time stamps are local time.
    let local = |s: i64| (Local::now() + chrono::Duration::seconds(s)).format("%b %e %H:%M:%S");
    let mut auth: Vec<String> = (0..41)
        .map(|i| {
            format!(
                "{} web sshd[{}]: Failed password for root from {ATTACKER} port {} ssh2",
                local(-900 + i),
                1000 + i,
                40000 + i
            )
        })
        .collect();
    auth.push(format!(
        "{} web sshd[2000]: Accepted password for root from {ATTACKER} port 41000 ssh2",
        local(-700)
    ));
    let auth_log = env.base.join("auth.log");
    std::fs::write(&auth_log, auth.join("\n") + "\n").unwrap();
    (access, auth_log, expected)
}

/// Record the day: verify finds the files, then the logs are replayed into the history.
fn record_day(env: &Env) -> Expected {
    let (access, auth, expected) = day(env);
    assert_eq!(env.fim(&["verify"]).code, 1);
    // The policy recorded at init gives the docroot (its only watch root): the
    // requests are tied to the files they reach without `--policy`.
    let analyzed = env.fim(&["analyze", access.to_str().unwrap()]);
    assert_eq!(analyzed.code, 1, "{}", analyzed.stderr);
    let analyzed = env.fim(&["analyze", "--log-format", "auth", auth.to_str().unwrap()]);
    assert_eq!(analyzed.code, 1, "{}", analyzed.stderr);
    expected
}

fn chromium() -> Option<&'static str> {
    let found = Path::new("/usr/bin/chromium").exists();
    if !found {
        common::skip(
            "chromium is not installed (apt-get install chromium)",
            Some("FIM_REQUIRE_CHROMIUM"),
        );
    }
    found.then_some("/usr/bin/chromium")
}

/// Run headless Chromium on `page` with `args`, bounded; returns (stdout, stderr).
fn browse(chromium: &str, page: &Path, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("timeout")
        .args([
            "-k",
            "5",
            "60",
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .arg(page)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::mem::take(&mut child.stdout);
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out.unwrap(), &mut text).unwrap();
        text
    });
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "chromium failed: {:?}", output);
    (
        reader.join().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn no_console_errors(stderr: &str) {
    let bad: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load resource"))
        .collect();
    assert!(bad.is_empty(), "console messages: {bad:#?}");
}

#[test]
fn the_report_tells_the_day_in_a_browser() {
    let env = Env::new();
    let expected = record_day(&env);
    let page = env.base.join("report.html");
    env.fim(&["report", "--out", page.to_str().unwrap()])
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 5 << 20);
    // Self-contained: nothing to fetch, no script.
    for needle in [
        "<script", "<link", "src=\"", "src='", "@import", "url(", "<iframe", "<img",
    ] {
        assert!(!html.contains(needle), "{needle} in the page");
    }
    for href in html.split("href=\"").skip(1) {
        assert!(
            href.starts_with('#'),
            "an outside link: {}",
            &href[..40.min(href.len())]
        );
    }
    let Some(chromium) = chromium() else { return };
    let (dom, stderr) = browse(chromium, &page, &["--dump-dom"]);
    no_console_errors(&stderr);
    // The incident, as one story from the failed logins to the webshell's use.
    let story = format!("{ATTACKER}: 41 failed logins → login as root → ");
    assert!(dom.contains(&story), "no {story:?} in the page");
    let headline = dom
        .split("class=\"story\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap();
    for step in [
        "30 scanner requests",
        "upload /upload.php",
        "(script in an upload or content folder)",
        "12 requests to /uploads/x.php",
    ] {
        assert!(headline.contains(step), "{step:?} not in {headline:?}");
    }
    assert!(
        headline.find("upload /upload.php") < headline.find("12 requests"),
        "{headline}"
    );
    // Each step links to its event, which is on the page.
    let anchors: Vec<&str> = dom
        .split("href=\"#ev-")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert!(anchors.len() >= 10, "{anchors:?}");
    for a in &anchors {
        assert!(
            dom.contains(&format!("id=\"ev-{a}\"")),
            "no event {a} on the page"
        );
    }
    // The numbers per status class.
    let classes = dom
        .split("id=\"web-classes\">")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .unwrap();
    let total = expected.ok + expected.not_found + expected.errors;
    assert!(
        classes.starts_with(&format!("{total} requests")),
        "{classes}"
    );
    for (class, n) in [
        ("2xx", expected.ok),
        ("4xx", expected.not_found),
        ("5xx", expected.errors),
        ("1xx", 0),
        ("3xx", 0),
    ] {
        assert!(
            classes.contains(&format!("data-class=\"{class}\">{class} {n}<")),
            "{class} {n} not in {classes}"
        );
    }
    assert!(dom.contains("1 successful login, 41 failures"));
    // Hostile strings are text, not markup.
    assert!(dom.contains("&lt;script&gt;alert('ua')&lt;/script&gt;"));
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert!(!dom.contains("<script") && !dom.contains("<img"));
    assert!(
        dom.contains("3 changed files not accepted"),
        "the drift is open"
    );
    // A look, as an operator would have.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, stderr) = browse(
        chromium,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2400",
        ],
    );
    no_console_errors(&stderr);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn verify_writes_the_report_at_the_end_of_its_run() {
    let env = Env::new();
    let policy = env.write_policy(POLICY);
    env.fim(&["init", "--policy", policy.to_str().unwrap()])
        .success();
    let page = env.base.join("nightly.html");
    env.fim(&["verify", "--report", page.to_str().unwrap()])
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Clean: nothing was reported"), "{html}");
    std::fs::write(env.path("new.php"), "<?php\n").unwrap();
    assert_eq!(
        env.fim(&["verify", "--report", page.to_str().unwrap()])
            .code,
        1
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // The file, and its folder's times.
    assert!(html.contains("2 changed files not accepted"), "{html}");
    assert!(html.contains(&env.path("new.php").display().to_string()));
    // A report that cannot be written is an error naming the file, and no half page.
    let bad = env.base.join("no/such/dir/r.html");
    let run = env.fim(&["report", "--out", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/dir/r.html"), "{}", run.stderr);
}

fn incident_of(env: &Env, id: &str, text: bool) -> common::Run {
    let mut args = vec!["events", "--incident", id];
    if text {
        args.extend(["--format", "text"]);
    }
    env.fim(&args)
}

#[test]
fn an_incident_is_printed_as_its_chain_of_events() {
    let env = Env::new();
    record_day(&env);
    let planted: Vec<Value> = env
        .fim(&["events", "--kind", "planted-file"])
        .success()
        .events();
    let planted_id = planted[0]["id"].as_str().unwrap();
    // Asked by any of its events, the incident is the same, named by its first event.
    let chain = incident_of(&env, planted_id, false).success().events();
    assert_eq!(chain[0]["category"], "auth");
    assert_eq!(chain[0]["kind"], "brute-force");
    let kinds: Vec<&str> = chain.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    assert!(at("login-after-failures") < at("planted-file"));
    assert!(at("planted-file") < at("new"));
    assert!(at("new") < at("webshell-access"));
    assert!(chain
        .iter()
        .any(|e| e["path"] == env.path("uploads/x.php").to_str().unwrap()));
    // The other visitors are no part of it.
    assert!(chain.iter().all(|e| !e["client"]
        .as_str()
        .is_some_and(|c| c.starts_with("192.0.2."))));
    let first = chain[0]["id"].as_str().unwrap();
    let again = incident_of(&env, first, false).success().events();
    assert_eq!(again, chain);
    let text = incident_of(&env, first, true).success().stdout.clone();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{ATTACKER}: 41 failed logins → login as root")),
        "{text}"
    );
    assert_eq!(lines.count(), chain.len());
    assert!(text.contains(&format!("(event {planted_id})")));
    // An unknown id is an error, not an empty story.
    let run = incident_of(&env, "no-such-id", false);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-id"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

fn status(env: &Env) -> common::Run {
    env.fim(&["status"])
}

#[test]
fn status_says_whether_the_daemon_runs_and_what_needs_attention() {
    let env = Env::new();
    env.init();
    assert_eq!(env.fim(&["verify"]).code, 0);
    let run = status(&env);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("! daemon      `fim watch` has never run"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  last verify ") && run.stdout.contains("no differences"));
    let daemon = Daemon::start(&env, &[]);
    let run = status(&env);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("running since")
            && run.stdout.contains(&format!("(pid {})", daemon.pid())),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("inotify watches"), "{}", run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.starts_with('!')),
        "{}",
        run.stdout
    );
    // Killed without a word: its last state stays, but it is not running.
    daemon.signal(rustix::process::Signal::KILL);
    daemon.stop_after_signal();
    let run = status(&env);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("! daemon      not running"),
        "{}",
        run.stdout
    );
    // Drift found by the nightly run needs attention too.
    let daemon = Daemon::start(&env, &[]);
    std::fs::write(env.path("index.php"), "<?php evil();\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.fim(&["verify"]).code, 1);
    let run = status(&env);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("! last verify"), "{}", run.stdout);
    daemon.stop();
    // No baseline: an error.
    let run = common::fim(&["status", "--db", env.base.join("none.db").to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("none.db"));
}

#[test]
fn status_lists_an_open_incident() {
    let env = Env::new();
    record_day(&env);
    let run = status(&env);
    assert_eq!(run.code, 1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("! incident"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.contains("[critical]") && line.contains(ATTACKER),
        "{line}"
    );
}

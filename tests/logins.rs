//! Logins end to end: a real sshd on loopback attacked with hydra and sshpass, then a
//! real key login as root, read from the auth log rsyslogd wrote; `fim verify` and
//! `fim analyze` report it, and what fim learned of sources is kept in the baseline.
//! Plus hand-written lines: quiet hours in local time across a DST change, garbage.

mod common;
#[path = "common/journald.rs"]
mod journald;
#[path = "common/servers.rs"]
#[allow(dead_code)]
mod servers;
#[path = "common/sshd.rs"]
mod sshd;

use std::process::Command;

use common::{related, Env};
use journald::Journald;
use serde_json::Value;
use sshd::Sshd;

fn kinds(events: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = events
        .iter()
        .filter(|e| e["category"] == "auth")
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k.dedup();
    k
}

fn of_kind<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// After `init` with `policy`: hydra on root, then (`enumerate`) on five user names and
/// one password try, then a key login as root; `verify`'s events and its one
/// `login-after-failures`, from 127.0.0.1 as root, ended by the success.
fn attacked_then_logged_into(
    env: &Env,
    sshd: &Sshd,
    policy: &str,
    enumerate: bool,
) -> (Vec<Value>, Value) {
    // What was logged before init (sshd's start) is not reported.
    env.init_with_policy(policy);
    sshd.hydra(&["root"], &["a", "b", "c", "d", "e", "f"]);
    if enumerate {
        sshd.hydra(&["admin", "oracle", "test", "ubuntu", "pi"], &["x"]);
        sshd.password("nosuchuser", "wrong");
    }
    sshd.login_with_key();
    let events = env.verify();
    let mut expected = vec![
        "brute-force",
        "login-after-failures",
        "login-new-source",
        "root-login",
    ];
    if enumerate {
        expected.push("user-enumeration");
    }
    assert_eq!(kinds(&events), expected, "{events:#?}");
    let after = of_kind(&events, "login-after-failures");
    assert_eq!(after.len(), 1, "one login, one event: {after:#?}");
    let after = after[0].clone();
    assert_eq!(after["severity"], "critical");
    assert_eq!(after["user"], "root");
    assert_eq!(after["client"], "127.0.0.1");
    assert_eq!(after["service"], "sshd");
    let last = after["evidence"].as_array().unwrap().last().unwrap();
    assert!(
        last["line"]
            .as_str()
            .unwrap()
            .contains("Accepted publickey for root from 127.0.0.1"),
        "{after:#}"
    );
    (events, after)
}

#[test]
fn a_real_sshd_attacked_then_logged_into() {
    if !sshd::have_all() {
        return;
    }
    let env = Env::new();
    let sshd = Sshd::start(&env.base);
    let (ecs, ocsf) = (env.base.join("ecs.jsonl"), env.base.join("ocsf.jsonl"));
    let policy = format!(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\nfiles = [\"{}\"]\nlearning = \"0s\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        sshd.log.display(),
        ecs.display(),
        ocsf.display()
    );
    let (events, after) = attacked_then_logged_into(&env, &sshd, &policy, true);
    assert!(after["count"].as_u64().unwrap() >= 7, "{after:#}");
    let brute = of_kind(&events, "brute-force");
    let failures: u64 = brute.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(failures as usize, sshd.failures(), "{brute:#?}");
    // Read once: a second verify has nothing new; a login from the same network is
    // not new any more (the learned source is in the baseline), but still root.
    assert!(kinds(&env.verify()).is_empty());
    sshd.login_with_key();
    assert_eq!(kinds(&env.verify()), ["root-login"]);

    // The same attack replayed from the RFC 3339 log, told by its first line.
    let run = common::fim(&["analyze", sshd.log_hp.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert_eq!(
        kinds(&run.events()),
        [
            "brute-force",
            "login-after-failures",
            "root-login",
            "user-enumeration"
        ],
        "no learned source without --db, and the first week only learns"
    );
    validate(&ecs, &ocsf);
}

/// The sinks' ECS and OCSF outputs against the published schemas, when fetched.
fn validate(ecs: &std::path::Path, ocsf: &std::path::Path) {
    let fields = std::env::var("FIM_ECS_FIELDS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/schemas/ecs_flat.json").to_owned()
    });
    let python_ok = Command::new("python3")
        .args(["-c", "import jsonschema, ocsf_json_schema"])
        .status()
        .is_ok_and(|s| s.success());
    if !std::path::Path::new(&fields).exists() || !python_ok {
        assert!(
            std::env::var_os("FIM_REQUIRE_SCHEMAS").is_none(),
            "schemas missing"
        );
        eprintln!("skipped: run tests/schemas/fetch.sh target/schemas to validate");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas/validate.py");
    for args in [
        vec!["ocsf", ocsf.to_str().unwrap()],
        vec!["ecs", ecs.to_str().unwrap(), &fields],
    ] {
        let out = Command::new("python3")
            .arg(script)
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(" 0 problems"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn analyze(env: &Env, lines: &[u8], extra: &[&str], tz: &str) -> Vec<Value> {
    let log = env.base.join("auth.log");
    std::fs::write(&log, lines).unwrap();
    let policy = env.base.join("logins.toml");
    std::fs::write(&policy, "[logins]\nquiet_hours = \"01:00-05:00\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(["analyze", "--policy", policy.to_str().unwrap()])
        .args(extra)
        .arg(&log)
        .env("TZ", tz)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn quiet_hours_are_local_time_across_a_dst_change() {
    let env = Env::new();
    let login = |ts: &str, user: &str| {
        format!("{ts} web sshd[9]: Accepted publickey for {user} from 192.0.2.4 port 1 ssh2: ED25519 SHA256:x\n")
    };
    // Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    let text = [
        login("2026-03-28T03:30:00Z", "a"),      // 04:30 CET: quiet
        login("2026-03-29T00:30:00Z", "b"),      // 01:30 CET: quiet
        login("2026-03-29T03:30:00Z", "c"),      // 05:30 CEST: not (04:30 without DST)
        login("2026-10-25T03:30:00Z", "d"),      // 04:30 CET after the change back: quiet
        login("2026-10-24T03:30:00Z", "e"),      // 05:30 CEST: not
        login("2026-06-01T12:00:00+02:00", "f"), // noon: not
    ]
    .concat();
    let events = analyze(&env, text.as_bytes(), &[], "Europe/Berlin");
    let mut quiet: Vec<&str> = of_kind(&events, "login-quiet-hours")
        .iter()
        .map(|e| e["user"].as_str().unwrap())
        .collect();
    quiet.sort();
    assert_eq!(quiet, ["a", "b", "d"], "{events:#?}");
    // Traditional stamps have no zone: they are the host's local time (01:30 local,
    // quiet in both zones; 01:30 UTC, or 00:30 UTC in Berlin).
    let events = analyze(
        &env,
        b"Jan  5 01:30:00 web sshd[1]: Accepted password for g from 192.0.2.4 port 1 ssh2\n",
        &["--log-format", "auth"],
        "UTC",
    );
    assert_eq!(of_kind(&events, "login-quiet-hours").len(), 1);
    assert!(
        events[0]["first_ts"]
            .as_str()
            .unwrap()
            .ends_with("01:30:00.000Z"),
        "{events:#?}"
    );
    let events = analyze(
        &env,
        b"Jan  5 01:30:00 web sshd[1]: Accepted password for g from 192.0.2.4 port 1 ssh2\n",
        &["--log-format", "auth"],
        "Europe/Berlin",
    );
    assert!(
        events[0]["first_ts"]
            .as_str()
            .unwrap()
            .ends_with("00:30:00.000Z"),
        "{events:#?}"
    );
}

#[test]
fn garbage_huge_and_non_utf8_lines_are_skipped() {
    let env = Env::new();
    let mut text = Vec::new();
    text.extend_from_slice(
        b"2026-12-01T10:00:00Z web sshd[1]: Server listening on 0.0.0.0 port 22.\n",
    );
    text.extend_from_slice(b"\xff\xfe garbage \x00\n");
    text.extend_from_slice(&vec![b'x'; 1 << 20]);
    text.push(b'\n');
    for i in 0..5 {
        text.extend_from_slice(format!("2026-12-01T10:00:0{i}Z web sshd-session[2]: Failed password for admin from 198.51.100.{i} port 1 ssh2\n").as_bytes());
        text.extend_from_slice(format!("2026-12-01T10:00:0{i}Z web sshd-session[2]: Failed password for root from 198.51.100.{} port 1 ssh2\n", i + 10).as_bytes());
        text.extend_from_slice(b"2026-12-01T10:00:05Z web sshd-session[2]: Failed password for \xff\xfe from 198.51.100.99 port 1 ssh2\n");
    }
    let events = analyze(&env, &text, &["--log-format", "auth"], "UTC");
    assert_eq!(kinds(&events), ["brute-force"], "{events:#?}");
    assert!(
        events.iter().any(|e| e["client"] == "198.51.100.0/24"),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e["client"] == "198.51.100.99"),
        "{events:#?}"
    );
}

#[test]
fn watch_follows_an_auth_log_live() {
    let env = Env::new();
    let log = env.base.join("auth.log");
    std::fs::write(
        &log,
        "2026-01-01T00:00:00Z web sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2\n",
    )
    .unwrap();
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\nfiles = [\"{}\"]\n",
        log.display()
    ));
    let mut daemon = common::Daemon::start(&env, &[]);
    let now = chrono::Utc::now();
    let mut lines = String::new();
    for i in 0..5 {
        let ts = (now + chrono::Duration::seconds(i)).to_rfc3339();
        lines.push_str(&format!(
            "{ts} web sshd[2]: Failed password for root from 198.51.100.7 port {i} ssh2\n"
        ));
    }
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, lines.as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !daemon.drain().iter().any(|e| e["kind"] == "brute-force") {
        assert!(std::time::Instant::now() < deadline, "{:#?}", daemon.seen);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let brute: Vec<&Value> = of_kind(&daemon.seen, "brute-force");
    assert_eq!(brute.len(), 1);
    assert_eq!(brute[0]["count"], 5, "the line before init is not read");
    assert_eq!(brute[0]["client"], "198.51.100.7");
    assert_eq!(brute[0]["source"], "watch");
}

/// The journal's auth entries, from its lines.
fn journal_evidence(event: &Value) -> Vec<&str> {
    event["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_str().unwrap())
        .collect()
}

#[test]
fn a_real_sshd_logging_to_a_real_journal() {
    if !sshd::have_all() || !journald::have() {
        return;
    }
    let env = Env::new();
    let journald = Journald::start();
    let sshd = Sshd::start_into_journal(&env.base, &journald);
    let policy = format!(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\njournal = true\njournal_namespace = \"{}\"\n\
         learning = \"0s\"\n\n[logins.root-login]\ncooldown = \"1s\"\n",
        journald.namespace
    );
    let (_, after) = attacked_then_logged_into(&env, &sshd, &policy, false);
    let name = format!("journal:{}", journald.namespace);
    assert_eq!(after["evidence"][0]["file"], name.as_str());
    let lines = journal_evidence(&after);
    assert!(lines.last().unwrap().contains(" sshd["), "{lines:#?}");
    // The cursor was saved with the events: a second run reads only what is new.
    assert!(env.verify().iter().all(|e| e["category"] != "auth"));
    sshd.login_with_key();
    let events = env.verify();
    let root = of_kind(&events, "root-login");
    assert_eq!(root.len(), 1, "{events:#?}");
    assert_eq!(root[0]["count"], 1, "nothing read twice: {events:#?}");

    // Live: a login is reported at once, and a journalctl that dies is started again
    // from where it stopped (the login made while it was down is not lost).
    let mut daemon = common::Daemon::start(&env, &[]);
    sshd.login_with_key();
    let wait = |daemon: &mut common::Daemon, n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while of_kind(daemon.drain(), "root-login").len() < n {
            assert!(std::time::Instant::now() < deadline, "{:#?}", daemon.seen);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait(&mut daemon, 1);
    let children = std::fs::read_to_string(format!(
        "/proc/{}/task/{}/children",
        daemon.pid(),
        daemon.pid()
    ))
    .unwrap();
    let journalctl: Vec<i32> = children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "journalctl")
        })
        .collect();
    assert_eq!(journalctl.len(), 1, "one follower: {children}");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(journalctl[0]).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sshd.login_with_key();
    wait(&mut daemon, 2);
    let (code, _, seen) = daemon.stop();
    assert_eq!(code, 0);
    assert_eq!(of_kind(&seen, "root-login").len(), 2, "{seen:#?}");
    // No journalctl outlives the daemon.
    assert!(
        !std::path::Path::new(&format!("/proc/{}", journalctl[0])).exists()
            || std::fs::read_to_string(format!("/proc/{}/comm", journalctl[0]))
                .map_or(true, |c| c.trim() != "journalctl")
    );
}

#[test]
fn journal_entries_by_their_fields_not_their_text() {
    if !journald::have() {
        return;
    }
    let env = Env::new();
    let journald = Journald::start();
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\njournal_namespace = \"{}\"\n",
        journald.namespace
    ));
    let fail = |i: u32| format!("Failed password for root from 203.0.113.9 port {i} ssh2");
    for i in 0..5 {
        // Another program's text that looks like sshd's is not sshd's.
        journald.send(&[("SYSLOG_IDENTIFIER", "cron"), ("MESSAGE", &fail(i))]);
    }
    for i in 0..5 {
        journald.send(&[("SYSLOG_IDENTIFIER", "sshd-session"), ("MESSAGE", &fail(i))]);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while journald.text().matches("Failed password").count() < 10 {
        assert!(std::time::Instant::now() < deadline, "{}", journald.text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let events = env.verify();
    let brute = of_kind(&events, "brute-force");
    assert_eq!(brute.len(), 1, "{events:#?}");
    assert_eq!(brute[0]["count"], 5, "{events:#?}");
    assert_eq!(brute[0]["client"], "203.0.113.9");
    // A namespace without a journal is an empty journal to journalctl: nothing to
    // report, no failure.
    let gone = env.write_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\njournal_namespace = \"fim-no-such-namespace\"\n",
    );
    let run = env.fim(&["verify", "--policy", gone.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.events().is_empty());
}

/// The auth events that tie something to a login (`related` not empty).
fn ties(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["category"] == "auth" && !e["related"].as_array().unwrap().is_empty())
        .collect()
}

#[test]
fn what_a_session_changed_is_tied_to_its_login() {
    if !sshd::have_all() {
        return;
    }
    let env = Env::new();
    let sshd = Sshd::start(&env.base);
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\nfiles = [\"{}\"]\nlearning = \"0s\"\n",
        sshd.log.display()
    ));
    // Changed before the login: not the session's.
    std::fs::write(env.path("style.css"), "body { color: red }\n").unwrap();
    sshd.hydra(&["root"], &["a", "b", "c", "d", "e", "f"]);
    // A session covers changes from 2 s before its login line, whose time has whole
    // seconds: 3.1 s after the change, the login cannot reach back to it, however
    // fast hydra was.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let shell = env.path("x.php");
    sshd.session(&format!(
        "echo '<?php system($_GET[\"c\"]);' > {}",
        shell.display()
    ));
    wait_for_log(&sshd, "Disconnected from user root");
    let events = env.verify();
    let login = of_kind(&events, "login-after-failures")
        .into_iter()
        .find(|e| related(e).is_empty())
        .expect("the login event, sent as it was");
    let shell_event = common::event_for(&events, &shell);
    assert_eq!(shell_event["kind"], "new");
    let css = common::event_for(&events, &env.path("style.css"));
    let tie = ties(&events);
    assert_eq!(tie.len(), 1, "one follow-up: {events:#?}");
    let tie = tie[0];
    assert_eq!(
        tie["kind"], "login-after-failures",
        "the most telling login kind"
    );
    assert_eq!(tie["severity"], "critical");
    assert_eq!(tie["user"], "root");
    assert_eq!(tie["client"], "127.0.0.1");
    let ids = related(tie);
    assert_eq!(ids[0], login["id"].as_str().unwrap(), "{tie:#?}");
    assert!(
        ids.contains(&shell_event["id"].as_str().unwrap()),
        "{tie:#?}"
    );
    assert!(!ids.contains(&css["id"].as_str().unwrap()), "{tie:#?}");
    // The other login events of that line are named too.
    let root = of_kind(&events, "root-login");
    assert!(ids.contains(&root[0]["id"].as_str().unwrap()), "{tie:#?}");
    assert!(
        tie["summary"].as_str().unwrap().contains("x.php"),
        "{tie:#?}"
    );
    let lines = journal_evidence(tie);
    assert!(
        lines[0].contains("Accepted publickey for root"),
        "{lines:#?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("Disconnected from user root"),
        "{lines:#?}"
    );
}

fn wait_for_log(sshd: &Sshd, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sshd.logged(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "sshd never logged {text:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn watch_ties_a_live_session_and_its_processes_to_the_login() {
    if !sshd::have_all() {
        return;
    }
    let env = Env::new();
    let sshd = Sshd::start(&env.base);
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[logins]\nfiles = [\"{}\"]\n\n[processes]\ninterval = \"1s\"\n",
        sshd.log.display()
    ));
    let mut daemon = common::Daemon::start(&env, &[]);
    let planted = env.path("up.php");
    let exe = format!("/tmp/fim-session-{}", std::process::id());
    // A pause first: the login line is read before the session's first exec.
    sshd.session(&format!(
        "sleep 1; cp /bin/sleep {exe}; echo '<?php' > {}; {exe} 2; rm -f {exe}",
        planted.display()
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !daemon
        .drain()
        .iter()
        .any(|e| e["kind"] == "exec-from-writable")
        || ties(&daemon.seen).is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "{:#?}", daemon.seen);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let seen = daemon.seen.clone();
    let login = of_kind(&seen, "root-login")
        .into_iter()
        .find(|e| related(e).is_empty())
        .expect("the login, sent at once");
    let file = common::event_for(&seen, &planted);
    let follow_up: Vec<&Value> = ties(&seen)
        .into_iter()
        .filter(|e| e["category"] == "auth")
        .collect();
    assert_eq!(follow_up.len(), 1, "{seen:#?}");
    let ids = related(follow_up[0]);
    assert!(ids.contains(&login["id"].as_str().unwrap()), "{seen:#?}");
    assert!(ids.contains(&file["id"].as_str().unwrap()), "{seen:#?}");
    // The process the session ran from a writable directory names the login.
    let exec: Vec<&Value> = seen
        .iter()
        .filter(|e| e["kind"] == "exec-from-writable" && e["exe"] == exe.as_str())
        .collect();
    assert!(!exec.is_empty(), "{seen:#?}");
    assert_eq!(
        related(exec[0]),
        [login["id"].as_str().unwrap()],
        "{seen:#?}"
    );
}

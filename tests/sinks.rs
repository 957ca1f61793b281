//! `[[sink]]`s against real receivers on loopback: rsyslogd, aiosmtpd, and a webhook
//! endpoint that fails on purpose; the durable outbox across a killed agent; ECS and
//! OCSF output checked against the published schemas.

mod common;

#[path = "common/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use rustix::process::Signal;
use serde_json::Value;
use servers::*;

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The first arrival of each id, in arrival order (receivers drop duplicates by id).
fn deduped(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

fn lines_of(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The recorded history, in order.
fn history(env: &Env) -> Vec<String> {
    ids(&env.fim(&["events"]).success().events())
}

#[test]
fn file_sink_follows_logrotate_create_and_copytruncate() {
    let env = Env::new();
    let log = env.base.join("fim-events.jsonl");
    env.init_with_policy(&file_sink_policy(&log));
    let mut d = Daemon::start(&env, &[]);
    let has = |path: &Path, id: &Value| lines_of(path).iter().any(|l| l["id"] == *id);

    let first = d.expect("modified", &env.path("index.php").tap_write("v2"));
    wait_for("the first event in the file", || has(&log, &first["id"]));
    // The sink writes exactly what stdout got.
    assert_eq!(lines_of(&log)[0], first);

    // logrotate `create`: the file is renamed away and a new empty one put in place.
    let rotated = env.base.join("fim-events.jsonl.1");
    fs::rename(&log, &rotated).unwrap();
    fs::write(&log, "").unwrap();
    let second = d.expect("modified", &env.path("style.css").tap_write("b"));
    wait_for("the second event in the new file", || {
        has(&log, &second["id"])
    });
    assert!(!has(&rotated, &second["id"]));

    // logrotate `copytruncate`: copied, then truncated in place; writes go on at the
    // start of the truncated file (no hole of NULs where the old content was).
    fs::copy(&log, env.base.join("fim-events.jsonl.2")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    let third = d.expect("modified", &env.path("sub/page.html").tap_write("c"));
    wait_for("the third event after truncation", || {
        has(&log, &third["id"])
    });
    let text = fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\0'), "a hole after copytruncate: {text:?}");
    assert_eq!(lines_of(&log)[0]["id"], third["id"]);

    // Rotated away with nothing put back: the sink creates the file again.
    fs::rename(&log, env.base.join("fim-events.jsonl.3")).unwrap();
    let fourth = d.expect("modified", &env.path("sub/deeper/data.txt").tap_write("d"));
    wait_for("the fourth event in a re-created file", || {
        has(&log, &fourth["id"])
    });

    // SIGHUP (logrotate's postrotate, `systemctl reload`) reopens it too.
    fs::rename(&log, env.base.join("fim-events.jsonl.4")).unwrap();
    d.signal(Signal::HUP);
    d.wait_notify("STATUS=policy reloaded; rescanning");
    let fifth = d.expect("new", &env.path("after-hup.txt").tap_write("e"));
    wait_for("the fifth event after SIGHUP", || has(&log, &fifth["id"]));
    assert_eq!(d.stop().0, 0);
}

trait TapWrite {
    fn tap_write(self, content: &str) -> Self;
}

impl TapWrite for std::path::PathBuf {
    /// Write `content` to the file and hand the path on.
    fn tap_write(self, content: &str) -> Self {
        fs::write(&self, content).unwrap();
        self
    }
}

#[test]
fn syslog_sink_reaches_rsyslogd_over_udp_tcp_and_the_local_socket() {
    if !have("/usr/sbin/rsyslogd", "Debian package rsyslog") {
        return;
    }
    let env = Env::new();
    let rsyslog = Rsyslog::start(&env.base);
    std::env::set_var(
        "FIM_TEST_SYSLOG_TCP",
        format!("tcp://127.0.0.1:{}", rsyslog.tcp),
    );
    env.init_with_policy(&format!(
        r#"[[watch]]
path = "ROOT"

[[sink]]
type = "syslog"
address = "udp://127.0.0.1:{udp}"
facility = "local3"
app_name = "fim-udp"

[[sink]]
type = "syslog"
address = {{ env = "FIM_TEST_SYSLOG_TCP" }}
app_name = "fim-tcp"
format = "ecs"

[[sink]]
type = "syslog"
address = "unix://{socket}"
facility = "daemon"
format = "ocsf"
"#,
        udp = rsyslog.udp,
        socket = rsyslog.socket.display()
    ));
    // Several events, one with a newline and a quote in its name: framing must hold.
    fs::write(env.path("index.php"), "changed").unwrap();
    fs::write(env.path("evil\n\"name].php"), "x").unwrap();
    fs::remove_file(env.path("style.css")).unwrap();
    let events = env.verify();
    assert!(events.len() >= 3);
    let expected: HashSet<String> = ids(&events).into_iter().collect();

    let by_input = |input: &str| -> Vec<Vec<String>> {
        rsyslog
            .lines()
            .iter()
            .filter_map(|l| {
                let parts: Vec<String> = l.splitn(5, ' ').map(str::to_owned).collect();
                (parts[0] == input).then_some(parts)
            })
            .collect()
    };
    wait_for("every event over all three transports", || {
        ["imudp", "imtcp", "imuxsock"]
            .iter()
            .all(|i| by_input(i).len() >= events.len())
    });
    for (input, facility, app, id_of) in [
        (
            "imudp",
            "local3",
            "fim-udp",
            &(|v: &Value| v["id"].clone()) as &dyn Fn(&Value) -> Value,
        ),
        ("imtcp", "authpriv", "fim-tcp", &|v: &Value| {
            v["event"]["id"].clone()
        }),
        ("imuxsock", "daemon", "fim", &|v: &Value| {
            v["metadata"]["uid"].clone()
        }),
    ] {
        let got = by_input(input);
        assert_eq!(got.len(), events.len(), "{input}: {got:?}");
        let mut seen = HashSet::new();
        for parts in got {
            assert_eq!(parts[1], facility, "{input}");
            assert_eq!(parts[2], app, "{input}");
            assert!(["new", "modified", "deleted"].contains(&parts[3].as_str()));
            let body: Value = serde_json::from_str(parts[4].trim_start()).unwrap_or_else(|e| {
                panic!("{input}: message body is not JSON ({e}): {}", parts[4])
            });
            seen.insert(id_of(&body).as_str().unwrap().to_owned());
        }
        assert_eq!(seen, expected, "{input}");
    }
}

/// A policy watching ROOT with one file sink.
fn file_sink_policy(path: &Path) -> String {
    format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"file\"\npath = \"{}\"\n",
        path.display()
    )
}

fn webhook_policy(url: &str, extra: &str) -> String {
    format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"webhook\"\nurl = \"{url}\"\nretry_max = \"1s\"\n{extra}"
    )
}

#[test]
fn webhook_retries_until_acknowledged_in_order_with_headers_from_the_environment() {
    let env = Env::new();
    let hook = Hook::start(2);
    std::env::set_var("FIM_TEST_HOOK_TOKEN", "Bearer s3cret");
    env.init_with_policy(&webhook_policy(
        &hook.url(),
        "batch = 2\nheaders = { Authorization = { env = \"FIM_TEST_HOOK_TOKEN\" }, X-Site = \"www\" }\n",
    ));
    for i in 0..5 {
        fs::write(env.path(&format!("new-{i}.php")), "x").unwrap();
    }
    let events = env.verify();
    assert!(events.len() >= 5);
    // Two failures, then every event, in the order printed, two per request at most.
    assert_eq!(hook.failed.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(ids(&hook.events()), ids(&events));
    for request in hook.requests() {
        assert!(request.body.as_array().unwrap().len() <= 2);
        assert_eq!(request.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(request.header("x-site"), Some("www"));
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        hook.events()[0],
        events[0],
        "the fim format is the event as printed"
    );

    // Nothing new: nothing sent again.
    let before = hook.requests().len();
    env.verify();
    let again = hook.requests().len();
    assert_eq!(
        deduped(ids(&hook.events())).len(),
        hook.events().len(),
        "no duplicates without a failure"
    );
    assert!(
        again > before,
        "the second verify's events are delivered too"
    );
}

#[test]
fn a_missing_secret_is_an_error_naming_the_variable() {
    let env = Env::new();
    let policy = env.write_policy(&webhook_policy(
        "http://127.0.0.1:9/",
        "headers = { Authorization = { env = \"FIM_TEST_UNSET_VARIABLE\" } }\n",
    ));
    let run = env.fim(&["init", "--policy", policy.to_str().unwrap()]);
    run.success();
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("FIM_TEST_UNSET_VARIABLE is not set"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);

    // A secret file open to others is refused; one only its owner reads is used.
    let secret = env.base.join("hook.secret");
    fs::write(&secret, "Bearer from-file\n").unwrap();
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let hook = Hook::start(0);
    let policy = env.write_policy(&webhook_policy(
        &hook.url(),
        &format!(
            "headers = {{ Authorization = {{ file = \"{}\" }} }}\n",
            secret.display()
        ),
    ));
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    fs::write(env.path("index.php"), "changed").unwrap();
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        hook.requests()[0].header("authorization"),
        Some("Bearer from-file")
    );

    // A file sink that cannot be written is an error at start-up, naming the file.
    let policy = env.write_policy(&file_sink_policy(Path::new(
        "/nonexistent/fim/events.jsonl",
    )));
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("/nonexistent/fim/events.jsonl: No such file or directory"),
        "{}",
        run.stderr
    );
    let fifo = env.base.join("events.fifo");
    mkfifo(&fifo);
    let policy = env.write_policy(&file_sink_policy(&fifo));
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(
        run.code, 2,
        "a FIFO without a reader fails at once: {}",
        run.stderr
    );

    // A URL from the environment is checked when the sink starts, not retried forever.
    std::env::set_var("FIM_TEST_BAD_URL", "hooks.example.org/x");
    let policy = env.write_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"slack\"\nurl = { env = \"FIM_TEST_BAD_URL\" }\n",
    );
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("url \"hooks.example.org/x\""),
        "{}",
        run.stderr
    );
}

#[test]
fn events_survive_a_killed_agent_and_a_down_endpoint_exactly_once_in_order() {
    let env = Env::new();
    let port = free_port();
    env.init_with_policy(&webhook_policy(
        &format!("http://127.0.0.1:{port}/hook"),
        "batch = 3\n",
    ));
    let mut d = Daemon::start(&env, &[]);
    for i in 0..12 {
        let path = env.path(&format!("while-down-{i}.txt"));
        fs::write(&path, format!("{i}")).unwrap();
        d.expect("new", &path);
    }
    // The endpoint is down: the daemon says so in STATUS= (and keeps detecting).
    let mut failing = Vec::new();
    wait_for("a failing sink in STATUS=", || {
        failing.extend(d.statuses().into_iter().filter(|s| s.contains("failing")));
        !failing.is_empty()
    });
    // URLs are named without their path, where webhooks keep their tokens.
    assert!(
        failing[0].contains(&format!("sink webhook:http://127.0.0.1:{port}/…#")),
        "{failing:?}"
    );
    assert!(!failing[0].contains("/hook"), "{failing:?}");
    d.signal(Signal::KILL);
    drop(d);
    // Changes while the agent is dead too.
    for i in 0..5 {
        fs::write(env.path(&format!("while-dead-{i}.txt")), "x").unwrap();
    }
    let hook = Hook::start_on(port, 1);
    let mut d = Daemon::start(&env, &[]);
    let recorded = history(&env);
    assert!(
        recorded.len() >= 17 + 2,
        "{} events recorded",
        recorded.len()
    );
    wait_for("every recorded event at the endpoint", || {
        let got: HashSet<String> = ids(&hook.events()).into_iter().collect();
        recorded.iter().all(|id| got.contains(id))
    });
    // Exactly once after dropping duplicates by id, in the order they were recorded.
    assert_eq!(deduped(ids(&hook.events())), recorded);
    // The restarted daemon reported what changed while it was dead.
    let printed = d.drain().to_vec();
    for i in 0..5 {
        let path = env.path(&format!("while-dead-{i}.txt"));
        assert!(printed
            .iter()
            .any(|e| e["path"] == path.to_str().unwrap() && e["kind"] == "new"));
    }
    assert_eq!(d.stop().0, 0);
}

#[test]
fn a_hanging_sink_delays_neither_detection_nor_the_other_sinks() {
    let env = Env::new();
    // Accepts connections, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let log = env.base.join("events.jsonl");
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\"\ntimeout = \"60s\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\n",
        log.display()
    ));
    let mut d = Daemon::start(&env, &[]);
    for i in 0..5 {
        let path = env.path(&format!("f{i}"));
        fs::write(&path, "x").unwrap();
        let started = Instant::now();
        let event = d.expect("new", &path);
        assert!(started.elapsed() < Duration::from_secs(5));
        wait_for("the file sink", || {
            lines_of(&log).iter().any(|l| l["id"] == event["id"])
        });
    }
    let (code, took, _) = d.stop();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    drop(silent);
}

fn slack_texts(hook: &Hook) -> Vec<String> {
    hook.requests()
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn slack_gets_one_digest_per_burst() {
    let env = Env::new();
    let hook = Hook::start(0);
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"slack\"\nurl = \"{}\"\nwindow = \"4s\"\n",
        hook.url()
    ));
    let mut d = Daemon::start(&env, &[]);
    fs::create_dir(env.path("deploy")).unwrap();
    for i in 0..40 {
        fs::write(env.path(&format!("deploy/file-{i}.html")), "x").unwrap();
    }
    d.expect("new", &env.path("deploy/file-39.html"));
    wait_for("the digest", || !hook.requests().is_empty());
    std::thread::sleep(Duration::from_secs(3));
    let texts = slack_texts(&hook);
    assert_eq!(texts.len(), 1, "one message for the burst: {texts:#?}");
    let root = env.root.to_str().unwrap();
    let count = d.drain().len();
    assert!(
        texts[0].contains(&format!(
            "{count} changes under {root}: {count} medium; first 20 listed"
        )),
        "{}",
        texts[0]
    );
    assert_eq!(texts[0].matches("\n- medium ").count(), 20, "{}", texts[0]);
    assert_eq!(d.stop().0, 0);
}

#[test]
fn slack_sends_critical_at_once_and_leaves_out_identical_repeats() {
    let env = Env::new();
    fs::create_dir(env.path("uploads")).unwrap();
    let hook = Hook::start(0);
    let policy = env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[rule]]\nname = \"upload-code\"\npaths = [\"uploads/*.php\"]\nseverity = \"critical\"\n\n\
         [[sink]]\ntype = \"slack\"\nurl = \"{}\"\nwindow = \"10m\"\nsuppress = \"1h\"\n",
        hook.url()
    ));
    let check = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert!(
        check.stderr.contains("its URL is its credential"),
        "{}",
        check.stderr
    );
    assert!(!check.stdout.contains("/hook"), "{}", check.stdout);
    let mut d = Daemon::start(&env, &[]);
    let shell = env.path("uploads/shell.php");
    fs::write(&shell, "<?php system($_GET['c']);").unwrap();
    d.expect("new", &shell);
    // Far sooner than the 10-minute window.
    wait_for("the critical alert", || !hook.requests().is_empty());
    let texts = slack_texts(&hook);
    assert!(texts[0].contains("critical"), "{}", texts[0]);
    assert!(texts[0].contains(shell.to_str().unwrap()), "{}", texts[0]);
    assert_eq!(d.stop().0, 0);

    // `verify` reports the same differences each run until they are accepted: a
    // person hears about them once per `suppress` period. (One the daemon did not see,
    // so the first verify has something new whatever the daemon said of shell.php.)
    fs::write(env.path("uploads/later.php"), "<?php echo 1;").unwrap();
    let sent = hook.requests().len();
    let policy = policy.to_str().unwrap();
    assert_eq!(env.fim(&["verify", "--policy", policy]).code, 1);
    let after_first = hook.requests().len();
    assert!(
        after_first > sent,
        "verify's differences are new to this sink"
    );
    assert_eq!(env.fim(&["verify", "--policy", policy]).code, 1);
    assert_eq!(
        hook.requests().len(),
        after_first,
        "identical repeats left out"
    );
    // Something different is said, with a note of what was left out.
    fs::write(env.path("style.css"), "changed").unwrap();
    assert_eq!(env.fim(&["verify", "--policy", policy]).code, 1);
    let texts = slack_texts(&hook);
    let last = texts.last().unwrap();
    assert!(last.contains("style.css"), "{last}");
    assert!(
        !last.contains("shell.php") && !last.contains("later.php"),
        "{last}"
    );
    assert!(last.contains("identical repeat"), "{last}");
}

#[test]
fn email_digest_reaches_an_smtp_server() {
    if !have(PYTHON, "python3 with aiosmtpd") {
        return;
    }
    if !python_has(PYTHON, "aiosmtpd") {
        skip(
            "/usr/bin/python3 has no aiosmtpd module (apt-get install python3-aiosmtpd)",
            Some("FIM_REQUIRE_SINK_SERVERS"),
        );
        return;
    }
    let env = Env::new();
    let smtp = Smtp::start(&env.base);
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{}\"\n\
         from = \"fim@example.org\"\nto = [\"ops@example.org\", \"Web Team <web@example.org>\"]\n",
        smtp.port
    ));
    fs::write(env.path("index.php"), "<?php eval($_POST['x']);").unwrap();
    fs::remove_file(env.path("style.css")).unwrap();
    let events = env.verify();
    wait_for("the e-mail", || !smtp.messages().is_empty());
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    // Quoted-printable soft line breaks joined back.
    let mail = &messages[0].replace("=\n", "");
    assert!(
        mail.contains(&format!(
            "Subject: fim on {}: {} changes",
            events[0]["host"].as_str().unwrap(),
            events.len()
        )),
        "{mail}"
    );
    assert!(
        mail.contains("ops@example.org") && mail.contains("web@example.org"),
        "{mail}"
    );
    assert!(
        mail.contains("style.css") && mail.contains("index.php"),
        "{mail}"
    );
}

#[test]
fn ecs_and_ocsf_validate_against_the_published_schemas() {
    let Some(fields) = schemas() else { return };
    let env = Env::new();
    let (ecs, ocsf) = (env.base.join("ecs.jsonl"), env.base.join("ocsf.jsonl"));
    fs::write(env.path("sub/old-link"), "x").unwrap();
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[rule]]\nname = \"php\"\npaths = [\"**/*.php\"]\nseverity = \"high\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        ecs.display(),
        ocsf.display()
    ));
    // Every kind of event and entry type.
    fs::write(env.path("index.php"), "changed").unwrap();
    fs::set_permissions(
        env.path("style.css"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4755),
    )
    .unwrap();
    fs::remove_file(env.path("sub/page.html")).unwrap();
    fs::remove_file(env.path("sub/old-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", env.path("sub/old-link")).unwrap();
    std::os::unix::fs::symlink("../index.php", env.path("link")).unwrap();
    fs::create_dir(env.path("newdir")).unwrap();
    mkfifo(&env.path("newdir/pipe"));
    fs::write(env.root.join(OsStr::from_bytes(b"bad-\xff-name.php")), "x").unwrap();
    let events = env.verify();
    assert!(events.len() >= 8);
    let ocsf_report = validate(&["ocsf", ocsf.to_str().unwrap()]);
    assert!(ocsf_report.contains(&format!("{} ocsf events checked, 0 problems", events.len())));
    let ecs_report = validate(&["ecs", ecs.to_str().unwrap(), &fields]);
    assert!(ecs_report.contains(&format!("{} ecs events checked, 0 problems", events.len())));
}

#[test]
fn bad_sink_tables_are_rejected_with_their_line() {
    let env = Env::new();
    for (sink, message) in [
        ("type = \"pager\"", "sink type"),
        ("type = \"file\"", "file sink needs `path`"),
        ("type = \"file\"\npath = \"relative.log\"", "must be absolute"),
        ("type = \"webhook\"\nurl = \"http://x/\"\nbatchsize = 5", "unknown key `batchsize`"),
        ("type = \"webhook\"\nurl = \"http://x/\"\nwindow = \"1m\"", "unknown key `window`"),
        ("type = \"syslog\"\naddress = \"10.0.0.1:514\"", "must start with unix://"),
        ("type = \"syslog\"\naddress = \"udp://collector\"", "needs a port"),
        ("type = \"syslog\"\nfacility = \"local9\"", "syslog facility \"local9\""),
        ("type = \"webhook\"\nurl = \"http://x/\"\nformat = \"cef\"", "webhook sink"),
        (
            "type = \"email\"\nsmtp = \"smtp://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\nusername = \"u\"\npassword = \"hunter2\"",
            "must not be written in the policy",
        ),
        ("type = \"slack\"\nurl = \"http://x/\"\nretry_max = \"soon\"", "retry_max"),
        ("type = \"slack\"\nurl = \"hooks.slack.com/x\"", "must start with http://"),
        ("type = \"email\"\nsmtp = \"mail:25\"\nfrom = \"a@b\"\nto = [\"c@d\"]", "smtp://"),
        ("type = \"email\"\nsmtp = \"smtp://x\"\nfrom = \"a@b\"\nto = []", "no recipient"),
    ] {
        let policy = env.write_policy(&format!("[[watch]]\npath = \"ROOT\"\n\n[[sink]]\n{sink}\n"));
        let run = fim(&["policy", "check", policy.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{sink}: {}", run.stderr);
        assert!(
            run.stderr.contains("policy.toml:4:") && run.stderr.contains(message),
            "{sink}: {}",
            run.stderr
        );
    }
}

#[test]
fn policy_check_warns_of_a_sink_value_this_environment_lacks() {
    let env = Env::new();
    let policy = env.write_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"webhook\"\n\
         url = { env = \"FIM_TEST_UNSET_HOOK\" }\nheaders = { Authorization = { env = \"FIM_TEST_SET_TOKEN\" } }\n",
    );
    let check = |url: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fim"));
        command
            .args(["policy", "check", policy.to_str().unwrap()])
            .env("FIM_TEST_SET_TOKEN", "Bearer t")
            .env_remove("FIM_TEST_UNSET_HOOK");
        if let Some(url) = url {
            command.env("FIM_TEST_UNSET_HOOK", url);
        }
        command.output().unwrap()
    };
    let unset = check(None);
    // The policy is sound: where fim runs, the unit may give the variable.
    assert_eq!(unset.status.code(), Some(0), "{unset:?}");
    let said = String::from_utf8_lossy(&unset.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("url: environment variable FIM_TEST_UNSET_HOOK is not set here")
            && said.contains("refuse to start"),
        "{said}"
    );
    let set = check(Some("http://127.0.0.1:9/hook"));
    assert_eq!(set.status.code(), Some(0), "{set:?}");
    assert!(set.stderr.is_empty(), "{set:?}");
    // An email sink reads `password_env` only without a `password`: no warning for it then.
    let email = env.write_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[[sink]]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:25\"\n\
         from = \"a@b\"\nto = [\"c@d\"]\nusername = \"u\"\npassword = { env = \"FIM_TEST_SET_TOKEN\" }\n\
         password_env = \"FIM_TEST_UNSET_HOOK\"\n",
    );
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(["policy", "check", email.to_str().unwrap()])
        .env("FIM_TEST_SET_TOKEN", "secret")
        .env_remove("FIM_TEST_UNSET_HOOK")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
}

#[test]
fn a_file_sink_inside_the_watched_tree_is_never_reported() {
    let env = Env::new();
    let log = env.path("fim-events.jsonl");
    env.init_with_policy(&file_sink_policy(&log));
    let mut d = Daemon::start(&env, &[]);
    let event = d.expect("modified", &env.path("index.php").tap_write("v2"));
    wait_for("the event in the sink", || {
        lines_of(&log).iter().any(|l| l["id"] == event["id"])
    });
    // Each event written would otherwise be a change, reported and written again.
    std::thread::sleep(Duration::from_millis(1500));
    let settled = d.drain().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.drain().len(), settled, "{:#?}", d.seen);
    assert!(d.about(&log).is_empty(), "{:#?}", d.seen);
    assert_eq!(d.stop().0, 0);
    let events = env.verify();
    assert!(
        events.iter().all(|e| e["path"] != log.to_str().unwrap()),
        "{events:#?}"
    );
}

#[test]
fn min_severity_leaves_out_less_severe_events_for_that_sink_only() {
    let env = Env::new();
    let (urgent, all) = (Hook::start(0), Hook::start(0));
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[rule]]\nname = \"php\"\npaths = [\"**/*.php\"]\nseverity = \"high\"\n\n\
         [[sink]]\ntype = \"webhook\"\nurl = \"{}\"\nmin_severity = \"high\"\n\n\
         [[sink]]\ntype = \"webhook\"\nurl = \"{}\"\n",
        urgent.url(),
        all.url()
    ));
    fs::write(env.path("index.php"), "changed").unwrap();
    fs::write(env.path("style.css"), "changed").unwrap();
    let events = env.verify();
    let high: Vec<Value> = events
        .iter()
        .filter(|e| e["severity"] == "high")
        .cloned()
        .collect();
    assert_eq!(high.len(), 1, "{events:#?}");
    assert_eq!(ids(&urgent.events()), ids(&high));
    assert_eq!(ids(&all.events()), ids(&events));
}

#[test]
fn a_verify_beside_the_daemon_leaves_delivery_to_it() {
    let env = Env::new();
    let hook = Hook::start(0);
    env.init_with_policy(&webhook_policy(&hook.url(), ""));
    let mut d = Daemon::start(&env, &[]);
    let live = d.expect("new", &env.path("live.txt").tap_write("x"));
    wait_for("the daemon's event at the endpoint", || {
        ids(&hook.events()).contains(&live["id"].as_str().unwrap().to_owned())
    });
    // The nightly verify reports the differences from the baseline; the daemon, which
    // holds the sink's lease, delivers them (once: verify does not send them too).
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("left to the running fim"),
        "{}",
        run.stderr
    );
    let verified = run.events();
    wait_for("verify's events, delivered by the daemon", || {
        let got: HashSet<String> = ids(&hook.events()).into_iter().collect();
        ids(&verified).iter().all(|id| got.contains(id))
    });
    let delivered = ids(&hook.events());
    assert_eq!(deduped(delivered.clone()), delivered, "nothing sent twice");
    assert_eq!(delivered, history(&env));
    assert_eq!(d.stop().0, 0);
}

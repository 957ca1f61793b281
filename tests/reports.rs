//! What people read: the text report of `verify`, the history of `fim events` (text,
//! time filters, repeats, the accept trail), and the summary lines.

mod common;

use std::fs;

use common::*;

#[test]
fn the_text_report_shows_reasons_and_counts_by_severity() {
    let env = Env::new();
    env.init();
    fs::write(env.path("sub/shell.php"), "<?php system($_GET['c']); ?>\n").unwrap();
    fs::write(env.path("style.css"), "body { color: red }\n").unwrap();
    let run = env.fim(&["verify", "--format", "text"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let shell = env.path("sub/shell.php");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("new       critical")
                && l.contains(shell.to_str().unwrap())
                && l.ends_with("— signature exec-request; request input reaches system()")),
        "{}",
        run.stdout
    );
    // style.css, and the two folders whose listing changed (www/sub) or not (www).
    let summary = run.stdout.lines().last().unwrap();
    assert!(
        summary.starts_with("3 differences: 1 new, 2 modified, 0 deleted; 1 critical, 2 medium;"),
        "{summary}"
    );
}

/// Three nightly verifies of the same unaccepted difference.
fn three_nights(env: &Env) {
    env.init();
    fs::write(env.path("sub/page.html"), "<p>defaced</p>\n").unwrap();
    for _ in 0..3 {
        env.verify();
    }
}

#[test]
fn events_as_text_show_a_repeated_difference_once_with_its_count() {
    let env = Env::new();
    three_nights(&env);
    let page = env.path("sub/page.html");
    let glob = format!("{}", page.display());
    let json = env.fim(&["events", "--path", &glob]).success().events();
    assert_eq!(json.len(), 3, "JSON keeps every record: {json:#?}");
    let run = env.fim(&["events", "--path", &glob, "--format", "text"]);
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    let first = json[0]["ts"].as_str().unwrap();
    let last = json[2]["ts"].as_str().unwrap();
    assert!(
        lines[0].starts_with(&format!(
            "{first}  verify  modified  medium   {}",
            page.display()
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(&format!("(3 times, last {last})")),
        "{}",
        lines[0]
    );
    // A new change of the same file is a new line.
    fs::write(&page, "<p>defaced again</p>\n").unwrap();
    env.verify();
    let run = env.fim(&["events", "--path", &glob, "--format", "text"]);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
}

#[test]
fn events_since_takes_times_ago_and_plain_dates() {
    let env = Env::new();
    three_nights(&env);
    let all = env.fim(&["events"]).success().events();
    assert!(!all.is_empty());
    let count = |since: &str| {
        env.fim(&["events", "--since", since])
            .success()
            .events()
            .len()
    };
    assert_eq!(count("24h"), all.len());
    assert_eq!(count("7d"), all.len());
    assert_eq!(count("0s"), 0);
    assert_eq!(count("2000-01-01"), all.len());
    assert_eq!(count("2999-01-01"), 0);
    assert_eq!(count("2000-01-01T00:00:00Z"), all.len());
    let run = env.fim(&["events", "--since", "last tuesday"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("24h"), "{}", run.stderr);
}

#[test]
fn a_relative_path_glob_is_an_error_not_zero_results() {
    let env = Env::new();
    three_nights(&env);
    let run = env.fim(&["events", "--path", "sub/*.html"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("sub/*.html") && run.stderr.contains("absolute"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.fim(&["events", "--path", "**/sub/*.html"])
            .success()
            .events()
            .len(),
        3
    );
}

#[test]
fn the_accept_history_is_readable() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "<?php echo 'v2';\n").unwrap();
    let file = env.path("index.php");
    env.fim(&["accept", "--reason", "deploy 4.2", file.to_str().unwrap()])
        .success();
    env.fim(&["accept", "--all"]).success();
    // A reason with a line break in it cannot forge a second record in the text.
    fs::write(env.path("index.php"), "<?php echo 'v3';\n").unwrap();
    let forged = "x\n2026-01-01T00:00:00.000Z  root  999 entries  /etc  — forged";
    env.fim(&["accept", "--reason", forged, file.to_str().unwrap()])
        .success();
    let records = env.fim(&["events", "--accepts"]).success().events();
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[2]["reason"], forged);
    assert_eq!(records[0]["reason"], "deploy 4.2");
    assert_eq!(records[0]["paths"][0], file.to_str().unwrap());
    assert_eq!(records[0]["count"], 1);
    assert!(!records[0]["user"].as_str().unwrap().is_empty());
    assert_eq!(records[1]["reason"], serde_json::Value::Null);
    assert_eq!(records[1]["paths"][0], "--all");
    let run = env.fim(&["events", "--accepts", "--format", "text"]);
    let lines: Vec<&str> = run.success().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[2].ends_with("— x\\n2026-01-01T00:00:00.000Z  root  999 entries  /etc  — forged"),
        "{}",
        lines[2]
    );
    assert!(
        lines[0].ends_with(&format!("1 entry  {}  — deploy 4.2", file.display())),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with("--all  — (no reason given)"),
        "{}",
        lines[1]
    );
    assert!(env
        .fim(&["events", "--accepts", "--since", "2999-01-01"])
        .success()
        .stdout
        .is_empty());
}

#[test]
fn help_texts_fill_the_gaps_and_promise_nothing_absent() {
    let help = |args: &[&str]| {
        let run = fim(args);
        run.success();
        run.stdout
    };
    assert!(help(&["keygen", "--help"]).contains("The directory to write fim.key and fim.pub into"));
    assert!(help(&["policy", "check", "--help"]).contains("The policy file to check"));
    let explain = help(&["policy", "explain", "--help"]);
    assert!(
        explain.contains("Explain this policy file instead of the one recorded"),
        "{explain}"
    );
    assert!(explain.contains("The paths to explain"), "{explain}");
    let verify = help(&["verify", "--help"]);
    assert!(
        !verify.contains("SIGHUP") && !verify.contains("`watch`"),
        "{verify}"
    );
    for command in ["events", "keygen", "watch", "verify"] {
        let text = help(&[command, "--help"]);
        assert!(!text.contains("progress bar"), "{command}: {text}");
        assert!(text.contains("-q, --quiet"), "{command}: {text}");
    }
}

#[test]
fn summaries_count_in_good_grammar() {
    let env = Env::new();
    let file = env.path("index.php");
    let run = env.fim(&["init", file.to_str().unwrap()]);
    run.success();
    assert!(run.stderr.contains("fim init: 1 entry, "), "{}", run.stderr);
    // Nothing to hash: no speed is made up.
    let empty = Env::new();
    let dir = empty.base.join("empty");
    fs::create_dir(&dir).unwrap();
    let run = empty.fim(&["init", dir.to_str().unwrap()]);
    run.success();
    assert!(
        run.stderr.contains("1 entry, nothing hashed, in "),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("MB/s"), "{}", run.stderr);
    // An unknown sink key is answered with every key the sink takes.
    let policy = env.write_policy("[[watch]]\npath = \"ROOT\"\n[[sink]]\ntype = \"file\"\npath = \"/tmp/x\"\nformt = \"ecs\"\n");
    let run = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown key `formt`")
            && ["path", "name", "format", "min_severity"]
                .iter()
                .all(|k| run.stderr.contains(k)),
        "{}",
        run.stderr
    );
}

#[test]
fn the_speed_is_the_scans_not_that_of_sink_retries() {
    let env = Env::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n[[sink]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n"
    ));
    fs::write(env.path("index.php"), "<?php echo 'changed';\n").unwrap();
    let started = std::time::Instant::now();
    let run = env.fim(&["verify"]);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(run.code, 1);
    assert!(took > 2.0, "the sink was retried: {took} s");
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("fim verify: "))
        .unwrap();
    let secs: f64 = line
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(" s").next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs < took / 2.0, "{line} (the run took {took:.1} s)");
    assert!(!run.stderr.contains("1 events"), "{}", run.stderr);
}

/// `analyze` of a file that is no access log (a JSON dump, a config file) is an
/// error naming it, not "nothing detected"; a log with some lines it understands is
/// read as ever, and an auth log alone gets no empty traffic section.
#[test]
fn analyze_tells_a_file_that_is_no_log_from_a_quiet_one() {
    let env = Env::new();
    let dump = env.base.join("dump.json");
    fs::write(&dump, "{\"a\": 1}\n{\"b\": 2}\n\n").unwrap();
    let run = fim(&["analyze", dump.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let said = run.stderr.trim();
    assert_eq!(said.lines().count(), 1 + 2, "{said}"); // two skipped-line warnings
    let error = said.lines().last().unwrap();
    assert!(
        error.contains("dump.json: 2 lines read and not one is an access log line")
            && error.contains("\"combined\""),
        "{error}"
    );
    let quiet = env.base.join("access.log");
    let good =
        "192.0.2.1 - - [01/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 12 \"-\" \"curl/8\"";
    fs::write(&quiet, format!("{good}\nnot a line\n")).unwrap();
    let run = fim(&["analyze", quiet.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let auth = env.base.join("auth.log");
    let accepted = "Dec  1 10:00:00 web sshd[2000]: Accepted publickey for deploy from 192.0.2.1 port 41000 ssh2";
    fs::write(&auth, format!("{accepted}\n")).unwrap();
    let run = fim(&["analyze", "--format", "text", auth.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Before, it printed "0 requests", a table of zero statuses and no clients.
    assert!(!run.stdout.contains("requests"), "{}", run.stdout);
}

#[test]
fn analyze_names_a_log_given_relative_by_its_absolute_path() {
    let env = Env::new();
    let probe =
        "192.0.2.7 - - [01/Dec/2026:10:00:00 +0000] \"GET /.env HTTP/1.1\" 200 120 \"-\" \"x\"";
    fs::write(env.base.join("access.log"), format!("{probe}\n")).unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(["analyze", "access.log"])
        .current_dir(&env.base)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let events: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty());
    let absolute = env.base.join("access.log");
    for event in &events {
        assert_eq!(event["log"], absolute.to_str().unwrap(), "{event:#}");
    }
}

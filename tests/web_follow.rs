//! `fim watch` and `fim verify` following a real nginx's access log: live detection,
//! rotation by the real logrotate (rename+create, copytruncate), restarts, and the tie
//! between a WebDAV upload, the file it planted and the requests that use it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::web::benign::*;
use common::web::checks::*;
use common::web::tools::{self, curl};
use common::web::*;
use common::{Daemon, Env};
use serde_json::Value;

/// A single backdoor probe is a detection and every one is reported (no cooldown), so
/// the detections count the lines read: one lost is missing, one read twice repeats.
const POLICY: &str = r#"[[watch]]
path = "ROOT"

[[log]]
path = "LOG"
docroot = "ROOT"

[web]

[web.backdoor-probe]
threshold = 1
window = "10s"
cooldown = "0s"
"#;

struct Site {
    env: Env,
    nginx: Nginx,
    policy: PathBuf,
}

fn site() -> Option<Site> {
    if !have(&[NGINX, "openssl", "curl", "logrotate"]) {
        return None;
    }
    let env = Env::new();
    write_site(&env.root);
    std::fs::write(env.root.join(".env"), "DB_PASSWORD=hunter2\n").unwrap();
    let nginx = Nginx::start(&env.base, &env.root, LogFormat::Combined);
    let policy = env.write_policy(&POLICY.replace("LOG", nginx.log.to_str().unwrap()));
    env.fim(&["init", "--policy", policy.to_str().unwrap()])
        .success();
    Some(Site { env, nginx, policy })
}

/// The address of the n-th one-shot client.
fn client(n: usize) -> String {
    format!("127.0.5.{n}")
}

/// One backdoor probe from each client in `range`.
fn probe(nginx: &Nginx, range: std::ops::Range<usize>) {
    for n in range {
        curl(nginx, &client(n), "curl/7.88.1", &["/c99.php"], &[]);
    }
    nginx.settle();
}

fn probes_of(events: &[Value], n: usize) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "backdoor-probe" && e["client"] == client(n).as_str())
        .collect()
}

/// Each client in `range` reported exactly once, with its one line.
fn once_each(events: &[Value], range: std::ops::Range<usize>) {
    for n in range {
        let found = probes_of(events, n);
        assert_eq!(found.len(), 1, "{}: {found:#?}", client(n));
        assert_eq!(found[0]["count"], 1, "{:#}", found[0]);
    }
}

/// Wait up to `secs` until a printed event satisfies `pred`.
fn wait_event(d: &mut Daemon, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(e) = d.drain().iter().find(|e| pred(e)) {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {secs} s; saw {:#?}",
            d.seen
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_probes(d: &mut Daemon, range: std::ops::Range<usize>) {
    for n in range {
        wait_event(d, 10, &format!("probe from {}", client(n)), |e| {
            e["kind"] == "backdoor-probe" && e["client"] == client(n).as_str()
        });
    }
}

fn policy_arg(site: &Site) -> [&str; 2] {
    ["--policy", site.policy.to_str().unwrap()]
}

#[test]
fn an_attack_is_reported_live_within_seconds() {
    let Some(site) = site() else { return };
    let mut d = Daemon::start(&site.env, &policy_arg(&site));
    tools::probe_sensitive(&site.nginx);
    let sent = Instant::now();
    let e = wait_event(&mut d, 5, "sensitive-file-probe", |e| {
        e["kind"] == "sensitive-file-probe" && e["client"] == tools::SENSITIVE
    });
    eprintln!("reported {:?} after the last request", sent.elapsed());
    check_detection(&e, "watch", &[&site.nginx.log]);
    assert_eq!(e["log"], site.nginx.log.to_str().unwrap());
    assert_eq!(e["severity"], "critical", "the .env was served: {e:#}");
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);
    // Recorded in the history, found by category.
    let history = site
        .env
        .fim(&["events", "--category", "web"])
        .success()
        .events();
    assert!(history.iter().any(|h| h["id"] == e["id"]), "{history:#?}");
    assert!(history.iter().all(|h| h["category"] == "web"));
}

#[test]
fn rotation_by_rename_and_by_copytruncate_loses_no_line_and_reads_none_twice() {
    let Some(site) = site() else { return };
    let mut d = Daemon::start(&site.env, &policy_arg(&site));
    // Lines written just before a rename are read from the renamed file.
    probe(&site.nginx, 1..11);
    site.nginx.logrotate("create");
    probe(&site.nginx, 11..21);
    wait_probes(&mut d, 1..21);
    // copytruncate: the file is copied, then cut to zero and written from the start.
    site.nginx.logrotate("copytruncate");
    // fim sees the file shrink before it grows again (see the next test for when not).
    std::thread::sleep(Duration::from_secs(1));
    probe(&site.nginx, 21..31);
    wait_probes(&mut d, 21..31);
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, seen) = d.stop();
    assert_eq!(code, 0);
    once_each(&seen, 1..31);
    for e in seen.iter().filter(|e| e["category"] == "web") {
        check_detection(e, "watch", &[]);
    }
}

/// After a copytruncate, nginx writes on at once: by the time fim looks, the file may
/// have grown past where fim had read. Its first bytes are not the ones fim read: the
/// lines from the start are new.
#[test]
fn lines_written_right_after_a_copytruncate_are_all_read() {
    let Some(site) = site() else { return };
    let mut d = Daemon::start(&site.env, &policy_arg(&site));
    probe(&site.nginx, 1..11);
    wait_probes(&mut d, 1..11);
    site.nginx.logrotate("copytruncate");
    probe(&site.nginx, 11..26);
    wait_probes(&mut d, 11..26);
    std::thread::sleep(Duration::from_millis(500));
    let (_, _, seen) = d.stop();
    once_each(&seen, 1..26);
}

#[test]
fn lines_written_while_stopped_are_reported_once_before_ready() {
    let Some(site) = site() else { return };
    let mut d = Daemon::start(&site.env, &policy_arg(&site));
    probe(&site.nginx, 1..6);
    wait_probes(&mut d, 1..6);
    let (_, _, first) = d.stop();
    // Written while fim is down, some of it before a rotation.
    probe(&site.nginx, 6..11);
    site.nginx.logrotate("create");
    probe(&site.nginx, 11..16);
    let mut d = Daemon::start(&site.env, &policy_arg(&site));
    // Printed by the start-up catch-up, before READY=1.
    let early = d.drain().to_vec();
    once_each(&early, 6..16);
    std::thread::sleep(Duration::from_millis(500));
    let (_, _, second) = d.stop();
    let all: Vec<Value> = first.into_iter().chain(second).collect();
    once_each(&all, 1..16);
    // A third start has nothing left to read.
    let d = Daemon::start(&site.env, &policy_arg(&site));
    std::thread::sleep(Duration::from_millis(500));
    let (_, _, third) = d.stop();
    assert!(third.iter().all(|e| e["category"] != "web"), "{third:#?}");
}

const WEBSHELL: &str = "<?php system($_GET['c']); ?>\n";

/// PUT a webshell into the uploads through WebDAV from `client`.
fn plant(nginx: &Nginx, client: &str) -> PathBuf {
    let body = nginx.dir.join("shell.txt");
    std::fs::write(&body, WEBSHELL).unwrap();
    let codes = curl(
        nginx,
        client,
        "curl/7.88.1",
        &["/wp-content/uploads/2026/x.php"],
        &["-T", body.to_str().unwrap()],
    );
    assert_eq!(codes, [201]);
    let planted = nginx.docroot.join("wp-content/uploads/2026/x.php");
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), WEBSHELL);
    planted
}

fn use_shell(nginx: &Nginx, client: &str) {
    let codes = curl(
        nginx,
        client,
        "Mozilla/5.0",
        &["/wp-content/uploads/2026/x.php?c=id"; 3],
        &[],
    );
    assert_eq!(codes, [200; 3]);
    nginx.settle();
}

const PLANTER: &str = "127.0.0.40";
const SHELL_USER: &str = "127.0.0.41";

fn related_to(e: &Value, file_event: &Value) -> bool {
    e["related"]
        .as_array()
        .is_some_and(|r| r.contains(&file_event["id"]))
}

fn check_planted(e: &Value, file_event: &Value, planted: &Path) {
    assert!(
        related_to(e, file_event),
        "not tied to {}: {e:#}",
        file_event["id"]
    );
    // A path may carry its query string.
    assert!(
        e["paths"].as_array().unwrap().iter().any(
            |p| p.as_str().unwrap().split('?').next() == Some("/wp-content/uploads/2026/x.php")
        ),
        "{e:#}"
    );
    assert!(
        e["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == planted.to_str().unwrap()),
        "{e:#}"
    );
}

#[test]
fn a_webdav_upload_is_the_planted_file_and_its_use_is_webshell_access() {
    let Some(site) = site() else { return };
    let mut d = Daemon::start(&site.env, &policy_arg(&site));
    let planted = plant(&site.nginx, PLANTER);
    let file_event = d.expect("new", &planted);
    let e = wait_event(&mut d, 10, "planted-file", |e| e["kind"] == "planted-file");
    check_detection(&e, "watch", &[&site.nginx.log]);
    assert_eq!(e["client"], PLANTER, "{e:#}");
    assert!(e["statuses"]["201"].as_u64().is_some(), "{e:#}");
    check_planted(&e, &file_event, &planted);
    use_shell(&site.nginx, SHELL_USER);
    let e = wait_event(&mut d, 10, "webshell-access", |e| {
        e["kind"] == "webshell-access"
    });
    check_detection(&e, "watch", &[&site.nginx.log]);
    assert_eq!(e["client"], SHELL_USER, "{e:#}");
    check_planted(&e, &file_event, &planted);
}

#[test]
fn verify_analyses_only_what_was_logged_after_init_and_ties_uploads_to_files() {
    if !have(&[NGINX, "openssl", "curl", "logrotate"]) {
        return;
    }
    let env = Env::new();
    write_site(&env.root);
    let nginx = Nginx::start(&env.base, &env.root, LogFormat::Combined);
    // Before the baseline: not analysed by verify.
    probe(&nginx, 1..4);
    let policy = env.write_policy(&POLICY.replace("LOG", nginx.log.to_str().unwrap()));
    env.fim(&["init", "--policy", policy.to_str().unwrap()])
        .success();
    probe(&nginx, 4..7);
    let planted = plant(&nginx, PLANTER);
    use_shell(&nginx, SHELL_USER);
    let events = env.verify();
    for n in 1..4 {
        assert!(
            probes_of(&events, n).is_empty(),
            "{} was logged before init: {events:#?}",
            client(n)
        );
    }
    once_each(&events, 4..7);
    let web: Vec<&Value> = events.iter().filter(|e| e["category"] == "web").collect();
    for e in &web {
        check_detection(e, "verify", &[&nginx.log]);
    }
    // After the fact, from the log and the file's times: the PUT planted it.
    let file_event = common::event_for(&events, &planted);
    assert_eq!(file_event["kind"], "new");
    let find = |kind: &str| {
        *web.iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {events:#?}"))
    };
    let put = find("planted-file");
    assert_eq!(put["client"], PLANTER);
    check_planted(put, file_event, &planted);
    let used = find("webshell-access");
    assert_eq!(used["client"], SHELL_USER);
    check_planted(used, file_event, &planted);
    // The next run starts where this one stopped.
    probe(&nginx, 7..8);
    let again = env.verify();
    once_each(&again, 7..8);
    for n in 1..7 {
        assert!(
            probes_of(&again, n).is_empty(),
            "{} read twice: {again:#?}",
            client(n)
        );
    }
}

#[test]
fn detections_validate_as_ecs_alerts_and_ocsf_detection_findings() {
    if !have(&[NGINX, "openssl", "curl"]) {
        return;
    }
    let Some(fields) = common::schemas() else {
        return;
    };
    let env = Env::new();
    write_site(&env.root);
    let nginx = Nginx::start(&env.base, &env.root, LogFormat::Combined);
    let (ecs, ocsf) = (env.base.join("ecs.jsonl"), env.base.join("ocsf.jsonl"));
    let sinks = format!(
        "\n[[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        ecs.display(),
        ocsf.display()
    );
    let policy = env.write_policy(&(POLICY.replace("LOG", nginx.log.to_str().unwrap()) + &sinks));
    env.fim(&["init", "--policy", policy.to_str().unwrap()])
        .success();
    // Detections of several kinds, and a file event beside them.
    tools::probe_sensitive(&nginx);
    tools::probe_traversal(&nginx);
    tools::probe_backdoors(&nginx);
    plant(&nginx, PLANTER);
    let events = env.verify();
    let detections = events.iter().filter(|e| e["category"] == "web").count();
    assert!(detections >= 3, "{events:#?}");
    let ocsf_report = common::validate(&["ocsf", ocsf.to_str().unwrap()]);
    assert!(
        ocsf_report.contains(&format!("detection_finding: {detections}\n")),
        "{ocsf_report}"
    );
    assert!(ocsf_report.contains(&format!("{} ocsf events checked, 0 problems", events.len())));
    let ecs_report = common::validate(&["ecs", ecs.to_str().unwrap(), &fields]);
    assert!(
        ecs_report.contains(&format!("alert: {detections}\n")),
        "{ecs_report}"
    );
    assert!(ecs_report.contains(&format!("{} ecs events checked, 0 problems", events.len())));
}

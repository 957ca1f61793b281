//! `fim analyze` on access logs written by a real nginx, under real attack tools (dirb,
//! gobuster, wfuzz, sqlmap, hydra), hand-made probes (curl) and real benign traffic.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::web::benign::{self, *};
use common::web::checks::*;
use common::web::tools::{self, *};
use common::web::*;
use common::Env;
use serde_json::Value;

/// nginx serving the test site from the Env's docroot, with a real `.env` in it.
fn site(env: &Env, format: LogFormat) -> (Nginx, Vec<String>) {
    let pages = write_site(&env.root);
    std::fs::write(
        env.root.join(".env"),
        "DB_PASSWORD=hunter2\nAPP_KEY=base64:c2VjcmV0\n",
    )
    .unwrap();
    (Nginx::start(&env.base, &env.root, format), pages)
}

/// The site's policy (watching its docroot, as an operator's would) with `tables`.
fn site_policy(env: &Env, tables: &str) -> std::path::PathBuf {
    env.write_policy(&format!("[[watch]]\npath = \"ROOT\"\n\n{tables}"))
}

fn analyze_log(log: &Path) -> Vec<Value> {
    analyze(&[log.to_str().unwrap()], &[log])
}

fn assert_has(events: &[Value], client: &str, wanted: &[&str]) {
    let kinds = kinds_for(events, client);
    for kind in wanted {
        assert!(
            kinds.contains(*kind),
            "{client}: {kind} missing from {kinds:?}\n{events:#?}"
        );
    }
}

/// Every detection of `client` cites only that client's lines.
fn evidence_is_from(events: &[Value], client: &str) {
    for e in events.iter().filter(|e| e["client"] == client) {
        for ev in e["evidence"].as_array().unwrap() {
            let line = ev["line"].as_str().unwrap();
            assert_eq!(line_client(line), Some(client), "{e:#}");
        }
    }
}

/// The not-found bursts of `client` count the distinct paths it was answered 4xx for
/// (thousands from a word list), not the 20 their evidence keeps.
fn paths_are_counted_past_the_evidence(events: &[Value], log: &Path, client: &str) {
    let bursts = detections(events, "not-found-burst", client);
    if bursts.is_empty() {
        return;
    }
    let log = std::fs::read_to_string(log).unwrap();
    let missing: BTreeSet<&str> = log
        .lines()
        .filter(|l| line_client(l) == Some(client))
        .filter(|l| line_status(l).is_some_and(|s| (400..500).contains(&s)))
        .filter_map(|l| l.split('"').nth(1)?.split(' ').nth(1))
        .map(|target| target.split('?').next().unwrap())
        .collect();
    let said: Vec<u64> = bursts
        .iter()
        .map(|e| {
            let summary = e["summary"].as_str().unwrap();
            let (_, n) = summary.split_once(" requested ").expect(summary);
            n.split(' ').next().unwrap().parse().expect(summary)
        })
        .collect();
    let most = *said.iter().max().unwrap();
    assert!(
        most > 20 && most <= missing.len() as u64,
        "{client}: {said:?} said, {} paths answered 4xx",
        missing.len()
    );
}

#[test]
fn directory_scanners_are_scanners_or_not_found_bursts_and_probe_sensitive_files() {
    if !have(&[NGINX, "openssl", "dirb", "gobuster", "wfuzz"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    tools::dirb(&nginx);
    tools::gobuster(&nginx);
    tools::wfuzz(&nginx);
    let events = analyze_log(&nginx.log);
    for client in [DIRB, GOBUSTER, WFUZZ] {
        let kinds = kinds_for(&events, client);
        assert!(
            kinds.contains("scanner") || kinds.contains("not-found-burst"),
            "{client}: {kinds:?}"
        );
        // Their lists ask for .env, .git/config, .htpasswd, backups.
        assert!(
            kinds.contains("sensitive-file-probe"),
            "{client}: {kinds:?}"
        );
        evidence_is_from(&events, client);
        paths_are_counted_past_the_evidence(&events, &nginx.log, client);
    }
    // gobuster and wfuzz say who they are.
    for client in [GOBUSTER, WFUZZ] {
        assert_has(&events, client, &["scanner"]);
    }
    // The served .env makes a probe critical.
    for client in [DIRB, GOBUSTER, WFUZZ] {
        let probes = detections(&events, "sensitive-file-probe", client);
        assert!(
            probes.iter().any(|p| p["severity"] == "critical"
                && p["statuses"]["200"].as_u64().is_some_and(|n| n >= 1)),
            "{probes:#?}"
        );
    }
    // Only the tools were detected (or their network, 127.0.0.0/24, as a flood).
    for e in &events {
        let client = e["client"].as_str().unwrap_or("null");
        assert!(
            [DIRB, GOBUSTER, WFUZZ, "127.0.0.0/24"].contains(&client),
            "{e:#}"
        );
    }
}

#[test]
fn sqlmap_is_sqli_and_a_scanner() {
    if !have(&[NGINX, "openssl", "sqlmap"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    let lines = tools::sqlmap(&nginx);
    let events = analyze_log(&nginx.log);
    assert_has(&events, SQLMAP, &["sqli", "scanner"]);
    let sqli = &detections(&events, "sqli", SQLMAP)[0];
    assert!(
        sqli["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("/item")),
        "{sqli:#}"
    );
    assert!(
        sqli["count"].as_u64().unwrap() <= lines.len() as u64,
        "{sqli:#}"
    );
    assert!(
        sqli["user_agent"].as_str().unwrap().starts_with("sqlmap/"),
        "{sqli:#}"
    );
    evidence_is_from(&events, SQLMAP);
}

#[test]
fn hydra_is_brute_force_on_wp_login_and_on_basic_auth() {
    if !have(&[NGINX, "openssl", "hydra", "curl"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    tools::hydra_wp_login(&nginx);
    tools::hydra_basic_auth(&nginx);
    tools::xmlrpc_brute_force(&nginx);
    let events = analyze_log(&nginx.log);
    for client in [HYDRA_WP, HYDRA_BASIC, XMLRPC] {
        assert_has(&events, client, &["brute-force"]);
        evidence_is_from(&events, client);
    }
    let wp = &detections(&events, "brute-force", HYDRA_WP)[0];
    assert!(wp["statuses"]["200"].as_u64().is_some(), "{wp:#}");
    assert!(
        wp["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/wp-login.php"),
        "{wp:#}"
    );
    let basic = &detections(&events, "brute-force", HYDRA_BASIC)[0];
    assert!(basic["statuses"]["401"].as_u64().is_some(), "{basic:#}");
    let xmlrpc = &detections(&events, "brute-force", XMLRPC)[0];
    assert!(
        xmlrpc["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/xmlrpc.php"),
        "{xmlrpc:#}"
    );
}

/// The probes no tool here makes, by hand; served ones make the probe critical.
fn probes(nginx: &Nginx) {
    tools::probe_sensitive(nginx);
    tools::probe_sensitive_missing(nginx);
    tools::probe_traversal(nginx);
    tools::probe_xss(nginx);
    tools::probe_backdoors(nginx);
    tools::probe_admin(nginx);
}

fn check_probes(events: &[Value]) {
    assert_has(events, SENSITIVE, &["sensitive-file-probe"]);
    assert_has(events, SENSITIVE_MISS, &["sensitive-file-probe"]);
    assert_has(events, TRAVERSAL, &["path-traversal"]);
    assert_has(events, XSS, &["xss"]);
    assert_has(events, BACKDOOR, &["backdoor-probe"]);
    assert_has(events, ADMIN, &["admin-probe"]);
    let served = detections(events, "sensitive-file-probe", SENSITIVE);
    assert!(
        served.iter().any(|e| e["severity"] == "critical"),
        "{served:#?}"
    );
    let missed = detections(events, "sensitive-file-probe", SENSITIVE_MISS);
    assert!(
        missed.iter().all(|e| e["severity"] != "critical"),
        "nothing was served: {missed:#?}"
    );
    for client in [SENSITIVE, SENSITIVE_MISS, TRAVERSAL, XSS, BACKDOOR, ADMIN] {
        evidence_is_from(events, client);
    }
}

#[test]
fn hand_made_probes_are_traversal_xss_backdoor_admin_and_sensitive_files() {
    if !have(&[NGINX, "openssl", "curl"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    probes(&nginx);
    let events = analyze_log(&nginx.log);
    check_probes(&events);
    // With the docroot known, the served .env is named on disk.
    let policy = site_policy(
        &env,
        &format!(
            "[[log]]\npath = \"{}\"\ndocroot = \"ROOT\"\n",
            nginx.log.display()
        ),
    );
    let with_docroot = analyze(
        &[
            "--policy",
            policy.to_str().unwrap(),
            nginx.log.to_str().unwrap(),
        ],
        &[&nginx.log],
    );
    let served = detections(&with_docroot, "sensitive-file-probe", SENSITIVE);
    let env_file = env.root.join(".env");
    assert!(
        served.iter().any(|e| e["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == env_file.to_str().unwrap())),
        "{served:#?}"
    );
    // An allowed network is never reported.
    let policy = site_policy(
        &env,
        &format!(
            "[[log]]\npath = \"{}\"\n\n[web]\nallow = [\"{SENSITIVE}/32\", \"127.0.0.22/31\"]\n",
            nginx.log.display()
        ),
    );
    let allowed = analyze(
        &[
            "--policy",
            policy.to_str().unwrap(),
            nginx.log.to_str().unwrap(),
        ],
        &[&nginx.log],
    );
    for client in [SENSITIVE, TRAVERSAL, XSS] {
        assert!(
            kinds_for(&allowed, client).is_empty(),
            "{client} is allowed: {allowed:#?}"
        );
    }
    assert_has(&allowed, BACKDOOR, &["backdoor-probe"]);
}

#[test]
fn a_server_failing_for_several_clients_is_an_error_burst_without_client() {
    if !have(&[NGINX, "openssl", "curl"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    tools::hammer_broken(&nginx);
    let events = analyze_log(&nginx.log);
    let bursts: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "error-burst")
        .collect();
    assert!(!bursts.is_empty(), "{events:#?}");
    assert!(
        bursts[0]["statuses"]["500"].as_u64().unwrap() >= 1,
        "{:#}",
        bursts[0]
    );
    assert!(bursts.iter().all(|e| e["client"].is_null()));
    // Nobody is blamed for the server's failure, and the visitors are not reported.
    for visitor in NORMAL {
        assert!(
            kinds_for(&events, visitor).is_empty(),
            "{visitor}: {events:#?}"
        );
    }
}

#[test]
fn benign_traffic_is_never_reported() {
    if !have(&[NGINX, "openssl", "curl", "wget"]) {
        return;
    }
    let env = Env::new();
    let (nginx, pages) = site(&env, LogFormat::Combined);
    benign::benign_traffic(&nginx, &pages);
    let lines = nginx.lines();
    for client in [BROWSER, BROWSER6, CRAWLER, MONITOR, LOGIN_USER] {
        assert!(
            lines.iter().any(|l| line_client(l) == Some(client)),
            "no traffic from {client}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l.contains("/favicon.ico HTTP/1.1\" 404 ")));
    let run = common::fim(&["analyze", nginx.log.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "benign traffic was reported: {}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn a_gzipped_log_gives_the_same_detections() {
    if !have(&[NGINX, "openssl", "curl", "gzip"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    probes(&nginx);
    nginx.settle();
    let gz = env.base.join("access.log.1.gz");
    let out = std::process::Command::new("gzip")
        .arg("-c")
        .arg(&nginx.log)
        .output()
        .unwrap();
    std::fs::write(&gz, out.stdout).unwrap();
    let plain = analyze_log(&nginx.log);
    let packed = analyze_log(&gz);
    check_probes(&packed);
    let shape = |events: &[Value]| -> BTreeSet<String> {
        events
            .iter()
            .map(|e| {
                let lines: Vec<_> = e["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["line"].clone())
                    .collect();
                format!(
                    "{} {} {} {} {:?}",
                    e["kind"], e["client"], e["count"], e["severity"], lines
                )
            })
            .collect()
    };
    assert_eq!(shape(&plain), shape(&packed));
    assert!(
        packed.iter().all(|e| e["log"] == gz.to_str().unwrap()),
        "{packed:#?}"
    );
}

#[test]
fn json_logs_by_name_and_by_their_log_format_template() {
    if !have(&[NGINX, "openssl", "curl"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Json);
    probes(&nginx);
    let log = nginx.log.to_str().unwrap();
    check_probes(&analyze(&["--log-format", "json", log], &[&nginx.log]));
    let template = toml::Value::String(JSON_LOG_FORMAT.to_owned());
    let policy = site_policy(
        &env,
        &format!("[[log]]\npath = \"{log}\"\nformat = {template}\n"),
    );
    check_probes(&analyze(
        &["--policy", policy.to_str().unwrap(), log],
        &[&nginx.log],
    ));
}

#[test]
fn text_report_has_status_classes_and_top_clients() {
    if !have(&[NGINX, "openssl", "curl"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    tools::probe_admin(&nginx);
    // The top client by far: 60 requests.
    for _ in 0..3 {
        curl(&nginx, BROWSER, BROWSER_UA, &["/index.html"; 20], &[]);
    }
    tools::hammer_broken(&nginx);
    let run = common::fim(&["analyze", "--format", "text", nginx.log.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let text = &run.stdout;
    assert!(
        serde_json::from_str::<Value>(text.lines().next().unwrap_or("")).is_err(),
        "not text: {text}"
    );
    for needle in [
        "2xx",
        "4xx",
        "5xx",
        "admin-probe",
        ADMIN,
        BROWSER,
        "/phpmyadmin/",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // The top clients with their request counts.
    assert!(
        text.lines()
            .any(|l| l.contains(BROWSER) && l.split_whitespace().any(|w| w == "60")),
        "{text}"
    );
}

#[test]
fn detector_tables_switch_and_tune_detectors() {
    if !have(&[NGINX, "openssl", "curl"]) {
        return;
    }
    let env = Env::new();
    let (nginx, _) = site(&env, LogFormat::Combined);
    tools::probe_admin(&nginx);
    tools::probe_backdoors(&nginx);
    let log = nginx.log.to_str().unwrap();
    assert_has(&analyze_log(&nginx.log), ADMIN, &["admin-probe"]);
    // `[web.KIND]` tables alone, without a `[web]` header: valid TOML, the usual way.
    let policy = site_policy(
        &env,
        &format!(
            "[[log]]\npath = \"{log}\"\n\n[web.admin-probe]\nenabled = false\n\n\
             [web.backdoor-probe]\nseverity = \"low\"\nname = \"webshell-names\"\n"
        ),
    );
    let run = common::fim(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = analyze(&["--policy", policy.to_str().unwrap(), log], &[&nginx.log]);
    assert!(
        !kinds_for(&events, ADMIN).contains("admin-probe"),
        "{events:#?}"
    );
    let backdoor = &detections(&events, "backdoor-probe", BACKDOOR)[0];
    assert_eq!(backdoor["severity"], "low", "{backdoor:#}");
    assert_eq!(backdoor["rule"], "webshell-names", "{backdoor:#}");
}

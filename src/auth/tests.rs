use super::*;
use crate::auth::parse::parse;
use crate::logs::parse::utc;

struct Run {
    detectors: AuthDetectors,
    alerts: Vec<Alert>,
}

fn run(settings: &LoginSettings, lines: &[String]) -> Vec<Alert> {
    let mut r = Run {
        detectors: AuthDetectors::new(settings, Learned::new(settings.learning, &[])),
        alerts: Vec::new(),
    };
    let log: Arc<str> = "/var/log/auth.log".into();
    for line in lines {
        let record = parse(line, utc("2026-12-01T12:00:00Z")).expect(line);
        let input = Input::new(&record, line.as_bytes(), &log);
        r.detectors.observe(&input, &mut r.alerts);
    }
    r.detectors.flush(i64::MAX, &mut r.alerts);
    r.alerts
}

fn at(sec: u32) -> String {
    format!("2026-12-01T10:{:02}:{:02}Z", sec / 60, sec % 60)
}

fn failed(sec: u32, user: &str, ip: &str) -> String {
    format!(
        "{} web sshd[1]: Failed password for {user} from {ip} port 40000 ssh2",
        at(sec)
    )
}

fn accepted(sec: u32, user: &str, ip: &str) -> String {
    format!(
        "{} web sshd[1]: Accepted password for {user} from {ip} port 40000 ssh2",
        at(sec)
    )
}

fn kinds(alerts: &[Alert]) -> Vec<(&'static str, Option<String>)> {
    alerts
        .iter()
        .map(|a| {
            let Fields::Auth(f) = &a.detection.fields else {
                panic!("auth fields")
            };
            (a.detection.kind, f.client.clone())
        })
        .collect()
}

#[test]
fn a_typo_then_a_login_is_nothing() {
    let lines = [
        failed(0, "alice", "192.0.2.1"),
        accepted(5, "alice", "192.0.2.1"),
    ];
    assert!(run(&LoginSettings::default(), &lines).is_empty());
}

#[test]
fn a_login_after_many_failures_is_critical_and_carries_the_success() {
    let mut lines: Vec<String> = (0..41).map(|i| failed(i, "root", "203.0.113.7")).collect();
    lines.push(accepted(50, "root", "203.0.113.7"));
    let alerts = run(&LoginSettings::default(), &lines);
    let after: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.detection.kind == "login-after-failures")
        .collect();
    assert_eq!(after.len(), 1, "{:?}", kinds(&alerts));
    let a = after[0];
    assert_eq!(a.severity, crate::policy::Severity::Critical);
    assert!(
        a.detection.summary.contains("after 41 failed attempts"),
        "{}",
        a.detection.summary
    );
    assert!(a
        .detection
        .evidence
        .last()
        .unwrap()
        .line
        .contains("Accepted password"));
    assert!(a.detection.evidence.len() <= MAX_EVIDENCE);
    let k = kinds(&alerts);
    assert!(
        k.contains(&("brute-force", Some("203.0.113.7".into()))),
        "{k:?}"
    );
    assert!(
        k.contains(&("root-login", Some("203.0.113.7".into()))),
        "{k:?}"
    );
}

#[test]
fn a_distributed_attack_is_one_network_attack() {
    // Two tries each from 40 addresses of one /24: no address reaches 5.
    let lines: Vec<String> = (0..80)
        .map(|i| failed(i, "root", &format!("198.51.100.{}", i / 2 + 1)))
        .collect();
    let alerts = run(&LoginSettings::default(), &lines);
    let k = kinds(&alerts);
    assert!(
        k.iter()
            .all(|(kind, client)| *kind == "brute-force"
                && client.as_deref() == Some("198.51.100.0/24")),
        "{k:?}"
    );
    assert!(!k.is_empty());
    let total: u64 = alerts.iter().map(|a| a.detection.count).sum();
    assert_eq!(total, 80, "every try is counted in a report");
}

#[test]
fn many_user_names_from_one_client_is_enumeration() {
    let lines: Vec<String> = ["admin", "oracle", "test", "ubuntu", "pi"]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            format!(
                "{} web sshd[1]: Invalid user {u} from 192.0.2.9 port 1",
                at(i as u32)
            )
        })
        .collect();
    let k = kinds(&run(&LoginSettings::default(), &lines));
    assert_eq!(k, vec![("user-enumeration", Some("192.0.2.9".into()))]);
}

#[test]
fn quiet_hours_and_new_sources() {
    let settings = LoginSettings {
        quiet_hours: Some(QuietHours::parse("00:00-23:59").unwrap()),
        learning: std::time::Duration::ZERO,
        ..LoginSettings::default()
    };
    let lines = [
        accepted(0, "alice", "192.0.2.1"),
        accepted(10, "alice", "192.0.2.77"),
    ];
    let k = kinds(&run(&settings, &lines));
    assert_eq!(
        k.iter()
            .filter(|(kind, _)| *kind == "login-new-source")
            .count(),
        1,
        "{k:?}"
    );
    assert!(
        k.iter().any(|(kind, _)| *kind == "login-quiet-hours"),
        "{k:?}"
    );
    // While learning (the default week), a new source is learned, not reported.
    let k = kinds(&run(&LoginSettings::default(), &lines));
    assert!(k.is_empty(), "{k:?}");
}

#[test]
fn allowed_clients_and_disabled_detectors_are_silent() {
    let lines: Vec<String> = (0..10).map(|i| failed(i, "root", "10.0.0.5")).collect();
    let settings = LoginSettings {
        allow: vec!["10.0.0.0/8".parse().unwrap()],
        ..LoginSettings::default()
    };
    assert!(run(&settings, &lines).is_empty());
    let mut settings = LoginSettings::default();
    settings.overrides.insert(
        "brute-force".into(),
        crate::detect::settings::Override {
            enabled: Some(false),
            ..Default::default()
        },
    );
    assert!(run(&settings, &lines).is_empty());
}

#[test]
fn sudo_failures_count_per_local_user() {
    let lines: Vec<String> = (0..5)
        .map(|i| format!("{} web sudo:    mallory : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh", at(i)))
        .collect();
    let alerts = run(&LoginSettings::default(), &lines);
    assert_eq!(kinds(&alerts), vec![("brute-force", None)]);
    let Fields::Auth(f) = &alerts[0].detection.fields else {
        unreachable!()
    };
    assert_eq!(
        (f.user.as_deref(), f.service.as_str()),
        (Some("mallory"), "sudo")
    );
}

/// The network's watch sees every client's login: one told by its client's event
/// is not told again, as a login of nobody, when the network's watch ends.
#[test]
fn a_login_told_by_its_client_is_not_told_again_by_its_network() {
    let mut lines: Vec<String> = (0..20)
        .map(|i| failed(i, "root", "198.51.100.20"))
        .collect();
    lines.push(failed(30, "alice", "198.51.100.22"));
    lines.push(accepted(35, "alice", "198.51.100.22"));
    lines.extend((40..50).map(|i| failed(i, "bob", "198.51.100.23")));
    lines.push(accepted(55, "bob", "198.51.100.23"));
    let alerts = run(&LoginSettings::default(), &lines);
    let users: Vec<Option<String>> = alerts
        .iter()
        .filter(|a| a.detection.kind == "login-after-failures")
        .map(|a| {
            let Fields::Auth(f) = &a.detection.fields else {
                panic!("auth fields")
            };
            f.user.clone()
        })
        .collect();
    assert_eq!(
        users,
        [Some("alice".to_string()), Some("bob".to_string())],
        "{:?}",
        kinds(&alerts)
    );
}

fn after_failures(alerts: &[Alert]) -> Vec<(Option<String>, Option<String>)> {
    alerts
        .iter()
        .filter(|a| a.detection.kind == "login-after-failures")
        .map(|a| {
            let Fields::Auth(f) = &a.detection.fields else {
                panic!("auth fields")
            };
            (f.user.clone(), f.client.clone())
        })
        .collect()
}

/// A CI account logging in by key every minute failed nothing: no login of it is a
/// login after failures, however many there are.
#[test]
fn logins_without_failures_are_not_logins_after_failures() {
    let lines: Vec<String> = (0..8)
        .map(|i| accepted(i * 60, "ci", "192.0.2.66"))
        .collect();
    assert_eq!(after_failures(&run(&LoginSettings::default(), &lines)), []);
}

/// A login uses up the failures before it: a typo before each of many logins never
/// adds up, and the failures of a client whose login was told do not count against
/// the next login from its network.
#[test]
fn a_login_uses_up_the_failures_before_it() {
    let mut lines = Vec::new();
    for i in 0..5 {
        lines.push(failed(i * 300, "alice", "192.0.2.1"));
        lines.push(accepted(i * 300 + 5, "alice", "192.0.2.1"));
    }
    assert_eq!(after_failures(&run(&LoginSettings::default(), &lines)), []);

    let mut lines: Vec<String> = (0..5)
        .map(|i| failed(i, "deploy", "198.51.100.44"))
        .collect();
    lines.push(accepted(10, "deploy", "198.51.100.44"));
    lines.push(failed(20, "alice", "198.51.100.55"));
    lines.push(accepted(25, "alice", "198.51.100.55"));
    lines.push(accepted(30, "bob", "198.51.100.66"));
    assert_eq!(
        after_failures(&run(&LoginSettings::default(), &lines)),
        [(Some("deploy".into()), Some("198.51.100.44".into()))]
    );
}

/// The lines through `AuthLogs`, which judges connections as a whole.
fn run_logs(lines: &[String]) -> Vec<Alert> {
    let settings = LoginSettings::default();
    let mut logs = super::logs::AuthLogs::new(&settings, Learned::new(settings.learning, &[]));
    let log: Arc<str> = "/var/log/auth.log".into();
    let mut alerts = Vec::new();
    for line in lines {
        let header = parse::header(line, utc("2026-12-01T12:00:00Z")).expect(line);
        logs.record(&header, line.as_bytes(), &log, &mut alerts);
    }
    logs.flush(i64::MAX, &mut alerts);
    alerts
}

fn abandoned(sec: u32, pid: u32, ip: &str) -> String {
    format!(
        "{} web sshd[{pid}]: Connection closed by authenticating user root {ip} port {pid} [preauth]",
        at(sec)
    )
}

#[test]
fn connections_abandoned_at_a_refused_key_are_failures_but_not_after_a_failed_password() {
    // A key scanner: sshd says nothing but that the client gave up, once per key.
    let keys: Vec<String> = (0..8).map(|i| abandoned(i, 100 + i, "192.0.2.7")).collect();
    let alerts = run_logs(&keys);
    let brute: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.detection.kind == "brute-force")
        .collect();
    let counts: Vec<u64> = brute.iter().map(|a| a.detection.count).collect();
    assert_eq!(counts.iter().sum::<u64>(), 8, "{alerts:#?}");
    // What came during the cooldown says which report it follows.
    for later in &brute[1..] {
        assert!(
            later
                .detection
                .summary
                .contains("(more since its report of 2026-12-01T10:00:0"),
            "{}",
            later.detection.summary
        );
    }
    assert!(brute.len() > 1, "{counts:?}");
    // Passwords: each connection fails three, then closes; the close is no fourth.
    let mut passwords = Vec::new();
    for connection in 0..3u32 {
        let pid = 200 + connection;
        for attempt in 0..3 {
            let sec = connection * 10 + attempt;
            passwords
                .push(failed(sec, "root", "192.0.2.8").replace("sshd[1]", &format!("sshd[{pid}]")));
        }
        passwords.push(abandoned(connection * 10 + 5, pid, "192.0.2.8"));
    }
    let alerts = run_logs(&passwords);
    let told: u64 = alerts
        .iter()
        .filter(|a| a.detection.kind == "brute-force")
        .map(|a| a.detection.count)
        .sum();
    assert_eq!(told, 9, "{alerts:#?}");
}

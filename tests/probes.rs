//! `[[probe]]`s against real sites on loopback (HTTP and HTTPS, IPv4 and IPv6) that the
//! tests switch between healthy, 500, hanging, slow, wrong body and refused; the
//! certificates come from a test CA made with `openssl`.

mod common;

#[allow(dead_code)]
#[path = "common/servers.rs"]
mod servers;
#[path = "common/site.rs"]
mod site;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use servers::{wait_for, Hook};
use site::{Certs, Mode, Site};

fn service(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["category"] == "service")
        .collect()
}

fn kinds(events: &[&Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["probe"].as_str().unwrap(),
                e["kind"].as_str().unwrap()
            )
        })
        .collect()
}

/// A row of `probe_checks`: ok, status, error, total_ms.
type CheckRow = (bool, Option<i64>, Option<String>, Option<f64>);

/// The checks recorded for `probe` in the baseline's `probe_checks`.
fn checks(env: &Env, probe: &str) -> Vec<CheckRow> {
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let Ok(mut stmt) = conn.prepare(
        "SELECT ok, status, error, total_ms FROM probe_checks WHERE probe = ?1 ORDER BY ts_ms",
    ) else {
        return Vec::new();
    };
    stmt.query_map([probe], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Wait (up to 15 s) for a service event of `kind` from `probe`.
fn expect(d: &mut Daemon, probe: &str, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(e) = d
            .drain()
            .iter()
            .find(|e| e["probe"] == probe && e["kind"] == kind)
        {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} from {probe}; saw {:#?}",
            d.seen
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn timings_are_well_formed(e: &Value) {
    let t = &e["timings"];
    for key in ["dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms"] {
        assert!(t.get(key).is_some(), "{key} missing: {e}");
    }
    assert!(t["total_ms"].as_f64().unwrap() >= t["connect_ms"].as_f64().unwrap_or(0.0));
}

#[test]
fn verify_reports_what_is_down_now_with_its_count() {
    let env = Env::new();
    let ok = Site::start("127.0.0.1", None);
    let broken = Site::start("::1", None);
    broken.set(Mode::Error500);
    let maintenance = Site::start("127.0.0.1", None);
    maintenance.set(Mode::WrongBody);
    let gone = Site::start("127.0.0.1", None);
    gone.set(Mode::Refused);
    std::thread::sleep(Duration::from_millis(50));
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n\
         [[probe]]\nname = \"ok\"\nurl = \"{}\"\nfailures = 2\ncontains = \"welcome\"\n\n\
         [[probe]]\nname = \"broken\"\nurl = \"{}health\"\nfailures = 2\n\n\
         [[probe]]\nname = \"maintenance\"\nurl = \"{}\"\nfailures = 2\ncontains = \"welcome\"\n\n\
         [[probe]]\nname = \"gone\"\nurl = \"{}\"\nfailures = 2\ntimeout = \"2s\"\n",
        ok.url("http"),
        broken.url("http"),
        maintenance.url("http"),
        gone.url("http")
    ));
    let started = Instant::now();
    let events = env.verify();
    // Two checks a second apart, in parallel: not four probes one after another.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let found = service(&events);
    let mut names = kinds(&found);
    names.sort();
    assert_eq!(
        names,
        ["broken:down", "gone:down", "maintenance:down"],
        "{found:#?}"
    );
    let broken_down = found.iter().find(|e| e["probe"] == "broken").unwrap();
    assert_eq!(broken_down["count"], 2, "both checks failed");
    assert_eq!(broken_down["status"], 500);
    assert_eq!(broken_down["error"], "HTTP 500");
    assert_eq!(broken_down["url"], format!("{}health", broken.url("http")));
    assert_eq!(broken_down["source"], "verify");
    assert_eq!(broken_down["related"], serde_json::json!([]));
    assert_eq!(broken_down["since"], broken_down["first_ts"]);
    assert!(broken_down["summary"]
        .as_str()
        .unwrap()
        .starts_with("broken is DOWN (HTTP 500, 2 checks, since "));
    assert!(
        broken_down["timings"]["dns_ms"].is_null(),
        "an address needs no DNS"
    );
    assert!(
        broken_down["timings"]["tls_ms"].is_null(),
        "http has no TLS"
    );
    timings_are_well_formed(broken_down);
    let wrong = found.iter().find(|e| e["probe"] == "maintenance").unwrap();
    assert_eq!(wrong["error"], "body lacks \"welcome\"");
    let refused = found.iter().find(|e| e["probe"] == "gone").unwrap();
    assert!(
        refused["error"].as_str().unwrap().contains("refused"),
        "{refused}"
    );
    assert!(refused["status"].is_null());
    let reasons = reasons(refused);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with(&format!("nothing listens on TCP port {}", gone.port()))),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("running: ") || r.starts_with("no web server")),
        "{reasons:?}"
    );
    // Every check is in the history, for the report page.
    assert_eq!(checks(&env, "broken").len(), 2);
    assert_eq!(
        checks(&env, "ok").len(),
        1,
        "stops at the first good answer"
    );
    assert!(checks(&env, "ok")[0].0);
    // Each night says it again while it lasts.
    assert_eq!(service(&env.verify()).len(), 3);
}

#[test]
fn watch_tells_down_once_recovered_once_and_keeps_an_outage_across_a_restart() {
    let env = Env::new();
    let site = Site::start("127.0.0.1", None);
    let hook = Hook::start(0);
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n\
         [[probe]]\nname = \"shop\"\nurl = \"{}\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n\n\
         [[sink]]\ntype = \"slack\"\nurl = \"{}\"\nwindow = \"1s\"\n",
        site.url("http"),
        hook.url()
    ));
    let mut d = Daemon::start(&env, &[]);
    wait_for("healthy checks", || checks(&env, "shop").len() >= 3);
    // One blip is nothing.
    let before = checks(&env, "shop").len();
    site.set(Mode::Error500);
    wait_for("a failed check", || {
        checks(&env, "shop").iter().any(|c| !c.0)
    });
    site.set(Mode::Healthy);
    wait_for("more checks", || checks(&env, "shop").len() >= before + 5);
    assert!(service(d.drain()).is_empty(), "a blip: {:#?}", d.seen);

    // A configuration change, then the site breaks: the down names it.
    let conf = env.path("index.php");
    std::fs::write(&conf, "<?php syntax error").unwrap();
    let modified = d.expect("modified", &conf);
    site.set(Mode::Error500);
    let down = expect(&mut d, "shop", "down");
    assert_eq!(down["count"], 3);
    assert_eq!(down["severity"], "high");
    assert_eq!(down["since"], down["first_ts"]);
    assert!(down["first_ts"].as_str() < down["last_ts"].as_str());
    assert_eq!(
        down["related"],
        serde_json::json!([modified["id"]]),
        "{down}"
    );
    let reasons = reasons(&down);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(conf.to_str().unwrap()) && r.contains("modified")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("listening on this host: ")
                && r.contains(&format!("127.0.0.1:{}/tcp", site.port()))),
        "{reasons:?}"
    );
    let since = down["since"].clone();
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);

    // Restarted during the outage: it is still open, and not announced again.
    let mut d = Daemon::start(&env, &[]);
    let n = checks(&env, "shop").len();
    wait_for("checks after the restart", || {
        checks(&env, "shop").len() >= n + 5
    });
    assert!(service(d.drain()).is_empty(), "re-announced: {:#?}", d.seen);
    site.set(Mode::Healthy);
    let recovered = expect(&mut d, "shop", "recovered");
    assert_eq!(recovered["count"], 2);
    assert_eq!(recovered["severity"], "info");
    let summary = recovered["summary"].as_str().unwrap();
    assert!(summary.starts_with("shop recovered after "), "{summary}");
    let since = since.as_str().unwrap();
    assert!(
        summary.contains(&format!("down since {}Z", &since[11..19])),
        "{summary} {since}"
    );
    assert!(recovered["since"].as_str().unwrap() > since);

    // Slack heard both, in words.
    wait_for("the recovery in slack", || {
        hook.requests()
            .iter()
            .any(|r| r.body["text"].as_str().unwrap_or("").contains("recovered"))
    });
    let texts: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let all = texts.join("\n---\n");
    assert!(
        all.contains(&format!(
            "shop is DOWN (HTTP 500, 3 checks, since {}Z)",
            &since[11..19]
        )),
        "{all}"
    );
    assert!(all.contains("shop recovered after "), "{all}");
    assert_eq!(all.matches("is DOWN").count(), 1, "{all}");
    // History keeps the state changes, not every check.
    let history = env.fim(&["events", "--category", "service"]);
    assert_eq!(
        kinds(&history.events().iter().collect::<Vec<_>>()),
        ["shop:down", "shop:recovered"]
    );
    assert_eq!(d.stop().0, 0);
}

#[test]
fn a_hung_site_does_not_stall_the_others_and_slowness_needs_a_streak() {
    let env = Env::new();
    let hung = Site::start("127.0.0.1", None);
    hung.set(Mode::Hang);
    let slow = Site::start("::1", None);
    slow.set(Mode::Slow(Duration::from_millis(250)));
    let fast = Site::start("127.0.0.1", None);
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n\
         [[probe]]\nname = \"hung\"\nurl = \"{}\"\ninterval = \"200ms\"\ntimeout = \"1500ms\"\nfailures = 2\n\n\
         [[probe]]\nname = \"slow\"\nurl = \"{}\"\ninterval = \"200ms\"\nmax_response_time = \"100ms\"\nfailures = 2\n\n\
         [[probe]]\nname = \"fast\"\nurl = \"{}\"\ninterval = \"200ms\"\nmax_response_time = \"100ms\"\n",
        hung.url("http"),
        slow.url("http"),
        fast.url("http")
    ));
    let mut d = Daemon::start(&env, &[]);
    // By the time the hung site's first check gives up (1.5 s), the fast one has had
    // several: it did not wait behind it.
    wait_for("the hung site's first check", || {
        !checks(&env, "hung").is_empty()
    });
    let fast_checks = checks(&env, "fast").len();
    assert!(
        fast_checks >= 4,
        "{fast_checks} checks of 'fast' during the hang"
    );
    let slow_event = expect(&mut d, "slow", "slow");
    assert_eq!(slow_event["count"], 2);
    assert_eq!(slow_event["severity"], "medium");
    assert!(
        slow_event["timings"]["ttfb_ms"].as_f64().unwrap() >= 240.0,
        "{slow_event}"
    );
    assert!(slow_event["summary"].as_str().unwrap().contains("> 100 ms"));
    let down = expect(&mut d, "hung", "down");
    assert_eq!(
        down["error"],
        "timeout after 1s 500ms (waiting for the answer)"
    );
    let total = down["timings"]["total_ms"].as_f64().unwrap();
    assert!(
        (1490.0..2200.0).contains(&total),
        "bounded by the timeout: {total}"
    );
    assert!(down["timings"]["ttfb_ms"].is_null(), "no first byte");
    assert!(down["timings"]["connect_ms"].as_f64().is_some());
    assert!(
        service(d.drain()).iter().all(|e| e["probe"] != "fast"),
        "{:#?}",
        d.seen
    );
    assert_eq!(d.stop().0, 0);
    // verify's round checks a slow answer again, as a failed one: a streak is slow.
    let events = env.verify();
    let mut found = kinds(&service(&events));
    found.sort();
    assert_eq!(found, ["hung:down", "slow:slow"], "{events:#?}");
    let slow_night = service(&events)
        .into_iter()
        .find(|e| e["kind"] == "slow")
        .unwrap()
        .clone();
    assert_eq!(slow_night["count"], 2, "{slow_night:#}");
}

#[test]
fn certificates_expiring_expired_misnamed_and_untrusted() {
    let env = Env::new();
    let Some(certs) = Certs::make(&env.base) else {
        return;
    };
    let names = "DNS:shop.test,IP:127.0.0.1,IP:::1";
    let valid = certs.leaf("valid", names, &["-days", "30"]);
    let five = certs.leaf("five", names, &["-days", "5"]);
    let expired = certs.leaf(
        "expired",
        names,
        &[
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200201000000Z",
        ],
    );
    let misnamed = certs.leaf("misnamed", "DNS:other.test", &["-days", "30"]);
    let tls = |c: &(std::path::PathBuf, std::path::PathBuf)| Some((c.0.clone(), c.1.clone()));
    let start = |ip: &str, c: &(std::path::PathBuf, std::path::PathBuf)| {
        let c = tls(c).unwrap();
        Site::start(ip, Some((&c.0, &c.1)))
    };
    let good = start("127.0.0.1", &valid);
    let good6 = start("::1", &valid);
    let soon = start("127.0.0.1", &five);
    let old = start("127.0.0.1", &expired);
    let wrong = start("127.0.0.1", &misnamed);
    let ca = certs.ca();
    let ca = ca.to_str().unwrap();
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n\
         [[probe]]\nname = \"good\"\nurl = \"https://shop.test:{}/\"\nresolve = \"127.0.0.1\"\nca = \"{ca}\"\nfailures = 1\n\n\
         [[probe]]\nname = \"good6\"\nurl = \"{}\"\nca = \"{ca}\"\nfailures = 1\n\n\
         [[probe]]\nname = \"soon\"\nurl = \"https://shop.test/\"\nresolve = \"{}\"\nca = \"{ca}\"\nfailures = 1\n\n\
         [[probe]]\nname = \"old\"\nurl = \"https://shop.test/\"\nresolve = \"{}\"\nca = \"{ca}\"\nfailures = 1\n\n\
         [[probe]]\nname = \"wrong\"\nurl = \"https://shop.test/\"\nresolve = \"{}\"\nca = \"{ca}\"\nfailures = 1\n\n\
         [[probe]]\nname = \"untrusted\"\nurl = \"https://shop.test/\"\nresolve = \"{}\"\nfailures = 1\n",
        good.port(),
        good6.url("https"),
        soon.addr,
        old.addr,
        wrong.addr,
        good.addr,
    ));
    let events = env.verify();
    let found = service(&events);
    let mut names = kinds(&found);
    names.sort();
    assert_eq!(
        names,
        [
            "old:certificate-invalid",
            "old:down",
            "soon:certificate-expiring",
            "untrusted:certificate-invalid",
            "untrusted:down",
            "wrong:certificate-invalid",
            "wrong:down"
        ],
        "{found:#?}"
    );
    let of = |probe: &str, kind: &str| {
        *found
            .iter()
            .find(|e| e["probe"] == probe && e["kind"] == kind)
            .unwrap()
    };
    // `resolve` sends the connection to loopback and keeps Host and SNI.
    let seen = good.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            Some("shop.test".to_owned()),
            format!("shop.test:{}", good.port())
        )]
    );
    let expiring = of("soon", "certificate-expiring");
    assert_eq!(expiring["severity"], "medium");
    let expires =
        chrono::DateTime::parse_from_rfc3339(expiring["cert_expires"].as_str().unwrap()).unwrap();
    let left = expires.signed_duration_since(chrono::Utc::now());
    assert!((4..=5).contains(&left.num_days()), "{left}");
    assert!(expiring["summary"]
        .as_str()
        .unwrap()
        .contains("warned under 7 days"));
    assert!(expiring["timings"]["tls_ms"].as_f64().is_some());
    // Expiring since the 7-day threshold was crossed; invalid since this first check.
    let since =
        |e: &Value| chrono::DateTime::parse_from_rfc3339(e["since"].as_str().unwrap()).unwrap();
    assert_eq!(
        since(expiring),
        expires - chrono::Duration::days(7),
        "{expiring:#}"
    );
    let invalid_since = of("old", "certificate-invalid")["since"].clone();
    assert_eq!(invalid_since, of("old", "certificate-invalid")["first_ts"]);
    assert_eq!(
        of("old", "certificate-invalid")["error"],
        "TLS: certificate expired"
    );
    assert!(of("old", "certificate-invalid")["cert_expires"]
        .as_str()
        .unwrap()
        .starts_with("2020-02-01T00:00:00"));
    assert_eq!(
        of("wrong", "certificate-invalid")["error"],
        "TLS: certificate not valid for this name"
    );
    assert_eq!(
        of("untrusted", "certificate-invalid")["error"],
        "TLS: certificate not trusted (unknown issuer)"
    );
    // Each threshold once: the next night says nothing new of "soon".
    let again = env.verify();
    let still = service(&again)
        .into_iter()
        .find(|e| e["probe"] == "old" && e["kind"] == "certificate-invalid")
        .expect("still invalid")
        .clone();
    assert_eq!(
        still["since"], invalid_since,
        "invalid since the first night: {still:#}"
    );
    let again = kinds(&service(&again));
    assert!(!again.iter().any(|k| k.starts_with("soon:")), "{again:?}");
    assert!(
        again.contains(&"old:certificate-invalid".to_owned()),
        "still invalid, said again"
    );
}

#[test]
fn bad_probe_tables_are_refused_with_their_line() {
    let env = Env::new();
    let policy = env.write_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[[probe]]\nname = \"shop\"\nurl = \"https://shop.example/\"\ntimeout = \"0s\"\n",
    );
    let run = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "{}:7: probe \"shop\": timeout must be at least 50ms",
            policy.display()
        )),
        "{}",
        run.stderr
    );
    let policy = env.write_policy(
        "[[probe]]\nname = \"shop\"\nurl = \"https://shop.example/\"\nmax_response_time = \"20s\"\n",
    );
    let run = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "probe shop: https://shop.example/ every 1m, timeout 10s, down after 3 failures"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("it is never `slow`"), "{}", run.stderr);
}

#[test]
fn service_events_validate_as_ecs_alerts_and_ocsf_detection_findings() {
    let Some(fields) = common::schemas() else {
        return;
    };
    let env = Env::new();
    let Some(certs) = Certs::make(&env.base) else {
        return;
    };
    let five = certs.leaf("five", "DNS:shop.test", &["-days", "5"]);
    let soon = Site::start("127.0.0.1", Some((&five.0, &five.1)));
    let broken = Site::start("::1", None);
    broken.set(Mode::Error500);
    let (ecs, ocsf) = (env.base.join("ecs.jsonl"), env.base.join("ocsf.jsonl"));
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n\
         [[probe]]\nname = \"soon\"\nurl = \"https://shop.test/\"\nresolve = \"{}\"\nca = \"{}\"\nfailures = 1\n\n\
         [[probe]]\nname = \"broken\"\nurl = \"{}\"\nfailures = 1\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        soon.addr,
        certs.ca().display(),
        broken.url("http"),
        ecs.display(),
        ocsf.display()
    ));
    let events = env.verify();
    assert_eq!(kinds(&service(&events)).len(), 2, "{events:#?}");
    let ocsf_report = common::validate(&["ocsf", ocsf.to_str().unwrap()]);
    assert!(
        ocsf_report.contains("detection_finding: 2\n"),
        "{ocsf_report}"
    );
    assert!(ocsf_report.contains(&format!("{} ocsf events checked, 0 problems", events.len())));
    let ecs_report = common::validate(&["ecs", ecs.to_str().unwrap(), &fields]);
    assert!(ecs_report.contains("alert: 2\n"), "{ecs_report}");
    assert!(
        ecs_report.contains(&format!("{} ecs events checked, 0 problems", events.len())),
        "{ecs_report}"
    );
}

use super::*;
use crate::logs::parse::utc;

fn now() -> DateTime<Utc> {
    utc("2026-12-01T12:00:00Z")
}

fn one(line: &str) -> AuthRecord<'_> {
    parse(line, now()).unwrap_or_else(|| panic!("not understood: {line}"))
}

fn addr(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn openssh_messages_of_debian_12_and_9_8() {
    let r = one("2026-12-01T10:00:00.123456+00:00 web sshd[812]: Failed password for root from 203.0.113.7 port 50122 ssh2");
    assert_eq!(r.ts, utc("2026-12-01T10:00:00.123456Z"));
    assert_eq!(
        (r.service, r.action, r.user, r.client),
        ("sshd", Action::Failed, Some("root"), addr("203.0.113.7"))
    );
    let r = one("2026-12-01T10:00:00Z web sshd-session[9]: Failed password for invalid user admin from 2001:db8::1 port 2 ssh2");
    assert_eq!(
        (r.action, r.user, r.client),
        (Action::Failed, Some("admin"), addr("2001:db8::1"))
    );
    let r =
        one("2026-12-01T10:00:00Z web sshd[9]: Invalid user oracle from 198.51.100.2 port 4000");
    assert_eq!((r.action, r.user), (Action::InvalidUser, Some("oracle")));
    let r = one("2026-12-01T10:00:00Z web sshd[9]: Accepted publickey for alice from 192.0.2.5 port 5555 ssh2: ED25519 SHA256:abc");
    assert_eq!(
        (r.action, r.user),
        (
            Action::Accepted {
                method: "publickey"
            },
            Some("alice")
        )
    );
    let r = one("2026-12-01T10:00:00Z web sshd[9]: Accepted keyboard-interactive/pam for bob from 192.0.2.5 port 1 ssh2");
    assert_eq!(
        r.action,
        Action::Accepted {
            method: "keyboard-interactive/pam"
        }
    );
    let r = one(
        "2026-12-01T10:00:00Z web sshd[9]: Accepted password for bob from 192.0.2.5 port 1 ssh2",
    );
    assert_eq!(r.action, Action::Accepted { method: "password" });
    let r = one("2026-12-01T10:00:00Z web sshd[9]: Connection closed by authenticating user root 192.0.2.9 port 22 [preauth]");
    assert_eq!(
        (r.action, r.user, r.client),
        (Action::Abandoned, Some("root"), addr("192.0.2.9"))
    );
    let r = one("2026-12-01T10:00:00Z web sshd[9]: Disconnected from invalid user test 192.0.2.9 port 22 [preauth]");
    assert_eq!((r.action, r.user), (Action::Disconnected, Some("test")));
    let r = one("2026-12-01T10:00:00Z web sshd[9]: Received disconnect from 192.0.2.9 port 22:11: Bye Bye [preauth]");
    assert_eq!(
        (r.action, r.user, r.client),
        (Action::Disconnected, None, addr("192.0.2.9"))
    );
    let r = one("2026-12-01T10:00:00Z web sshd[9]: error: maximum authentication attempts exceeded for root from 192.0.2.9 port 22 ssh2 [preauth]");
    assert_eq!((r.action, r.user), (Action::Disconnected, Some("root")));
    let r = one("2026-12-01T10:00:00Z web sshd[9]: error: PAM: Authentication failure for illegal user x from 192.0.2.9");
    assert_eq!(
        (r.action, r.user, r.client),
        (Action::Failed, Some("x"), addr("192.0.2.9"))
    );
}

#[test]
fn sudo_and_su() {
    let r = one("Dec  1 10:00:00 web sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id");
    assert_eq!(
        (r.service, r.action, r.user),
        ("sudo", Action::Command { target: "root" }, Some("alice"))
    );
    let r = one("Dec  1 10:00:00 web sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh");
    assert_eq!(r.action, Action::Failed);
    let r = one("Dec  1 10:00:00 web sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice");
    assert_eq!(
        (r.action, r.user, r.client),
        (Action::Failed, Some("alice"), None)
    );
    let r = one("Dec  1 10:00:00 web su[77]: FAILED SU (to root) alice on pts/0");
    assert_eq!(
        (r.service, r.action, r.user),
        ("su", Action::Failed, Some("root"))
    );
    let r = one("Dec  1 10:00:00 web su[77]: (to root) alice on pts/0");
    assert_eq!(r.action, Action::Accepted { method: "su" });
}

#[test]
fn traditional_stamps_take_the_year_and_zone() {
    // The test process's zone is whatever TZ says: compare with chrono's own reading.
    let expect = |y: i32, text: &str| {
        let naive =
            chrono::NaiveDateTime::parse_from_str(&format!("{y} {text}"), "%Y %b %e %H:%M:%S")
                .unwrap();
        Local
            .from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .to_utc()
    };
    let h = header("Dec  1 10:00:00 web sshd[1]: x", now()).unwrap();
    assert_eq!(h.ts, expect(2026, "Dec  1 10:00:00"));
    // A line from late December read on 1 January is last year's.
    let jan = utc("2027-01-01T00:30:00Z");
    assert_eq!(
        header("Dec 31 23:00:00 web sshd[1]: x", jan).unwrap().ts,
        expect(2026, "Dec 31 23:00:00")
    );
    assert_eq!(
        header(
            "Feb 29 10:00:00 web sshd[1]: x",
            utc("2024-03-01T00:00:00Z")
        )
        .unwrap()
        .ts,
        expect(2024, "Feb 29 10:00:00")
    );
}

#[test]
fn anything_else_is_skipped() {
    for line in [
        "",
        "garbage",
        "Dec  1 10:00:00 web CRON[5]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "Dec  1 10:00:00 web sshd[5]: Server listening on 0.0.0.0 port 22.",
        "Dec 41 10:00:00 web sshd[5]: Failed password for root from 1.2.3.4 port 1 ssh2",
        "2026-12-01T10:00:00Z web sshd[5 Failed password",
        "2026-13-01T10:00:00Z web sshd[5]: Failed password for root from 1.2.3.4 port 1 ssh2",
        "Dec  1 10:00:00 web sshd[5]: Failed password",
        "Dec  1 10:00:00 web su[5]: (to root",
        "\u{fffd}\u{fffd} 1 10:00:00 web sshd[5]: Accepted",
    ] {
        assert_eq!(parse(line, now()), None, "{line:?}");
    }
    let huge = format!(
        "Dec  1 10:00:00 web sshd[5]: Failed password for {} from 1.2.3.4 port 1 ssh2",
        "a".repeat(1 << 20)
    );
    assert_eq!(parse(&huge, now()).map(|r| r.action), Some(Action::Failed));
}

#[test]
fn session_ends_and_pids() {
    let r = one(
        "2026-12-01T10:05:00Z web sshd[812]: Disconnected from user root 203.0.113.7 port 50122",
    );
    assert_eq!(
        (r.action, r.user, r.client, r.pid),
        (Action::Closed, Some("root"), addr("203.0.113.7"), Some(812))
    );
    let r = one("Dec  1 10:05:00 web sshd-session[77]: pam_unix(sshd:session): session closed for user alice");
    assert_eq!(
        (r.action, r.user, r.pid),
        (Action::Closed, Some("alice"), Some(77))
    );
    // Before authentication it is no session's end.
    let r = one("2026-12-01T10:05:00Z web sshd[9]: Disconnected from authenticating user root 203.0.113.7 port 1 [preauth]");
    assert_eq!(r.action, Action::Abandoned);
    // A tag without a pid, or with garbage for one.
    assert_eq!(
        one("2026-12-01T10:00:00Z web sshd: Invalid user a from 192.0.2.1 port 1").pid,
        None
    );
    assert_eq!(
        one("2026-12-01T10:00:00Z web sshd[x]: Invalid user a from 192.0.2.1 port 1").pid,
        None
    );
}

#[test]
fn a_kept_stamp_gives_what_a_fresh_reading_gives() {
    let mut clock = Clock::new(now());
    for line in [
        "Dec  1 10:00:00 web sshd[1]: x",
        "Dec  1 10:00:00 web sshd[2]: y",
        "Dec  1 10:00:01 web sshd[1]: x",
        "Nov 30 23:59:59 web sshd[1]: x",
        "Dec 31 23:00:00 web sshd[1]: x",
    ] {
        assert_eq!(
            header_at(line, &mut clock).map(|h| h.ts),
            header(line, now()).map(|h| h.ts),
            "{line}"
        );
    }
}

#[test]
fn rfc5424_lines_with_and_without_structured_data() {
    let r = one("<38>1 2026-12-01T10:00:00.123Z web1 sshd 6001 - - Failed password for root from 192.0.2.9 port 22 ssh2");
    assert_eq!(
        (r.action, r.user, r.client, r.pid),
        (Action::Failed, Some("root"), addr("192.0.2.9"), Some(6001))
    );
    assert_eq!(r.ts, utc("2026-12-01T10:00:00.123Z"));
    let r = one(
        r#"1 2026-12-01T10:00:00+01:00 web1 sshd-session 77 - [meta x="a \"]\" b"][origin ip="192.0.2.1"] Invalid user bob from 192.0.2.9 port 5"#,
    );
    assert_eq!(
        (r.action, r.user, r.pid),
        (Action::InvalidUser, Some("bob"), Some(77))
    );
    assert_eq!(r.ts, utc("2026-12-01T09:00:00Z"));
    // A priority before a traditional line is dropped too.
    let r = one("<86>Dec  1 10:05:00 web sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/id");
    assert_eq!(r.action, Action::Command { target: "root" });
    // Cut short, or no procid field: nothing, no panic.
    for line in [
        "<38>1 2026-12-01T10:00:00Z web1 sshd",
        "1 2026-12-01T10:00:00Z web1 sshd 1 - [unclosed Failed",
        "<>1 x",
    ] {
        assert!(parse(line, utc("2026-12-01T12:00:00Z")).is_none(), "{line}");
    }
}

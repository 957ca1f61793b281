//! `fim policy update FILE`: the recorded policy replaced, the baseline changed only
//! for what the new policy adds or removes, drift under kept roots still reported,
//! the change in the audit trail, the baseline resealed; and the daemon reloading it.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use rustix::process::Signal;

/// `fim policy SUBCOMMAND --db DB ARGS...`.
fn policy(env: &Env, sub: &str, args: &[&str]) -> Run {
    let mut full = vec!["policy", sub, "--db", env.db.to_str().unwrap()];
    full.extend_from_slice(args);
    fim(&full)
}

/// The last audit row: (user, reason, paths, count).
fn last_audit(env: &Env) -> (String, Option<String>, String, i64) {
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.query_row(
        "SELECT user, reason, paths, count FROM accepts ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

/// The policy to update to, as `new.toml` beside the baseline.
fn new_policy(env: &Env, text: &str) -> std::path::PathBuf {
    let path = env.base.join("new.toml");
    fs::write(&path, text).unwrap();
    path
}

/// A second tree beside the test's root: `extra/` with two files.
fn extra_tree(env: &Env) -> std::path::PathBuf {
    let extra = env.base.join("extra");
    fs::create_dir_all(extra.join("conf")).unwrap();
    fs::write(extra.join("conf/site.conf"), "listen 80;").unwrap();
    fs::write(extra.join("README"), "extra").unwrap();
    extra
}

#[test]
fn policy_update_takes_in_only_what_the_new_policy_adds_or_removes() {
    let env = Env::new();
    let extra = extra_tree(&env);
    env.init_with_policy("[[watch]]\npath = \"ROOT\"\nexclude = [\"sub/deeper/**\"]\n");
    // Drift under the root both policies keep: must stay reported after the update.
    fs::write(env.path("index.php"), "<?php echo 'defaced';").unwrap();
    fs::write(env.path("shell.php"), "<?php echo 'planted';").unwrap();

    let new_policy = new_policy(
        &env,
        &format!(
            "[[watch]]\npath = \"{}\"\nexclude = [\"sub/page.html\"]\n\n[[watch]]\npath = \"{}\"\n",
            env.root.display(),
            extra.display()
        ),
    );
    let new_policy = new_policy.to_str().unwrap();
    let run = policy(
        &env,
        "update",
        &["--reason", "watch the vhost config", new_policy],
    );
    run.success();
    // Newly watched: extra/, extra/README, extra/conf, extra/conf/site.conf,
    // sub/deeper, sub/deeper/data.txt. No longer watched: sub/page.html.
    assert!(
        run.stderr
            .contains("6 newly watched entries taken in, 1 no longer watched dropped"),
        "{}",
        run.stderr
    );

    // The recorded policy is the new one, and the baseline's seal holds.
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let events = run.events();
    assert_eq!(
        event_for(&events, &env.path("index.php"))["kind"],
        "modified"
    );
    assert_eq!(event_for(&events, &env.path("shell.php"))["kind"], "new");
    let paths: Vec<&str> = events.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("/extra") && !p.contains("/deeper") && !p.ends_with("page.html")),
        "only the drift is reported: {paths:?}"
    );
    let explain = policy(
        &env,
        "explain",
        &[env.path("sub/page.html").to_str().unwrap()],
    );
    assert!(explain
        .success()
        .stdout
        .contains("excluded by \"sub/page.html\""));

    let (user, reason, audit_paths, count) = last_audit(&env);
    assert!(!user.is_empty());
    assert_eq!(reason.as_deref(), Some("watch the vhost config"));
    assert_eq!(audit_paths, format!("[\"--policy {new_policy}\"]"));
    assert_eq!(count, 7);

    // What the new policy watches is compared from now on.
    fs::write(extra.join("conf/site.conf"), "listen 8080;").unwrap();
    let events = env.verify();
    assert_eq!(
        event_for(&events, &extra.join("conf/site.conf"))["kind"],
        "modified"
    );
    // The same policy again changes nothing.
    let run = policy(&env, "update", &[new_policy]);
    assert!(
        run.success().stderr.contains("nothing changed"),
        "{}",
        run.stderr
    );
}

#[test]
fn policy_update_does_not_take_a_compromised_tree_in_quietly() {
    let env = Env::new();
    let extra = extra_tree(&env);
    fs::create_dir_all(extra.join("uploads")).unwrap();
    fs::write(
        extra.join("uploads/sys.php"),
        "<?php system($_GET['c']); ?>\n",
    )
    .unwrap();
    env.init_with_policy("[[watch]]\npath = \"ROOT\"\n");
    // Suspicious, but under the root both policies keep: drift, not intake.
    fs::write(env.path("logo.jpg.php"), "<?php echo 'logo';\n").unwrap();
    let text = format!(
        "[[watch]]\npath = \"{}\"\n\n[[watch]]\npath = \"{}\"\n",
        env.root.display(),
        extra.display()
    );
    let new_policy = new_policy(&env, &text);
    let new_policy = new_policy.to_str().unwrap();
    let shell = extra.join("uploads/sys.php");
    let shell = shell.to_str().unwrap();

    let run = policy(&env, "update", &[new_policy]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(shell) && run.stderr.contains("--accept-suspicious"),
        "{}",
        run.stderr
    );
    // Refused: the recorded policy is the old one, nothing was taken in.
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let events = run.events();
    assert!(events
        .iter()
        .all(|e| !e["path"].as_str().unwrap().contains("/extra")));
    event_for(&events, &env.path("logo.jpg.php"));

    let run = policy(&env, "update", &["--accept-suspicious", new_policy]);
    run.success();
    assert!(
        run.stderr.contains("1 suspicious entry")
            && run.stderr.contains(shell)
            && run.stderr.contains("signature exec-request"),
        "{}",
        run.stderr
    );
    let history = env.fim(&["events"]).success().events();
    let recorded: Vec<_> = history.iter().filter(|e| e["path"] == shell).collect();
    assert_eq!(recorded.len(), 1, "{history:#?}");
    assert_eq!(recorded[0]["severity"], "critical");
    assert!(reasons(recorded[0]).contains(&"signature exec-request"));
    // Taken in: verify reports the kept drift only.
    let events = env.verify();
    assert!(events.iter().all(|e| e["path"] != shell), "{events:#?}");
    event_for(&events, &env.path("logo.jpg.php"));
}

#[test]
fn policy_update_checks_the_new_policy_and_reseals_signed_baselines() {
    let env = Env::new();
    let keys = env.base.join("keys");
    fim(&["keygen", "--out", keys.to_str().unwrap()]).success();
    let (key, public) = (keys.join("fim.key"), keys.join("fim.pub"));
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let first = env.write_policy("[[watch]]\npath = \"ROOT\"\n");
    env.fim(&[
        "init",
        "--sign-key",
        key,
        "--policy",
        first.to_str().unwrap(),
    ])
    .success();

    let new_policy = env.base.join("new.toml");
    let new = new_policy.to_str().unwrap();
    // A mistyped root is refused, as by init, and nothing changes.
    fs::write(
        &new_policy,
        format!("[[watch]]\npath = \"{}/typo\"\n", env.base.display()),
    )
    .unwrap();
    let run = policy(&env, "update", &["--sign-key", key, new]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);

    fs::write(
        &new_policy,
        format!(
            "[[watch]]\npath = \"{}\"\nexclude = [\"sub/**\"]\n",
            env.root.display()
        ),
    )
    .unwrap();
    let run = policy(&env, "update", &[new]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--sign-key"), "{}", run.stderr);
    policy(
        &env,
        "update",
        &["--sign-key", key, "--verify-key", public, new],
    )
    .success();
    let run = env.fim(&["verify", "--verify-key", public]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.events().is_empty());
}

#[test]
fn the_daemon_reloads_an_updated_policy_and_names_the_file_it_read() {
    let env = Env::new();
    let extra = extra_tree(&env);
    env.init();
    let mut d = Daemon::start_logged(&env, &[]);
    let new_policy = new_policy(
        &env,
        &format!(
            "[[watch]]\npath = \"{}\"\n\n[[watch]]\npath = \"{}\"\n",
            env.root.display(),
            extra.display()
        ),
    );
    policy(&env, "update", &[new_policy.to_str().unwrap()]).success();
    d.signal(Signal::HUP);
    d.expect_log(&format!(
        "policy reloaded from the baseline {} (recorded policy)",
        env.db.display()
    ));
    // What the update took in is not news to the daemon; a change in it is.
    fs::write(extra.join("README"), "changed").unwrap();
    d.expect("modified", &extra.join("README"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        d.about(&extra.join("conf/site.conf")).is_empty(),
        "{:#?}",
        d.seen
    );
    d.stop();

    // With --policy, SIGHUP rereads that file and says so.
    let mut d = Daemon::start_logged(&env, &["--policy", new_policy.to_str().unwrap()]);
    d.signal(Signal::HUP);
    d.expect_log(&format!("policy reloaded from {}", new_policy.display()));
}

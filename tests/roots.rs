//! Watch roots that are missing: a mistyped root is an error at `init` unless the policy
//! marks it optional, and a root that disappears later is reported, never silence.

mod common;

use std::fs;

use common::*;

#[test]
fn a_missing_watch_root_is_an_error_at_init_unless_optional() {
    let env = Env::new();
    let typo = env.base.join("wwww");
    let policy = env.write_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[watch]]\npath = \"{}\"\n",
        typo.display()
    ));
    let policy = policy.to_str().unwrap();

    // `policy check` validates the file but says the root is not on this host.
    let check = fim(&["policy", "check", policy]);
    check.success();
    assert!(
        check
            .stderr
            .contains(&format!("watch root {} does not exist", typo.display())),
        "{}",
        check.stderr
    );

    let run = env.fim(&["init", "--policy", policy]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let message = run.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("policy.toml")
            && message.contains(&typo.display().to_string())
            && message.contains("optional = true"),
        "{message}"
    );
    assert!(
        !env.db.exists(),
        "no baseline is made from a mistyped policy"
    );

    // Marked optional, it is a warning; verify then stays quiet about it.
    env.write_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[watch]]\npath = \"{}\"\noptional = true\n",
        typo.display()
    ));
    let run = env.fim(&["init", "--policy", policy]);
    run.success();
    assert!(
        run.stderr.contains("optional watch root does not exist"),
        "{}",
        run.stderr
    );
    let verify = env.fim(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(!verify.stderr.contains("wwww"), "{}", verify.stderr);
}

#[test]
fn a_root_that_disappears_is_a_deleted_event_and_a_warning_in_verify() {
    let env = Env::new();
    env.init();
    fs::rename(&env.root, env.base.join("moved-away")).unwrap();
    for _ in 0..2 {
        // Reported every run until accepted, like any difference.
        let run = env.fim(&["verify"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let events = run.events();
        let root = event_for(&events, &env.root);
        assert_eq!(root["kind"], "deleted");
        assert_eq!(root["type"], "dir");
        event_for(&events, &env.path("sub/deeper/data.txt"));
        assert!(events.iter().all(|e| e["kind"] == "deleted"), "{events:#?}");
        assert!(
            run.stderr.contains(&format!(
                "{}: watch root is gone: it is reported deleted",
                env.root.display()
            )),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_root_that_was_never_there_is_warned_about_on_every_verify() {
    // A baseline made with --policy over an optional root, verified with a policy
    // where the root is no longer optional (say, after an edit): never silent.
    let env = Env::new();
    let gone = env.base.join("gone");
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[watch]]\npath = \"{}\"\noptional = true\n",
        gone.display()
    ));
    let strict = env.base.join("strict.toml");
    fs::write(
        &strict,
        format!(
            "[[watch]]\npath = \"{}\"\n\n[[watch]]\npath = \"{}\"\n",
            env.root.display(),
            gone.display()
        ),
    )
    .unwrap();
    let run = env.fim(&["verify", "--policy", strict.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}: watch root does not exist: nothing under it is monitored",
            gone.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_root_that_disappears_under_the_daemon_is_reported_and_seen_coming_back() {
    let env = Env::new();
    env.init();
    let mut d = Daemon::start_logged(&env, &[]);
    // Moved away whole: nothing inside it changes, only the root itself goes.
    fs::rename(&env.root, env.base.join("www.old")).unwrap();
    let e = d.expect("deleted", &env.root);
    assert_eq!(e["type"], "dir");
    d.expect("deleted", &env.path("sub/deeper/data.txt"));
    d.expect_log(&format!(
        "{}: watch root is gone: it is reported deleted",
        env.root.display()
    ));
    // The root's folder is watched now: the root coming back is seen.
    fs::create_dir(&env.root).unwrap();
    fs::write(env.path("index.php"), "<?php echo 'back';").unwrap();
    d.expect("new", &env.root);
    d.expect("new", &env.path("index.php"));
    // It stays watched once the changes to its folder have settled (the folder's own
    // change, looked at after a quiet period, once took the root for gone).
    std::thread::sleep(std::time::Duration::from_millis(400));
    fs::write(env.path("later.php"), "<?php echo 'later';").unwrap();
    d.expect("new", &env.path("later.php"));
    let (code, _, events) = d.stop();
    assert_eq!(code, 0);
    let root = env.root.to_str().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e["path"] == root)
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["deleted", "new"], "{events:?}");
}

#[test]
fn a_root_missing_when_the_daemon_starts_is_watched_once_it_is_created() {
    let env = Env::new();
    let late = env.base.join("late");
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[watch]]\npath = \"{}\"\noptional = true\n",
        late.display()
    ));
    let mut d = Daemon::start(&env, &[]);
    fs::create_dir(&late).unwrap();
    d.expect("new", &late);
    std::thread::sleep(std::time::Duration::from_millis(400));
    fs::write(late.join("x.txt"), "x").unwrap();
    d.expect("new", &late.join("x.txt"));
    let (code, _, events) = d.stop();
    assert_eq!(code, 0);
    assert!(!events.iter().any(|e| e["kind"] == "deleted"), "{events:?}");
}

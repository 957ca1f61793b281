//! `fim watch`: the real daemon on real temporary trees, READY=1 on a socket the test
//! owns, events read from its stdout.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use rustix::process::Signal;

#[test]
fn modify_create_delete_are_reported_once_with_the_previous_state() {
    let env = Env::new();
    env.init();
    let mut d = Daemon::start(&env, &[]);
    let file = env.path("index.php");
    fs::write(&file, "<?php echo 'v2';\n").unwrap();
    let e = d.expect("modified", &file);
    assert_eq!(e["source"], "watch");
    assert_eq!(e["old"]["blake3"], blake3_hex(b"<?php echo 'hello';\n"));
    assert_eq!(e["new"]["blake3"], blake3_hex(b"<?php echo 'v2';\n"));
    // The next change is compared with the state the daemon last observed.
    fs::write(&file, "<?php echo 'v3';\n").unwrap();
    let mut second = d.expect("modified", &file);
    if second["new"]["blake3"] == e["new"]["blake3"] {
        std::thread::sleep(Duration::from_millis(300));
        second = d.about(&file).last().unwrap().clone();
    }
    assert_eq!(second["old"]["blake3"], blake3_hex(b"<?php echo 'v2';\n"));

    let new = env.path("sub/new.php");
    fs::write(&new, "new").unwrap();
    assert_eq!(d.expect("new", &new)["new"]["blake3"], blake3_hex(b"new"));
    fs::remove_file(env.path("style.css")).unwrap();
    d.expect("deleted", &env.path("style.css"));

    let (code, _, seen) = d.stop();
    assert_eq!(code, 0);
    let about_new: Vec<_> = seen
        .iter()
        .filter(|e| e["path"] == new.to_str().unwrap())
        .collect();
    assert_eq!(about_new.len(), 1, "reported once: {about_new:#?}");
    // The daemon's events are in the history.
    let history = env.fim(&["events", "--kind", "new"]).success().events();
    assert!(history
        .iter()
        .any(|e| e["path"] == new.to_str().unwrap() && e["source"] == "watch"));
}

#[test]
fn rename_is_deleted_plus_new_and_rename_over_is_modified() {
    let env = Env::new();
    env.init();
    let mut d = Daemon::start(&env, &[]);
    fs::rename(env.path("style.css"), env.path("main.css")).unwrap();
    d.expect("deleted", &env.path("style.css"));
    d.expect("new", &env.path("main.css"));

    // An atomic deploy: write a temporary file, rename it over the live one.
    let live = env.path("index.php");
    let tmp = env.path(".index.php.swp");
    fs::write(&tmp, "<?php deployed();").unwrap();
    fs::rename(&tmp, &live).unwrap();
    let e = d.expect("modified", &live);
    let c = changes(&e);
    assert!(c.contains(&"content") && c.contains(&"inode"), "{c:?}");
    std::thread::sleep(Duration::from_millis(300));
    // The temporary file is either unseen or seen appearing and going: never left "new".
    let tmp_events: Vec<_> = d.about(&tmp).iter().map(|e| e["kind"].clone()).collect();
    assert!(
        tmp_events.is_empty() || tmp_events == ["new", "deleted"],
        "{tmp_events:?}"
    );
}

#[test]
fn new_directory_with_files_created_at_once_and_moved_in_trees() {
    let env = Env::new();
    env.init();
    let mut d = Daemon::start(&env, &[]);
    // Files written into a just-created directory, before any watch can exist on it.
    let dir = env.path("uploads/2026/11");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..50 {
        fs::write(dir.join(format!("f{i}.jpg.php")), format!("<?php {i}")).unwrap();
    }
    for i in 0..50 {
        d.expect("new", &dir.join(format!("f{i}.jpg.php")));
    }
    d.expect("new", &env.path("uploads"));
    d.expect("new", &env.path("uploads/2026"));

    // A tree built elsewhere and renamed into the docroot (how deploys and dpkg work).
    let outside = env.base.join("release");
    fs::create_dir_all(outside.join("lib/deep")).unwrap();
    fs::write(outside.join("lib/deep/code.php"), "<?php").unwrap();
    fs::write(outside.join("top.php"), "<?php").unwrap();
    fs::rename(&outside, env.path("release")).unwrap();
    for rel in [
        "release",
        "release/top.php",
        "release/lib",
        "release/lib/deep",
        "release/lib/deep/code.php",
    ] {
        d.expect("new", &env.path(rel));
    }
    // The moved-in tree is watched too.
    fs::write(env.path("release/lib/deep/later.php"), "x").unwrap();
    d.expect("new", &env.path("release/lib/deep/later.php"));
    // A tree moved out is reported deleted, entry by entry.
    fs::rename(env.path("release"), env.base.join("gone")).unwrap();
    d.expect("deleted", &env.path("release/lib/deep/code.php"));
    d.expect("deleted", &env.path("release/lib/deep/later.php"));
    std::thread::sleep(Duration::from_millis(300));
    for e in d.drain() {
        let p = e["path"].as_str().unwrap();
        assert!(!p.contains("/gone"), "{p}");
    }
}

#[test]
fn changes_made_while_stopped_are_reported_at_start() {
    let env = Env::new();
    env.init();
    let d = Daemon::start(&env, &[]);
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);
    fs::write(env.path("index.php"), "changed while down").unwrap();
    fs::write(env.path("backdoor.php"), "<?php").unwrap();
    let mut d = Daemon::start(&env, &[]);
    // Reported by the start-up reconcile, before READY=1.
    let early = d.drain().to_vec();
    assert!(
        early
            .iter()
            .any(|e| e["path"] == env.path("index.php").to_str().unwrap()),
        "{early:#?}"
    );
    d.expect("new", &env.path("backdoor.php"));
    let (_, _, seen) = d.stop();
    // Restarting again reports nothing new: each change is reported once.
    let mut d = Daemon::start(&env, &[]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.drain().is_empty(), "{:#?}", d.seen);
    assert!(seen.iter().all(|e| e["source"] == "watch"));
    // verify still compares with the baseline: the drift is reported until accepted.
    assert_eq!(env.fim(&["verify"]).code, 1);
}

#[test]
fn excluded_folders_stay_silent() {
    let env = Env::new();
    fs::create_dir_all(env.path("cache/pages")).unwrap();
    env.init_with_policy("[[watch]]\npath = \"ROOT\"\nexclude = [\"cache/**\", \"**/*.log\"]\n");
    let mut d = Daemon::start(&env, &[]);
    fs::write(env.path("cache/pages/p.html"), "x").unwrap();
    fs::create_dir(env.path("cache/newdir")).unwrap();
    fs::write(env.path("cache/newdir/q"), "y").unwrap();
    fs::write(env.path("sub/app.log"), "log line").unwrap();
    // A marker written afterwards: once it is reported, the others would have been too.
    fs::write(env.path("marker.txt"), "m").unwrap();
    d.expect("new", &env.path("marker.txt"));
    std::thread::sleep(Duration::from_millis(200));
    for e in d.drain() {
        let p = e["path"].as_str().unwrap();
        assert!(
            !p.contains("/cache") && !p.ends_with(".log"),
            "excluded path reported: {p}"
        );
    }
}

#[test]
fn sigterm_exits_zero_promptly_with_every_detected_event_written() {
    let env = Env::new();
    env.init();
    let d = Daemon::start(&env, &[]);
    fs::write(env.path("index.php"), "last words").unwrap();
    // Give inotify a moment to queue it, then stop before the quiet period can end.
    std::thread::sleep(Duration::from_millis(20));
    let (code, took, seen) = d.stop();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(
        seen.iter()
            .any(|e| e["path"] == env.path("index.php").to_str().unwrap()),
        "{seen:#?}"
    );
    let mut d = Daemon::start(&env, &[]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        d.drain().is_empty(),
        "already reported before the stop: {:#?}",
        d.seen
    );
    d.signal(Signal::INT);
    let (code, took, _) = d.stop_after_signal();
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(2));
}

#[test]
fn sighup_reloads_the_policy() {
    let env = Env::new();
    env.init();
    let policy = env.write_policy("[[watch]]\npath = \"ROOT\"\n");
    let mut d = Daemon::start(&env, &["--policy", policy.to_str().unwrap()]);
    fs::write(env.path("index.php"), "before reload").unwrap();
    let e = d.expect("modified", &env.path("index.php"));
    assert!(e["rule"].is_null());
    env.write_policy(
        "[[watch]]\npath = \"ROOT\"\nexclude = [\"sub/**\"]\n\n[[rule]]\nname = \"php\"\npaths = [\"*.php\"]\nseverity = \"critical\"\n",
    );
    d.signal(Signal::HUP);
    std::thread::sleep(Duration::from_millis(300));
    fs::write(env.path("index.php"), "after reload").unwrap();
    fs::write(env.path("sub/page.html"), "now excluded").unwrap();
    fs::write(env.path("marker.txt"), "m").unwrap();
    d.expect("new", &env.path("marker.txt"));
    let after: Vec<_> = d
        .about(&env.path("index.php"))
        .into_iter()
        .filter(|e| e["rule"] == "php")
        .collect();
    assert!(!after.is_empty(), "{:#?}", d.seen);
    assert_eq!(after[0]["severity"], "critical");
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.about(&env.path("sub/page.html")).is_empty());
    // A broken policy on SIGHUP keeps the daemon running with the old one.
    env.write_policy("[[watch]]\npath = \"relative\"\n");
    d.signal(Signal::HUP);
    std::thread::sleep(Duration::from_millis(200));
    fs::write(env.path("style.css"), "still watched").unwrap();
    d.expect("modified", &env.path("style.css"));
}

#[test]
fn output_file_and_baseline_in_the_tree_cause_no_feedback() {
    let mut env = Env::new();
    env.db = env.path("sub/fim.db");
    env.init();
    let out = env.path("events.jsonl");
    let d = Daemon::start(&env, &["--output", out.to_str().unwrap()]);
    fs::write(env.path("index.php"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);
    let lines = fs::read_to_string(&out).unwrap();
    let paths: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("/index.php")), "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("fim.db") && !p.ends_with("events.jsonl")),
        "{paths:?}"
    );
    assert!(paths.len() <= 3, "feedback loop? {paths:?}");
}

#[test]
fn a_baseline_replaced_by_init_force_is_picked_up() {
    let env = Env::new();
    env.init();
    let mut d = Daemon::start(&env, &[]);
    fs::write(env.path("index.php"), "deployed").unwrap();
    d.expect("modified", &env.path("index.php"));
    env.fim(&["init", "-q", "--force", env.root.to_str().unwrap()])
        .success();
    std::thread::sleep(Duration::from_millis(300));
    fs::write(env.path("style.css"), "after the new baseline").unwrap();
    d.expect("modified", &env.path("style.css"));
    std::thread::sleep(Duration::from_millis(300));
    // The new baseline already holds the deployed index.php: not reported again.
    assert_eq!(d.about(&env.path("index.php")).len(), 1, "{:#?}", d.seen);
    let (code, _, _) = d.stop();
    assert_eq!(code, 0);
    // The daemon wrote its events into the new baseline.
    let history = env.fim(&["events"]).success().events();
    assert!(history
        .iter()
        .any(|e| e["path"] == env.path("style.css").to_str().unwrap()));
}

#[test]
fn code_appearing_in_an_excluded_upload_folder_is_still_reported() {
    let env = Env::new();
    fs::create_dir_all(env.path("uploads/2026")).unwrap();
    env.init_with_policy(
        "[[watch]]\npath = \"ROOT\"\nexclude = [\"uploads/**\", \"!uploads/**/*.php\"]\n",
    );
    let mut d = Daemon::start(&env, &[]);
    // A new month folder: created after the daemon started, walked (not recorded).
    fs::create_dir_all(env.path("uploads/2026/12")).unwrap();
    fs::write(env.path("uploads/2026/12/photo.jpg"), b"\xff\xd8\xff").unwrap();
    fs::write(
        env.path("uploads/2026/12/shell.php"),
        "<?php system($_GET['c']);",
    )
    .unwrap();
    let shell = env.path("uploads/2026/12/shell.php");
    let e = d.expect("new", &shell);
    assert_eq!(e["severity"], "critical");
    // The scan of the new folder may catch the file before its content is written;
    // then its close brings a `modified` event with the content: either way, an event
    // carries the signature.
    let signed = |d: &mut Daemon| {
        d.about(&shell)
            .iter()
            .any(|e| reasons(e).contains(&"signature exec-request"))
    };
    if !signed(&mut d) {
        d.expect("modified", &shell);
    }
    assert!(signed(&mut d), "{:#?}", d.about(&shell));
    fs::write(env.path("uploads/2026/later.php"), "<?php").unwrap();
    d.expect("new", &env.path("uploads/2026/later.php"));
    std::thread::sleep(Duration::from_millis(200));
    for e in d.drain() {
        let p = e["path"].as_str().unwrap();
        assert!(
            p.ends_with(".php"),
            "only code is reported from uploads: {p}"
        );
    }
}

#[test]
fn the_daemon_pings_the_watchdog_and_guards_its_own_policy() {
    let env = Env::new();
    env.init();
    let policy = env.write_policy("[[watch]]\npath = \"ROOT\"\n");
    let mut d = Daemon::start_with(
        &env,
        &["--policy", policy.to_str().unwrap()],
        &[("WATCHDOG_USEC", "600000")],
    );
    d.wait_notify("WATCHDOG=1");
    // An intruder edits the policy to exclude their backdoor.
    fs::write(
        &policy,
        "[[watch]]\npath = \"ROOT\"\nexclude = [\"backdoor.php\"]\n",
    )
    .unwrap();
    let e = d.expect("modified", &policy);
    assert_eq!(e["severity"], "critical");
    assert_eq!(e["rule"], "fim-self");
    assert!(changes(&e).contains(&"content"), "{e}");
}

#[test]
fn a_file_as_watch_root_and_a_root_that_appears_later_are_watched() {
    let env = Env::new();
    let single = env.base.join("wp-config.php");
    fs::write(&single, "<?php define('DB', 'x');").unwrap();
    let later = env.base.join("later");
    env.init_with_policy(&format!(
        "[[watch]]\npath = \"ROOT\"\n\n[[watch]]\npath = \"{}\"\n\n[[watch]]\npath = \"{}\"\noptional = true\n",
        single.display(),
        later.display()
    ));
    let mut d = Daemon::start(&env, &[]);
    fs::write(&single, "<?php define('DB', 'stolen');").unwrap();
    let e = d.expect("modified", &single);
    assert!(changes(&e).contains(&"content"), "{e}");
    // A sibling of the file root is not watched.
    fs::write(env.base.join("sibling.txt"), "x").unwrap();
    fs::create_dir(&later).unwrap();
    fs::write(later.join("x.php"), "<?php").unwrap();
    d.expect("new", &later);
    d.expect("new", &later.join("x.php"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.about(&env.base.join("sibling.txt")).is_empty());
}

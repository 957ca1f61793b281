//! Policies: exclusions, rules, kinds, ignores, and precise errors.

mod common;

use std::fs;

use common::*;

#[test]
fn excluded_subtree_and_globs_are_not_monitored() {
    let env = Env::new();
    fs::create_dir_all(env.path("cache/pages")).unwrap();
    fs::write(env.path("cache/pages/a.html"), "cached").unwrap();
    env.init_with_policy("[[watch]]\npath = \"ROOT\"\nexclude = [\"cache/**\", \"**/*.log\"]\n");
    fs::write(env.path("cache/pages/a.html"), "recached").unwrap();
    fs::write(env.path("cache/new.html"), "new").unwrap();
    fs::write(env.path("sub/deeper/error.log"), "log").unwrap();
    fs::write(env.path("sub/error.log.php"), "<?php").unwrap();
    let events = env.verify();
    let paths: Vec<&str> = events.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.iter().all(|p| !p.contains("/cache")), "{paths:?}");
    assert!(paths.iter().all(|p| !p.ends_with(".log")), "{paths:?}");
    // The glob's `*` matched the name only; a look-alike is still reported.
    assert_eq!(
        event_for(&events, &env.path("sub/error.log.php"))["kind"],
        "new"
    );
    // The baseline holds nothing from the excluded folder.
    let out = env.fim(&["events"]);
    assert!(!out.stdout.contains("cache/pages"));
}

#[test]
fn first_matching_rule_sets_rule_and_severity_and_kinds_filter() {
    let env = Env::new();
    fs::create_dir_all(env.path("uploads")).unwrap();
    fs::write(env.path("uploads/old.php"), "<?php // legacy").unwrap();
    // The legacy script in the upload folder is baselined knowingly.
    let policy = env.write_policy(
        r#"default_severity = "low"
[[watch]]
path = "ROOT"

[[rule]]
name = "upload-code"
paths = ["uploads/**/*.php", "uploads/*.php"]
kinds = ["new"]
severity = "critical"

[[rule]]
name = "code"
paths = ["**/*.php", "*.php"]
severity = "high"
"#,
    );
    let policy = policy.to_str().unwrap();
    env.fim(&["init", "--accept-suspicious", "--policy", policy])
        .success();
    fs::write(env.path("uploads/shell.php"), "<?php system($_GET[0]);").unwrap();
    fs::write(env.path("uploads/old.php"), "<?php // edited").unwrap();
    fs::write(env.path("style.css"), "changed").unwrap();
    fs::write(env.path("index.php"), "<?php echo 'edited';").unwrap();
    let events = env.verify();
    let new = event_for(&events, &env.path("uploads/shell.php"));
    assert_eq!(
        (new["rule"].as_str(), new["severity"].as_str()),
        (Some("upload-code"), Some("critical"))
    );
    // A kinds = ["new"] rule never decides a modification; the heuristics still raise
    // a script in an upload folder to critical, and say why.
    let modified = event_for(&events, &env.path("uploads/old.php"));
    assert_eq!(modified["rule"], "code");
    assert_eq!(modified["severity"], "critical");
    assert_eq!(
        modified["reasons"][0],
        "script in an upload or content folder"
    );
    let edited = event_for(&events, &env.path("index.php"));
    assert_eq!(
        (edited["rule"].as_str(), edited["severity"].as_str()),
        (Some("code"), Some("high"))
    );
    let css = event_for(&events, &env.path("style.css"));
    assert!(css["rule"].is_null());
    assert_eq!(css["severity"], "low");
}

#[test]
fn rule_and_watch_ignores_silence_only_those_attributes() {
    let env = Env::new();
    env.init_with_policy(
        r#"[[watch]]
path = "ROOT"
ignore = ["nlink"]

[[rule]]
name = "touch-is-fine"
paths = ["*.php"]
ignore = ["mtime", "ctime"]
"#,
    );
    // touch: mtime and ctime only -> silenced for *.php, reported for the css.
    let now = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    for rel in ["index.php", "style.css"] {
        fs::File::options()
            .write(true)
            .open(env.path(rel))
            .unwrap()
            .set_modified(now)
            .unwrap();
    }
    fs::hard_link(env.path("sub/page.html"), env.base.join("link")).unwrap();
    let events = env.verify();
    let files = non_dir_events(&events);
    assert_eq!(files.len(), 2, "{events:#?}");
    assert_eq!(
        changes(event_for(&events, &env.path("style.css"))),
        ["mtime", "ctime"]
    );
    // nlink ignored for the whole watch; the hardlink's ctime change remains.
    assert_eq!(
        changes(event_for(&events, &env.path("sub/page.html"))),
        ["ctime"]
    );
    // A content change under the rule is still reported, without the ignored attributes.
    fs::write(env.path("index.php"), "<?php evil();").unwrap();
    let events = env.verify();
    let c = changes(event_for(&events, &env.path("index.php")));
    assert!(
        c.contains(&"content") && !c.contains(&"mtime") && !c.contains(&"ctime"),
        "{c:?}"
    );
}

#[test]
fn policy_errors_name_the_file_and_line_and_exit_2() {
    let env = Env::new();
    let cases = [
        ("[[watch]]\npath = \"ROOT\"\nexclud = [\"x\"]\n", ":3:", "exclud"),
        ("[[watch]]\npath = \"relative/www\"\n", ":2:", "not absolute"),
        ("[[watch]]\npath = \"ROOT\"\n\n[[rule]]\nname = \"r\"\npaths = [\"a/[bad\"]\n", ":6:", "glob"),
        ("[[watch]]\npath = \"ROOT\"\nignore = [\"atime\"]\n", ":3:", "atime"),
        ("default_severity = \"urgent\"\n[[watch]]\npath = \"ROOT\"\n", ":1:", "urgent"),
        ("[[watch]]\npath = \"ROOT\"\n[[rule]]\nname = \"r\"\npaths = [\"*\"]\nkinds = [\"changed\"]\n", ":6:", "changed"),
        ("[[watch]\npath = \"ROOT\"\n", ":1:", ""),
        ("default_severity = \"low\"\n", ":1:", "watch"),
    ];
    for (text, line, word) in cases {
        let policy = env.write_policy(text);
        let run = env.fim(&["init", "--policy", policy.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{text}: {}", run.stderr);
        let msg = run.stderr.trim();
        assert_eq!(msg.lines().count(), 1, "one line: {msg}");
        assert!(
            msg.contains(&format!("{}{line}", policy.display())),
            "{text} -> {msg}"
        );
        assert!(msg.contains(word), "{text} -> {msg}");
        assert!(!env.db.exists(), "no baseline from a bad policy");
    }
}

#[test]
fn unreadable_policy_inputs_fail_cleanly() {
    let env = Env::new();
    let missing = env.base.join("missing.toml");
    let run = env.fim(&["init", "--policy", missing.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("missing.toml"), "{}", run.stderr);
    // A FIFO must never make fim hang.
    let fifo = env.base.join("fifo.toml");
    mkfifo(&fifo);
    let run = env.fim(&["init", "--policy", fifo.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    let binary = env.base.join("bin.toml");
    fs::write(&binary, b"[[watch]]\npath = \"/\xff\"\n").unwrap();
    let run = env.fim(&["init", "--policy", binary.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bin.toml:2"), "{}", run.stderr);
}

#[test]
fn verify_policy_override_and_recorded_policy() {
    let env = Env::new();
    env.init();
    fs::write(env.path("sub/debug.log"), "x").unwrap();
    assert_eq!(env.verify().len(), 2); // the file and its directory
    let policy =
        env.write_policy("[[watch]]\npath = \"ROOT\"\nexclude = [\"**/*.log\", \"sub\"]\n");
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn nested_watches_use_their_own_settings() {
    let env = Env::new();
    env.init_with_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[[watch]]\npath = \"ROOT/sub\"\nignore = [\"content\", \"size\", \"mtime\", \"ctime\"]\n",
    );
    fs::write(env.path("sub/page.html"), "rewritten page").unwrap();
    fs::write(env.path("index.php"), "rewritten").unwrap();
    let events = env.verify();
    assert_eq!(non_dir_events(&events).len(), 1, "{events:#?}");
    event_for(&events, &env.path("index.php"));
}

#[test]
fn bundled_policies_are_valid() {
    let mut checked = 0;
    for entry in fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let run = fim(&["policy", "check", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
        assert!(run.stdout.contains(": ok: "), "{}", run.stdout);
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn the_web_host_pack_grades_what_intruders_touch() {
    let pack = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/linux-web-host.toml");
    let run = fim(&[
        "policy",
        "explain",
        "--policy",
        pack,
        "/etc/shadow",
        "/etc/sudoers.d/90-cloud",
        "/home/alice/.ssh/authorized_keys",
        "/home/alice/Documents/notes.txt",
        "/etc/ld.so.preload",
        "/var/spool/cron/crontabs/www-data",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ]);
    run.success();
    let out = &run.stdout;
    for (path, rule) in [
        ("/etc/shadow", "accounts"),
        ("/etc/sudoers.d/90-cloud", "privileges"),
        ("/home/alice/.ssh/authorized_keys", "ssh"),
        ("/etc/ld.so.preload", "dynamic-loader"),
        ("/var/spool/cron/crontabs/www-data", "scheduled-jobs"),
    ] {
        let section = out.split("\n\n").find(|s| s.starts_with(path)).unwrap();
        assert!(
            section.contains(&format!("new       rule {rule}, severity critical")),
            "{section}"
        );
    }
    let notes = out
        .split("\n\n")
        .find(|s| s.starts_with("/home/alice/Documents"))
        .unwrap();
    assert!(notes.contains("excluded by \"*/*\""), "{notes}");
    assert!(out.contains("rule shared-objects, severity high"), "{out}");
}

#[test]
fn includes_vars_and_their_errors() {
    let env = Env::new();
    let pack = env.base.join("pack.toml");
    fs::write(
        &pack,
        "default_severity = \"low\"\n[vars]\ndocroot = \"/nowhere\"\n[[watch]]\npath = \"${docroot}\"\nexclude = [\"cache/**\"]\n\n[[rule]]\nname = \"code\"\npaths = [\"**/*.php\", \"*.php\"]\nseverity = \"high\"\n",
    )
    .unwrap();
    // The site's rule comes first and wins; the pack's watch takes the site's docroot.
    env.init_with_policy(
        "include = [\"pack.toml\"]\n[vars]\ndocroot = \"ROOT\"\n\n[[rule]]\nname = \"home\"\npaths = [\"index.php\"]\nseverity = \"critical\"\n",
    );
    fs::write(env.path("index.php"), "<?php // changed").unwrap();
    fs::write(env.path("sub/x.php"), "<?php // new").unwrap();
    fs::create_dir(env.path("cache")).unwrap();
    fs::write(env.path("cache/c.html"), "cached").unwrap();
    let events = env.verify();
    assert_eq!(event_for(&events, &env.path("index.php"))["rule"], "home");
    let x = event_for(&events, &env.path("sub/x.php"));
    assert_eq!(
        (x["rule"].as_str(), x["severity"].as_str()),
        (Some("code"), Some("high"))
    );
    assert!(events
        .iter()
        .all(|e| !e["path"].as_str().unwrap().contains("/cache")));
    // The baseline records the merged policy: verify works with the pack gone.
    fs::remove_file(&pack).unwrap();
    assert_eq!(env.fim(&["verify"]).code, 1);

    for (text, want) in [
        ("include = [\"missing.toml\"]\n", "policy.toml:1: include"),
        ("include = [\"policy.toml\"]\n", "circular"),
        (
            "[[watch]]\npath = \"${nope}\"\n",
            "policy.toml:2: unknown variable ${nope}",
        ),
    ] {
        let policy = env.write_policy(text);
        let run = fim(&["policy", "check", policy.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{text}");
        assert!(run.stderr.contains(want), "{text}: {}", run.stderr);
    }
    let bad = env.base.join("bad-pack.toml");
    fs::write(
        &bad,
        "[[watch]]\npath = \"/x\"\n\n[[rule]]\nname = \"r\"\npaths = [\"[\"]\n",
    )
    .unwrap();
    let policy = env.write_policy("include = [\"bad-pack.toml\"]\n");
    let run = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad-pack.toml:6:"),
        "errors name the included file: {}",
        run.stderr
    );
}

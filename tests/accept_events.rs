//! `fim accept` (with its audit trail) and `fim events`.

mod common;

use std::fs;

use common::*;

fn audit_rows(env: &Env) -> Vec<(String, Option<String>, String, i64)> {
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    let mut stmt = conn
        .prepare("SELECT user, reason, paths, count FROM accepts ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn accept_one_path_keeps_other_differences() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "deployed").unwrap();
    fs::write(env.path("style.css"), "also changed").unwrap();
    let file = env.path("index.php");
    env.fim(&["accept", "--reason", "deploy 4.2", file.to_str().unwrap()])
        .success();
    let events = env.verify();
    assert!(events.iter().all(|e| e["path"] != file.to_str().unwrap()));
    event_for(&events, &env.path("style.css"));
    let rows = audit_rows(&env);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.as_deref(), Some("deploy 4.2"));
    assert!(rows[0].2.contains("index.php"));
    assert_eq!(rows[0].3, 1);
    assert!(!rows[0].0.is_empty());
}

#[test]
fn accept_a_directory_is_recursive_and_takes_deletions() {
    let env = Env::new();
    env.init();
    fs::write(env.path("sub/page.html"), "new page").unwrap();
    fs::write(env.path("sub/deeper/new.txt"), "n").unwrap();
    fs::remove_file(env.path("sub/deeper/data.txt")).unwrap();
    fs::write(env.path("index.php"), "outside the accepted dir").unwrap();
    // A relative path works too.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
        .current_dir(&env.root)
        .args(["accept", "--reason", "content update", "--db"])
        .arg(&env.db)
        .arg("sub")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let events = env.verify();
    let paths: Vec<&str> = events.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.iter().all(|p| !p.contains("/sub")), "{paths:?}");
    event_for(&events, &env.path("index.php"));
}

#[test]
fn accept_a_deleted_path_removes_it_from_the_baseline() {
    let env = Env::new();
    env.init();
    fs::remove_dir_all(env.path("sub")).unwrap();
    env.fim(&["accept", env.path("sub").to_str().unwrap()])
        .success();
    let events = env.verify();
    assert!(non_dir_events(&events).is_empty(), "{events:#?}");
}

#[test]
fn accept_all_makes_verify_clean_and_is_audited() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "x").unwrap();
    fs::write(env.path("new.php"), "y").unwrap();
    fs::remove_file(env.path("style.css")).unwrap();
    env.fim(&["accept", "--all", "--reason", "release"])
        .success();
    assert!(env.verify().is_empty());
    let rows = audit_rows(&env);
    assert_eq!(rows[0].2, "[\"--all\"]");
    assert!(rows[0].3 >= 6);
}

#[test]
fn accept_refuses_paths_outside_the_policy() {
    let env = Env::new();
    env.init_with_policy("[[watch]]\npath = \"ROOT\"\nexclude = [\"sub/**\"]\n");
    let run = env.fim(&["accept", "/etc/passwd"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("/etc/passwd") && run.stderr.contains("not under"),
        "{}",
        run.stderr
    );
    let run = env.fim(&["accept", env.path("sub/page.html").to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("excluded"), "{}", run.stderr);
    assert!(env.fim(&["accept"]).code == 2, "PATH or --all is required");
}

#[test]
fn events_history_filters_by_kind_time_and_path() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "x").unwrap();
    fs::write(env.path("sub/new.php"), "y").unwrap();
    fs::remove_file(env.path("style.css")).unwrap();
    let printed = env.verify();
    let all = env.fim(&["events"]).success().events();
    assert_eq!(all, printed, "history holds exactly what verify printed");

    let deleted = env.fim(&["events", "--kind", "deleted"]).success().events();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["path"], env.path("style.css").to_str().unwrap());

    let glob = format!("{}/**/*.php", env.root.display());
    let php = env.fim(&["events", "--path", &glob]).success().events();
    assert_eq!(php.len(), 2, "{php:#?}"); // `**/` also matches no folder at all
    let glob = format!("{}/*.php", env.root.display());
    let top = env.fim(&["events", "--path", &glob]).success().events();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0]["path"], env.path("index.php").to_str().unwrap());

    let future = env
        .fim(&["events", "--since", "2999-01-01T00:00:00Z"])
        .success()
        .events();
    assert!(future.is_empty());
    let past = env
        .fim(&["events", "--since", "2000-01-01T00:00:00+02:00"])
        .success()
        .events();
    assert_eq!(past.len(), all.len());

    let bad = env.fim(&["events", "--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    let bad = env.fim(&["events", "--kind", "changed"]);
    assert_eq!(bad.code, 2);
}

//! The baseline file: refusal to overwrite, atomic replacement, integrity failures.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

#[test]
fn init_refuses_to_overwrite_without_force() {
    let env = Env::new();
    env.init();
    let before = fs::read(&env.db).unwrap();
    let root = env.root.to_str().unwrap();
    let run = env.fim(&["init", root]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--force") && run.stderr.contains("baseline.db"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read(&env.db).unwrap(), before);
    fs::write(env.path("new.php"), "x").unwrap();
    env.fim(&["init", "--force", root]).success();
    assert!(
        env.verify().is_empty(),
        "the replaced baseline includes new.php"
    );
}

#[test]
fn missing_baseline_is_an_error_not_an_integrity_failure() {
    let env = Env::new();
    for cmd in ["verify", "accept", "events"] {
        let args: Vec<&str> = if cmd == "accept" {
            vec![cmd, "--all"]
        } else {
            vec![cmd]
        };
        let run = env.fim(&args);
        assert_eq!(run.code, 2, "{cmd}");
        assert!(run.stderr.contains("baseline.db"), "{}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1);
    }
}

#[test]
fn garbage_truncated_and_foreign_databases_fail_the_integrity_check() {
    let env = Env::new();
    env.init();
    let good = fs::read(&env.db).unwrap();

    let check = |what: &str| {
        let run = env.fim(&["verify"]);
        assert_eq!(run.code, 3, "{what}: {}", run.stderr);
        assert!(run.stderr.contains("baseline.db"), "{what}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "{what}: {}",
            run.stderr
        );
        run.stderr
    };

    fs::write(
        &env.db,
        b"this is not a database at all, just some text padding it out",
    )
    .unwrap();
    assert!(check("garbage").contains("not a fim baseline"));

    fs::write(&env.db, &good[..good.len() / 2]).unwrap();
    check("truncated");

    fs::write(&env.db, b"").unwrap();
    assert!(check("empty").contains("not a fim baseline"));

    fs::remove_file(&env.db).unwrap();
    let foreign = rusqlite::Connection::open(&env.db).unwrap();
    foreign
        .execute_batch("CREATE TABLE entries (path BLOB); INSERT INTO entries VALUES (x'00');")
        .unwrap();
    drop(foreign);
    assert!(check("foreign").contains("not a fim baseline"));

    fs::write(&env.db, &good).unwrap();
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(conn);
    assert!(check("schema").contains("schema version 99"));

    fs::write(&env.db, &good).unwrap();
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch("DROP TABLE accepts;").unwrap();
    drop(conn);
    assert!(check("dropped table").contains("table \"accepts\" is missing"));

    fs::write(&env.db, &good).unwrap();
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch("UPDATE entries SET blake3 = x'00' WHERE type = 0;")
        .unwrap();
    drop(conn);
    assert!(check("malformed hash").contains("malformed hash"));
}

#[test]
fn fifo_or_directory_as_baseline_is_refused_without_hanging() {
    let mut env = Env::new();
    env.db = env.base.join("fifo.db");
    mkfifo(&env.db);
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    let run = env.fim(&["init", "--force", env.root.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    env.db = env.base.clone();
    assert_eq!(env.fim(&["verify"]).code, 2);
}

#[test]
fn killed_init_leaves_the_previous_baseline_intact() {
    let env = Env::new();
    env.init();
    let before = fs::read(&env.db).unwrap();
    // A tree big enough that init is still running when it is killed.
    for i in 0..40 {
        fs::write(env.path(&format!("big{i}.bin")), vec![i as u8; 1 << 20]).unwrap();
    }
    for delay_ms in [0u64, 5, 20, 60] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
            .args(["init", "--force", "-q", "--db"])
            .arg(&env.db)
            .arg(&env.root)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let now = fs::read(&env.db).unwrap();
        // Either the old baseline, or (if init finished first) a complete new one.
        if now != before {
            let run = env.fim(&["verify"]);
            assert_eq!(
                run.code, 0,
                "a replaced baseline must be complete: {}",
                run.stdout
            );
        } else {
            assert_eq!(env.fim(&["events"]).code, 0);
        }
    }
}

#[test]
fn init_errors_on_missing_roots_and_creates_the_baseline_folder() {
    let mut env = Env::new();
    let run = env.fim(&["init", env.base.join("nope").to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    env.db = env.base.join("baselines/deeper/site.db");
    env.init();
    assert!(env.db.is_file());
}

#[test]
fn output_file_is_appended_and_text_format_reads_well() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "changed").unwrap();
    let out = env.base.join("events.jsonl");
    fs::write(&out, "{\"previous\":true}\n").unwrap();
    let run = env.fim(&["verify", "--output", out.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    let lines: Vec<String> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines[0], "{\"previous\":true}");
    assert!(lines.len() >= 2);
    let run = env.fim(&["verify", "--format", "text"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("modified  medium"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("index.php  [content, size, mtime, ctime]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("1 difference: 0 new, 1 modified, 0 deleted"),
        "{}",
        run.stdout
    );
}

#[test]
fn roots_may_be_files_and_are_taken_once() {
    let env = Env::new();
    let file = env.path("index.php");
    let root = env.root.to_str().unwrap().to_owned();
    env.fim(&["init", file.to_str().unwrap(), &root, &root])
        .success();
    assert!(env.verify().is_empty());
    fs::write(&file, "changed").unwrap();
    let events = env.verify();
    // The file is under both roots; the deeper (the file itself) owns it: one event.
    assert_eq!(event_for(&events, &file)["kind"], "modified");
}

#[test]
fn a_closed_output_does_not_lose_the_history() {
    let env = Env::new();
    env.init();
    for i in 0..2000 {
        fs::write(env.path(&format!("new{i}.txt")), "x").unwrap();
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(["verify", "-q", "--db"])
        .arg(&env.db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader went away
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "a broken pipe is an I/O error");
    let history = env.fim(&["events", "--kind", "new"]).success().events();
    assert_eq!(history.len(), 2000, "every difference is in the history");
}

/// Unmounts its read-only bind mount when dropped, even when the test fails.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    fn new(dir: &std::path::Path) -> Option<ReadOnlyMount> {
        let mount = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .arg(dir)
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !is_root() || !mount(&["--bind"]) {
            return None;
        }
        let guard = ReadOnlyMount(dir.to_path_buf());
        mount(&["-o", "remount,bind,ro"]).then_some(guard)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_baseline_on_read_only_storage_is_verified_and_read_but_not_changed() {
    let env = Env::new();
    let media = env.base.join("media");
    fs::create_dir(&media).unwrap();
    let db = media.join("b.db");
    let db = db.to_str().unwrap();
    let root = env.root.to_str().unwrap();
    fim(&["init", "--db", db, root]).success();
    let Some(_mount) = ReadOnlyMount::new(&media) else {
        skip("a read-only bind mount needs root and mount(8)", None);
        return;
    };
    assert!(
        fs::write(media.join("probe"), "x").is_err(),
        "the mount is read-only"
    );
    fs::write(env.path("new.php"), "<?php echo 1;\n").unwrap();
    let verify = fim(&["verify", "--db", db, "--format", "text"]);
    assert_eq!(verify.code, 1, "{}", verify.stderr);
    assert!(verify.stdout.contains("new.php"), "{}", verify.stdout);
    assert!(
        verify
            .stderr
            .contains("read-only: this run's events are reported, not recorded"),
        "{}",
        verify.stderr
    );
    fim(&["events", "--db", db]).success();
    // It says what needs attention (no daemon on this baseline), with its exit code.
    let status = fim(&["status", "--db", db]);
    assert_ne!(status.code, 2, "{}", status.stderr);
    assert!(status.stdout.contains("entries"), "{}", status.stdout);
    let accept = fim(&["accept", "--db", db, "--all", "--reason", "x"]);
    assert_eq!(accept.code, 2);
    assert!(
        accept.stderr.contains(db) && accept.stderr.contains("read-only"),
        "{}",
        accept.stderr
    );
    assert_eq!(accept.stderr.lines().count(), 1, "{}", accept.stderr);
}

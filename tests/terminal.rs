//! fim at a terminal: the progress bar and the report share the screen; `accept` asks
//! for its reason.

mod common;

use std::fs;

use common::pty::{fim_on_pty, screen};
use common::*;

#[test]
fn the_progress_bar_is_cleared_before_the_report() {
    let env = Env::new();
    // A large sparse file makes the scan last long enough for the bar to be drawn.
    let big = fs::File::create(env.path("big.iso")).unwrap();
    big.set_len(384 << 20).unwrap();
    env.init();
    fs::write(env.path("index.php"), "<?php echo 'changed';\n").unwrap();
    let db = env.db.to_str().unwrap();
    let run = fim_on_pty(&["verify", "--db", db, "--format", "text"], b"");
    assert_eq!(run.code, 1);
    let raw = String::from_utf8_lossy(&run.output);
    assert!(raw.contains("verify ["), "the bar was drawn: {raw:?}");
    let lines = screen(&run.output);
    let index = env.path("index.php");
    let report = format!(
        "modified  medium   {}  [content, size, mtime, ctime]",
        index.display()
    );
    assert!(lines.contains(&report), "{lines:#?}");
    assert!(
        lines[lines.len() - 2].starts_with("fim verify: 8 entries, "),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains("verify [")), "{lines:#?}");
}

#[test]
fn accept_asks_for_its_reason_on_a_terminal() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "<?php echo 'deployed';\n").unwrap();
    let db = env.db.to_str().unwrap();
    let file = env.path("index.php");
    let run = fim_on_pty(
        &["accept", "--db", db, file.to_str().unwrap()],
        b"deploy 4.3\n",
    );
    let out = String::from_utf8_lossy(&run.output);
    assert_eq!(run.code, 0, "{out}");
    assert!(out.contains("Reason for this accept"), "{out}");
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    let reason: Option<String> = conn
        .query_row("SELECT reason FROM accepts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(reason.as_deref(), Some("deploy 4.3"));
    // Not on a terminal (cron, scripts), the reason stays optional: no question.
    fs::write(env.path("index.php"), "<?php echo 'again';\n").unwrap();
    let run = env.fim(&["accept", file.to_str().unwrap()]);
    run.success();
    assert!(!run.stderr.contains("Reason"), "{}", run.stderr);
}

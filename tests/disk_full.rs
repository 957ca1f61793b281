//! A full disk is an error that names the file and loses nothing: the previous
//! baseline stays valid. Runs where a small tmpfs can be mounted (root, as in CI).

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;

struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(at: PathBuf, size: &str) -> Option<SmallFs> {
        fs::create_dir_all(&at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then_some(SmallFs(at))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_init_and_accept_without_losing_the_baseline() {
    let mut env = Env::new();
    let Some(small) = SmallFs::mount(env.base.join("small"), "256k") else {
        skip("cannot mount a small tmpfs here", None);
        return;
    };
    env.db = small.0.join("fim.db");
    env.init();
    let before = fs::read(&env.db).unwrap();
    // Enough entries that a new baseline cannot fit.
    for i in 0..4000 {
        fs::write(
            env.path(&format!("file-with-a-long-name-{i:05}.php")),
            format!("{i}"),
        )
        .unwrap();
    }
    let run = env.fim(&["init", "--force", env.root.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("fim.db"), "{}", run.stderr);
    assert!(
        run.stderr.contains("full") || run.stderr.contains("space"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read(&env.db).unwrap(),
        before,
        "the previous baseline is untouched"
    );
    assert!(
        !small.0.join("fim.db.tmp").exists(),
        "the partial file is removed"
    );

    let run = env.fim(&["accept", "--all"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("full") || run.stderr.contains("space"),
        "{}",
        run.stderr
    );
    // Still the old, valid baseline (no integrity failure): verify reports the new
    // files, then fails (exit 2) only because it cannot record them in the history.
    let run = env.fim(&["verify", "-q"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("full"), "{}", run.stderr);
    assert!(
        run.events().len() >= 4000,
        "the differences are printed first"
    );
}

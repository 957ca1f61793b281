//! Sealed baselines: every kind of tampering is caught (exit 3, with what failed),
//! keys and trust checks, and crash safety of init and accept.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;

fn keygen(env: &Env, name: &str) -> (String, String) {
    let dir = env.base.join(name);
    let run = fim(&["keygen", "--out", dir.to_str().unwrap()]);
    run.success();
    let key = dir.join("fim.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    (
        key.to_str().unwrap().to_owned(),
        dir.join("fim.pub").to_str().unwrap().to_owned(),
    )
}

fn sql(env: &Env, statement: &str) {
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch(statement).unwrap();
}

fn expect_integrity(env: &Env, args: &[&str], what: &str) {
    let run = env.fim(args);
    assert_eq!(run.code, 3, "{what}: {}", run.stderr);
    assert!(run.stderr.contains(what), "{what}: {}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn every_tampering_fails_the_signed_check() {
    let env = Env::new();
    let (key, public) = keygen(&env, "keys");
    let (other_key, _) = keygen(&env, "other");
    let root = env.root.to_str().unwrap().to_owned();
    env.fim(&["init", "--sign-key", &key, &root]).success();
    let signed = fs::read(&env.db).unwrap();
    let verify = ["verify", "--verify-key", public.as_str()];
    assert_eq!(env.fim(&verify).code, 0);

    let restore = || fs::write(&env.db, &signed).unwrap();
    let tamperings = [
        ("UPDATE entries SET blake3 = zeroblob(32) WHERE type = 0 AND path LIKE '%index.php'", "do not match its seal"),
        ("DELETE FROM entries WHERE path LIKE '%style.css'", "do not match its seal"),
        ("INSERT INTO entries SELECT CAST('/planted' AS BLOB), type, size, mode, uid, gid, mtime_s, mtime_ns, ctime_s, ctime_ns, inode, nlink, target, xattrs, blake3 FROM entries LIMIT 1", "do not match its seal"),
        ("UPDATE meta SET value = value || '\n# edited' WHERE key = 'policy'", "do not match its seal"),
        ("UPDATE meta SET value = 'other-host' WHERE key = 'host'", "do not match its seal"),
        ("UPDATE entries SET mode = 2541 WHERE path LIKE '%index.php'", "do not match its seal"),
        ("DELETE FROM meta WHERE key LIKE 'seal_%'", "no seal"),
        ("DELETE FROM meta WHERE key IN ('seal_signature', 'seal_public_key')", "not signed, but a verify key"),
    ];
    for (statement, what) in tamperings {
        restore();
        sql(&env, statement);
        expect_integrity(&env, &verify, what);
    }

    // Re-signed with another key: the digest is right, the signature is not.
    restore();
    let db = env.db.to_str().unwrap();
    let again = fim(&[
        "init",
        "--force",
        "--db",
        db,
        "--sign-key",
        &other_key,
        &root,
    ]);
    again.success();
    expect_integrity(&env, &verify, "does not verify with");

    // A truncated file and a foreign database.
    fs::write(&env.db, &signed[..signed.len() / 3]).unwrap();
    assert_eq!(env.fim(&verify).code, 3);
    fs::remove_file(&env.db).unwrap();
    sql(&env, "CREATE TABLE meta (key TEXT, value TEXT);");
    expect_integrity(&env, &verify, "not a fim baseline");
}

#[test]
fn without_keys_the_digest_still_catches_edits() {
    let env = Env::new();
    env.init();
    assert_eq!(env.fim(&["verify"]).code, 0);
    sql(
        &env,
        "UPDATE entries SET size = size + 1 WHERE path LIKE '%index.php'",
    );
    expect_integrity(&env, &["verify"], "do not match its seal");
    expect_integrity(&env, &["accept", "--all"], "do not match its seal");
    expect_integrity(&env, &["watch"], "do not match its seal");
}

#[test]
fn signed_accept_needs_the_key_and_reseals() {
    let env = Env::new();
    let (key, public) = keygen(&env, "keys");
    env.fim(&["init", "--sign-key", &key, env.root.to_str().unwrap()])
        .success();
    fs::write(env.path("index.php"), "deployed").unwrap();
    let run = env.fim(&["accept", "--all"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--sign-key"), "{}", run.stderr);
    env.fim(&[
        "accept",
        "--all",
        "--sign-key",
        &key,
        "--verify-key",
        &public,
    ])
    .success();
    assert_eq!(env.fim(&["verify", "--verify-key", &public]).code, 0);
    // A reseal without a key would have left an unsigned baseline: refused above.
    let policy = env.write_policy(&format!(
        "verify_key = \"{public}\"\n[[watch]]\npath = \"ROOT\"\n"
    ));
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn encrypted_keys_need_their_passphrase() {
    let env = Env::new();
    let dir = env.base.join("enc");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(["keygen", "--out"])
        .arg(&dir)
        .env("FIM_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert!(run.status.success());
    let key = dir.join("fim.key");
    assert!(fs::read_to_string(&key)
        .unwrap()
        .starts_with("fim-ed25519-secret-argon2id"));
    let init = |pass: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
            .args(["init", "--force", "--db"])
            .arg(&env.db)
            .arg("--sign-key")
            .arg(&key)
            .arg(&env.root)
            .env("FIM_PASSPHRASE", pass)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let wrong = init("wrong");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"));
    assert!(init("correct horse").status.success());
    let public = dir.join("fim.pub");
    assert_eq!(
        env.fim(&["verify", "--verify-key", public.to_str().unwrap()])
            .code,
        0
    );
    // keygen never overwrites a key.
    let again = fim(&["keygen", "--out", dir.to_str().unwrap()]);
    assert_eq!(again.code, 2);
}

#[test]
fn untrusted_files_are_refused() {
    let env = Env::new();
    let (key, _) = keygen(&env, "keys");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let run = env.fim(&["init", "--sign-key", &key, env.root.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);

    env.init();
    fs::set_permissions(&env.db, fs::Permissions::from_mode(0o666)).unwrap();
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("writable by group or others"),
        "{}",
        run.stderr
    );
    fs::set_permissions(&env.db, fs::Permissions::from_mode(0o600)).unwrap();

    let policy = env.write_policy("[[watch]]\npath = \"ROOT\"\n");
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o664)).unwrap();
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("policy.toml") && run.stderr.contains("writable"),
        "{}",
        run.stderr
    );
    if is_root() {
        fs::set_permissions(&policy, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&policy, Some(4242), None).unwrap();
        let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("owned by uid 4242"), "{}", run.stderr);
    }
}

#[test]
fn killed_accept_always_leaves_a_baseline_that_verifies() {
    let env = Env::new();
    for i in 0..300 {
        fs::write(env.path(&format!("f{i}.php")), format!("<?php {i}")).unwrap();
    }
    for i in 0..20 {
        fs::write(env.path(&format!("big{i}.bin")), vec![i as u8; 1 << 20]).unwrap();
    }
    env.init();
    for (round, delay_us) in [0u64, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000]
        .into_iter()
        .enumerate()
    {
        fs::write(env.path("index.php"), format!("<?php // release {round}")).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fim"))
            .args(["accept", "--all", "-q", "--db"])
            .arg(&env.db)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill();
        child.wait().unwrap();
        let run = env.fim(&["verify"]);
        assert!(
            run.code == 0 || run.code == 1,
            "round {round}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_directory_swapped_for_a_symlink_never_leads_outside_the_tree() {
    let env = Env::new();
    let outside = env.base.join("outside");
    fs::create_dir(&outside).unwrap();
    let secret = b"root:$6$secret-hash-that-must-never-be-read:19000:0:99999:7:::";
    fs::write(outside.join("shadow"), secret).unwrap();
    let dir = env.path("sub");
    fs::write(dir.join("shadow"), "decoy").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (dir, outside, stop) = (dir.clone(), outside.clone(), stop.clone());
        let parked = env.base.join("parked");
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::rename(&dir, &parked);
                let _ = std::os::unix::fs::symlink(&outside, &dir);
                std::thread::yield_now();
                let _ = fs::remove_file(&dir);
                let _ = fs::rename(&parked, &dir);
            }
        })
    };
    let secret_hash = blake3_hex(secret);
    for _ in 0..40 {
        let run = env.fim(&["init", "-q", "--force", env.root.to_str().unwrap()]);
        assert!(run.code == 0, "{}", run.stderr);
        let conn = rusqlite::Connection::open(&env.db).unwrap();
        let mut stmt = conn.prepare("SELECT path, blake3 FROM entries").unwrap();
        let rows: Vec<(Vec<u8>, Option<Vec<u8>>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (path, hash) in rows {
            let hex = hash.map(|h| h.iter().map(|b| format!("{b:02x}")).collect::<String>());
            assert_ne!(
                hex.as_deref(),
                Some(secret_hash.as_str()),
                "read outside the tree via {}",
                String::from_utf8_lossy(&path)
            );
            assert!(path.starts_with(env.root.to_str().unwrap().as_bytes()));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
}

#[test]
fn reports_name_the_seal_which_is_stable_until_accept() {
    let env = Env::new();
    let run = env.fim(&["init", env.root.to_str().unwrap()]);
    run.success();
    let seal_of = |text: &str| -> String {
        let at = text
            .find("seal ")
            .unwrap_or_else(|| panic!("no seal in {text}"))
            + 5;
        text[at..at + 64].to_owned()
    };
    let seal = seal_of(&run.stderr);
    let recorded: String = rusqlite::Connection::open(&env.db)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'seal_digest'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seal, recorded);

    // Each verify records its events in the file, so the file's own hash changes; the
    // seal, in the text report and in the summary, does not.
    fs::write(env.path("index.php"), "changed").unwrap();
    let mut file_hashes = Vec::new();
    for _ in 0..2 {
        let run = env.fim(&["verify", "--format", "text"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(seal_of(&run.stdout), seal, "{}", run.stdout);
        assert_eq!(seal_of(&run.stderr), seal, "{}", run.stderr);
        file_hashes.push(blake3_hex(&fs::read(&env.db).unwrap()));
    }
    assert_ne!(file_hashes[0], file_hashes[1]);
    // A copy kept elsewhere reports the same seal.
    let copy = env.base.join("copy.db");
    fs::copy(&env.db, &copy).unwrap();
    let run = fim(&["verify", "--db", copy.to_str().unwrap()]);
    assert_eq!(seal_of(&run.stderr), seal, "{}", run.stderr);

    // accept changes what the baseline asserts: a new seal, reported from then on.
    let run = env.fim(&["accept", "--reason", "deploy", "--all"]);
    run.success();
    let accepted = seal_of(&run.stderr);
    assert_ne!(accepted, seal);
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(seal_of(&run.stderr), accepted);
}

//! `fim verify` reports each kind of change, exactly as the contract names it.

mod common;

use std::fs::{self, File, FileTimes};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::SystemTime;

use common::*;

/// Restore `path`'s mtime after a write, like `touch -r`: only ctime can betray it.
fn write_keeping_mtime(path: &std::path::Path, content: &str) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    fs::write(path, content).unwrap();
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(
            FileTimes::new()
                .set_modified(mtime)
                .set_accessed(SystemTime::now()),
        )
        .unwrap();
}

#[test]
fn unchanged_tree_verifies_clean_every_time() {
    let env = Env::new();
    env.init();
    assert!(env.verify().is_empty());
    assert!(env.verify().is_empty());
}

#[test]
fn content_change_with_mtime_put_back_is_caught_by_hash() {
    let env = Env::new();
    env.init();
    let path = env.path("index.php");
    let old = fs::read(&path).unwrap();
    write_keeping_mtime(&path, "<?php system($_GET['c']);\n");
    let events = env.verify();
    let e = event_for(&events, &path);
    assert_eq!(e["kind"], "modified");
    let c = changes(e);
    assert!(c.contains(&"content") && c.contains(&"ctime"), "{c:?}");
    assert!(!c.contains(&"mtime"), "{c:?}");
    assert_eq!(e["old"]["blake3"], blake3_hex(&old));
    assert_eq!(
        e["new"]["blake3"],
        blake3_hex(b"<?php system($_GET['c']);\n")
    );
    assert_eq!(e["type"], "file");
    assert_eq!(e["source"], "verify");
    assert!(e["rule"].is_null());
}

#[test]
fn same_size_change_reports_content_not_size() {
    let env = Env::new();
    env.init();
    let path = env.path("style.css");
    let old = fs::read_to_string(&path).unwrap();
    fs::write(&path, old.replace("black", "white")).unwrap();
    let c = changes(event_for(&env.verify(), &path)).join(",");
    assert!(c.contains("content") && !c.contains("size"), "{c}");
}

#[test]
fn append_and_truncate_report_content_and_size() {
    let env = Env::new();
    env.init();
    let appended = env.path("index.php");
    let truncated = env.path("style.css");
    fs::OpenOptions::new()
        .append(true)
        .open(&appended)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"<?php eval($x);"))
        .unwrap();
    File::options()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(3)
        .unwrap();
    let events = env.verify();
    for path in [&appended, &truncated] {
        let e = event_for(&events, path);
        let c = changes(e);
        assert!(c.contains(&"content") && c.contains(&"size"), "{c:?}");
    }
    assert_eq!(event_for(&events, &truncated)["new"]["size"], 3);
}

#[test]
fn chmod_with_setuid_reports_mode() {
    let env = Env::new();
    env.init();
    let path = env.path("index.php");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o4755)).unwrap();
    let e = event_for(&env.verify(), &path).clone();
    assert_eq!(changes(&e), ["mode", "ctime"]);
    assert_eq!(e["old"]["mode"], "0644");
    assert_eq!(e["new"]["mode"], "4755");
}

#[test]
fn chown_reports_uid_and_gid() {
    if !is_root() {
        skip("chown needs root (CI runs as root)", None);
        return;
    }
    let env = Env::new();
    env.init();
    let path = env.path("index.php");
    std::os::unix::fs::chown(&path, Some(4321), Some(4322)).unwrap();
    let e = event_for(&env.verify(), &path).clone();
    let c = changes(&e);
    assert!(c.contains(&"uid") && c.contains(&"gid"), "{c:?}");
    assert_eq!(e["new"]["uid"], 4321);
    assert_eq!(e["new"]["gid"], 4322);
}

#[test]
fn new_files_including_hidden_ones_are_reported() {
    let env = Env::new();
    env.init();
    fs::write(env.path("shell.php"), "<?php eval($_POST[1]);").unwrap();
    fs::write(env.path("sub/.user.ini"), "auto_prepend_file=x").unwrap();
    fs::create_dir(env.path(".well-known")).unwrap();
    fs::write(env.path(".well-known/.htaccess"), "Options +ExecCGI").unwrap();
    let events = env.verify();
    for rel in [
        "shell.php",
        "sub/.user.ini",
        ".well-known",
        ".well-known/.htaccess",
    ] {
        let e = event_for(&events, &env.path(rel));
        assert_eq!(e["kind"], "new", "{rel}");
        assert!(e.get("old").is_none() && e.get("changes").is_none(), "{e}");
    }
    let e = event_for(&events, &env.path("shell.php"));
    assert_eq!(e["new"]["blake3"], blake3_hex(b"<?php eval($_POST[1]);"));
    assert_eq!(event_for(&events, &env.path(".well-known"))["type"], "dir");
}

#[test]
fn deleted_file_and_every_entry_of_a_deleted_tree_are_reported() {
    let env = Env::new();
    env.init();
    fs::remove_file(env.path("style.css")).unwrap();
    fs::remove_dir_all(env.path("sub")).unwrap();
    let events = env.verify();
    for rel in [
        "style.css",
        "sub",
        "sub/page.html",
        "sub/deeper",
        "sub/deeper/data.txt",
    ] {
        let e = event_for(&events, &env.path(rel));
        assert_eq!(e["kind"], "deleted", "{rel}");
        assert!(e.get("new").is_none() && e["old"].is_object(), "{e}");
    }
    assert_eq!(event_for(&events, &env.path("sub"))["type"], "dir");
}

#[test]
fn rename_is_a_deletion_and_a_new_entry() {
    let env = Env::new();
    env.init();
    fs::rename(env.path("style.css"), env.path("style.old.css")).unwrap();
    let events = env.verify();
    assert_eq!(
        event_for(&events, &env.path("style.css"))["kind"],
        "deleted"
    );
    let new = event_for(&events, &env.path("style.old.css"));
    assert_eq!(new["kind"], "new");
    assert_eq!(new["new"]["blake3"], blake3_hex(b"body { color: black }\n"));
}

#[test]
fn file_replaced_by_symlink_or_directory_reports_type() {
    let env = Env::new();
    env.init();
    fs::remove_file(env.path("index.php")).unwrap();
    symlink("/etc/passwd", env.path("index.php")).unwrap();
    fs::remove_file(env.path("style.css")).unwrap();
    fs::create_dir(env.path("style.css")).unwrap();
    let events = env.verify();
    let link = event_for(&events, &env.path("index.php"));
    assert_eq!(link["kind"], "modified");
    assert_eq!(link["type"], "symlink");
    assert!(changes(link).contains(&"type") && changes(link).contains(&"target"));
    assert_eq!(link["new"]["target"], "/etc/passwd");
    assert!(link["new"].get("blake3").is_none());
    assert_eq!(link["old"]["type"], "file");
    let dir = event_for(&events, &env.path("style.css"));
    assert_eq!(dir["type"], "dir");
    assert!(changes(dir).contains(&"type"));
}

#[test]
fn retargeted_symlink_reports_target() {
    let env = Env::new();
    let link = env.path("current");
    symlink("releases/1", &link).unwrap();
    env.init();
    fs::remove_file(&link).unwrap();
    symlink("releases/2", &link).unwrap();
    let events = env.verify();
    let e = event_for(&events, &link);
    assert!(changes(e).contains(&"target"), "{e}");
    assert_eq!(e["old"]["target"], "releases/1");
    assert_eq!(e["new"]["target"], "releases/2");
    assert_eq!(e["new"]["size"], "releases/2".len());
}

#[test]
fn symlinks_are_never_followed() {
    let env = Env::new();
    let outside = env.base.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "s").unwrap();
    symlink(&outside, env.path("escape")).unwrap();
    env.init();
    fs::write(outside.join("secret"), "changed").unwrap();
    fs::write(outside.join("added"), "x").unwrap();
    assert!(
        env.verify().is_empty(),
        "a change outside the tree was seen through a link"
    );
    let out = env.fim(&["events"]);
    assert!(!out.stdout.contains("outside"));
}

#[test]
fn hardlink_added_reports_nlink() {
    let env = Env::new();
    env.init();
    let path = env.path("index.php");
    fs::hard_link(&path, env.base.join("outside-link")).unwrap();
    let e = event_for(&env.verify(), &path).clone();
    assert_eq!(changes(&e), ["ctime", "nlink"]);
    assert_eq!(e["new"]["nlink"], 2);
}

#[test]
fn xattr_added_reports_xattrs() {
    let env = Env::new();
    env.init();
    let path = env.path("index.php");
    match rustix::fs::setxattr(
        &path,
        "user.fim-test",
        b"v",
        rustix::fs::XattrFlags::empty(),
    ) {
        Err(rustix::io::Errno::NOTSUP) => {
            skip("this filesystem has no user extended attributes", None);
            return;
        }
        other => other.unwrap(),
    }
    let e = event_for(&env.verify(), &path).clone();
    assert!(changes(&e).contains(&"xattrs"), "{e}");
    assert_eq!(e["new"]["xattrs"]["user.fim-test"], "dg==");
}

#[test]
fn replacing_a_file_with_an_identical_copy_reports_inode_not_content() {
    let env = Env::new();
    env.init();
    let path = env.path("index.php");
    let copy = env.path("index.php.tmp");
    fs::copy(&path, &copy).unwrap();
    fs::rename(&copy, &path).unwrap();
    let c = changes(event_for(&env.verify(), &path)).join(",");
    assert!(c.contains("inode") && !c.contains("content"), "{c}");
}

#[test]
fn non_utf8_and_newline_names_round_trip() {
    use base64::Engine;
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let raw = env.path(
        std::ffi::OsStr::from_bytes(b"caf\xe9.php")
            .to_str()
            .unwrap_or("x"),
    );
    let raw = if raw.ends_with("x") {
        env.root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.php"))
    } else {
        raw
    };
    let newline = env.path("evil\nname.php");
    fs::write(&raw, "latin-1").unwrap();
    fs::write(&newline, "nl").unwrap();
    env.init();
    // Stored as bytes: the tree verifies clean.
    assert!(env.verify().is_empty());
    fs::write(&raw, "changed").unwrap();
    fs::write(&newline, "changed").unwrap();
    let events = env.verify();
    let files = non_dir_events(&events);
    assert_eq!(files.len(), 2, "{events:#?}");
    let latin = files
        .iter()
        .find(|e| e.get("path_bytes").is_some())
        .unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(latin["path_bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, raw.as_os_str().as_bytes());
    assert!(latin["path"].as_str().unwrap().ends_with("caf\u{fffd}.php"));
    let nl = files
        .iter()
        .find(|e| e.get("path_bytes").is_none())
        .unwrap();
    assert_eq!(nl["path"], newline.to_str().unwrap());
    assert_eq!(nl["kind"], "modified");
}

#[test]
fn fifo_socket_and_device_are_recorded_never_read() {
    let env = Env::new();
    let fifo = env.path("pipe");
    mkfifo(&fifo);
    let _socket = std::os::unix::net::UnixListener::bind(env.path("sock")).unwrap();
    let device = env.path("null");
    let have_device = rustix::fs::mknodat(
        rustix::fs::CWD,
        &device,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .is_ok();
    env.init(); // must not block on the FIFO (the helper fails the test on a hang)
    assert!(env.verify().is_empty());
    fs::remove_file(&fifo).unwrap();
    fs::write(&fifo, "now a file").unwrap();
    let events = env.verify();
    let e = event_for(&events, &fifo);
    assert_eq!(e["old"]["type"], "fifo");
    assert!(e["old"].get("blake3").is_none());
    assert_eq!(e["type"], "file");
    // The socket and device are recorded with their types.
    let out = env.fim(&["events"]);
    assert!(!out.stdout.contains("\"sock\""));
    fs::remove_file(env.path("sock")).unwrap();
    if have_device {
        fs::remove_file(&device).unwrap();
    }
    let events = env.verify();
    assert_eq!(event_for(&events, &env.path("sock"))["type"], "socket");
    if have_device {
        assert_eq!(event_for(&events, &device)["type"], "char");
    }
}

#[test]
fn large_file_is_hashed_exactly() {
    let env = Env::new();
    let big = env.path("big.bin");
    let data: Vec<u8> = (0..(9u32 << 20) + 17).map(|i| (i % 251) as u8).collect();
    fs::write(&big, &data).unwrap();
    env.init();
    let mut changed = data.clone();
    changed[5 << 20] ^= 1;
    write_keeping_mtime(&big, std::str::from_utf8(&[]).unwrap());
    fs::write(&big, &changed).unwrap();
    let e = event_for(&env.verify(), &big).clone();
    assert_eq!(e["old"]["blake3"], blake3_hex(&data));
    assert_eq!(e["new"]["blake3"], blake3_hex(&changed));
}

#[test]
fn baseline_inside_the_watched_tree_is_never_reported() {
    let mut env = Env::new();
    env.db = env.root.join("sub/fim.db");
    env.init();
    assert!(env.verify().is_empty());
    assert!(env.verify().is_empty());
    fs::write(env.path("sub/fim.db.bak"), "not ours").unwrap();
    let events = env.verify();
    assert_eq!(
        event_for(&events, &env.path("sub/fim.db.bak"))["kind"],
        "new"
    );
}

#[test]
fn event_fields_follow_the_contract() {
    let env = Env::new();
    env.init();
    fs::write(env.path("index.php"), "x").unwrap();
    let events = env.verify();
    let e = event_for(&events, &env.path("index.php"));
    let ts = e["ts"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-11-25T19:13:00.123Z".len(), "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.');
    assert_eq!(e["id"].as_str().unwrap().len(), 36);
    assert_eq!(e["severity"], "medium");
    assert_eq!(
        e["host"],
        rustix::system::uname().nodename().to_str().unwrap()
    );
    let mtime = e["new"]["mtime"].as_str().unwrap();
    assert!(
        mtime.len() == "2026-11-25T19:13:00.123456789Z".len(),
        "{mtime}"
    );
    for key in [
        "type", "size", "mode", "uid", "gid", "mtime", "ctime", "inode", "nlink", "blake3",
    ] {
        assert!(e["new"].get(key).is_some(), "missing {key} in {e}");
    }
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids.len(), events.len());
}

#[test]
fn paths_longer_than_path_max_are_walked_and_reported() {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    let env = Env::new();
    // 30 levels of 200-byte names: about 6,000 bytes, beyond PATH_MAX (4,096), so it
    // can only be built and read relative to directory descriptors.
    let name = "d".repeat(200);
    let mut dir = openat(rustix::fs::CWD, &env.root, OFlags::DIRECTORY, Mode::empty()).unwrap();
    for _ in 0..30 {
        mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        dir = openat(&dir, name.as_str(), OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    let write = |content: &[u8]| {
        let fd = openat(
            &dir,
            "deep.php",
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC,
            Mode::from_raw_mode(0o644),
        )
        .unwrap();
        rustix::io::write(&fd, content).unwrap();
    };
    write(b"<?php deep");
    env.init();
    assert!(env.verify().is_empty());
    write(b"<?php deeper");
    let events = env.verify();
    let deep: Vec<_> = events
        .iter()
        .filter(|e| e["path"].as_str().unwrap().ends_with("/deep.php"))
        .collect();
    assert_eq!(deep.len(), 1, "{events:#?}");
    assert!(deep[0]["path"].as_str().unwrap().len() > 6000);
    assert_eq!(deep[0]["new"]["blake3"], blake3_hex(b"<?php deeper"));
}

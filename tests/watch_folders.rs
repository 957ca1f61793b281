//! `fim watch` and folders that appear: one event for a new folder, however it is
//! filled.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;

#[test]
fn a_new_folder_being_filled_is_reported_once() {
    let env = Env::new();
    env.init();
    let mut d = Daemon::start(&env, &[]);
    let dir = env.path("gallery");
    fs::create_dir(&dir).unwrap();
    d.expect("new", &dir);
    // Filled over half a second, well past the 100 ms after which the folder's own
    // mtime and ctime change would be looked at.
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(120));
        fs::write(dir.join(format!("photo-{i}.html")), "<p>photo</p>\n").unwrap();
    }
    fs::create_dir(dir.join("thumbs")).unwrap();
    for i in 0..5 {
        d.expect("new", &dir.join(format!("photo-{i}.html")));
    }
    d.expect("new", &dir.join("thumbs"));
    std::thread::sleep(Duration::from_millis(500));
    let about: Vec<_> = d.about(&dir).iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(about, ["new"], "{:#?}", d.about(&dir));
    // What is news about the folder itself is still reported.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let e = d.expect("modified", &dir);
    assert!(changes(&e).contains(&"mode"), "{e}");
    // An existing folder whose listing changes is reported as before.
    d.expect("modified", &env.root);
    assert_eq!(d.stop().0, 0);
}

//! When `fs.inotify.max_user_watches` is too small, the daemon says so with the exact
//! sysctl to run, and still starts. In its own test binary because it lowers a
//! system-wide setting.

mod common;

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";

#[test]
fn too_few_inotify_watches_are_reported_with_the_sysctl_to_run() {
    let env = Env::new();
    for i in 0..20 {
        std::fs::create_dir_all(env.path(&format!("d{i}/e"))).unwrap();
    }
    env.init();
    let Ok(old) = std::fs::read_to_string(WATCHES) else {
        skip(&format!("{WATCHES} is not readable"), None);
        return;
    };
    if std::fs::write(WATCHES, "1").is_err() {
        skip(&format!("cannot lower {WATCHES} here"), None);
        return;
    }
    let socket = env.base.join("notify.sock");
    let notify = UnixDatagram::bind(&socket).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_fim"))
        .args(["watch", "--db"])
        .arg(&env.db)
        .env("NOTIFY_SOCKET", &socket)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut buf = [0u8; 4096];
    let ready = (0..20).any(|_| {
        notify
            .recv(&mut buf)
            .is_ok_and(|n| String::from_utf8_lossy(&buf[..n]).contains("READY=1"))
    });
    std::fs::write(WATCHES, old.trim()).unwrap();
    let mut child = child.unwrap();
    assert!(ready, "the daemon still starts");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        stderr.contains("sysctl -w fs.inotify.max_user_watches="),
        "{stderr}"
    );
    assert!(stderr.contains("could not be watched"), "{stderr}");
}

//! A real systemd-journald for the journal tests, in a journald namespace of its own
//! (`systemd-journald NAME`, as `systemd-journald@NAME.service` runs it): its sockets
//! in `/run/systemd/journal.NAME/`, its files in `/var/log/journal/MACHINE.NAME/`, read
//! with `journalctl --namespace NAME`. It needs no systemd as PID 1. Both directories
//! go when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::servers::wait_for;

pub const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// Are journald and journalctl here? Missing, the test is skipped, unless CI asks for
/// them with FIM_REQUIRE_JOURNALD=1.
pub fn have() -> bool {
    let here = Path::new(JOURNALD).exists() && crate::common::tool("journalctl").is_some();
    if !here {
        assert!(
            std::env::var_os("FIM_REQUIRE_JOURNALD").is_none(),
            "the journal tests need {JOURNALD} and journalctl (Debian systemd)"
        );
        eprintln!("skipped: no {JOURNALD} or journalctl");
    }
    here
}

pub struct Journald {
    child: Child,
    pub namespace: String,
    run: PathBuf,
    files: Option<PathBuf>,
}

impl Journald {
    pub fn start() -> Journald {
        let namespace = format!("fim-test-{}-{}", std::process::id(), rand_suffix());
        let child = Command::new(JOURNALD)
            .arg(&namespace)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let run = PathBuf::from(format!("/run/systemd/journal.{namespace}"));
        let files = std::fs::read_to_string("/etc/machine-id")
            .ok()
            .map(|id| PathBuf::from(format!("/var/log/journal/{}.{namespace}", id.trim())));
        let journald = Journald {
            child,
            namespace,
            run,
            files,
        };
        wait_for("journald's syslog socket", || journald.dev_log().exists());
        wait_for("journald started", || {
            journald.text().contains("Journal started")
        });
        journald
    }

    /// The socket syslog(3) writes to (`/dev/log` for what logs into this namespace).
    pub fn dev_log(&self) -> PathBuf {
        self.run.join("dev-log")
    }

    /// Everything it holds, one `short-iso` line per entry.
    pub fn text(&self) -> String {
        let out = Command::new("journalctl")
            .arg(format!("--namespace={}", self.namespace))
            .args(["--no-pager", "-o", "short-iso", "--all"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An entry sent on the native protocol, with the fields given (`MESSAGE`, ...).
    pub fn send(&self, fields: &[(&str, &str)]) {
        let mut datagram = String::new();
        for (k, v) in fields {
            datagram.push_str(&format!("{k}={v}\n"));
        }
        let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
        sock.send_to(datagram.as_bytes(), self.run.join("socket"))
            .unwrap();
    }
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.run);
        if let Some(files) = &self.files {
            let _ = std::fs::remove_dir_all(files);
        }
    }
}

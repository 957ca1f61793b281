//! A real OpenSSH server on loopback for the login tests: its own host key, config and
//! authorized key in the test's directory, run in a private mount namespace whose
//! `/dev/log` is the socket of an rsyslogd started here, which writes the auth log in
//! the traditional format (`auth.log`) and with RFC 3339 high-precision stamps
//! (`auth-hp.log`), as Debian's rsyslog does; or the syslog socket of a journald
//! (`Sshd::start_into_journal`), as on a Debian 12 without rsyslog.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::servers::{free_port, wait_for};

pub const SSHD: &str = "/usr/sbin/sshd";

/// Are sshd, ssh, sshpass, hydra, rsyslogd and unshare here? Missing, the test is
/// skipped, unless CI asks for them with FIM_REQUIRE_SSHD=1.
pub fn have_all() -> bool {
    let missing: Vec<&str> = [SSHD, "/usr/sbin/rsyslogd"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .chain(
            ["ssh", "ssh-keygen", "sshpass", "hydra", "unshare"]
                .into_iter()
                .filter(|t| crate::common::tool(t).is_none()),
        )
        .collect();
    let root = crate::common::is_root();
    if missing.is_empty() && root {
        return true;
    }
    assert!(
        std::env::var_os("FIM_REQUIRE_SSHD").is_none(),
        "the login tests need {missing:?} and root (sshd, mount namespaces)"
    );
    eprintln!("skipped: missing {missing:?} (or not root)");
    false
}

pub struct Sshd {
    children: Vec<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub log_hp: PathBuf,
    pub key: PathBuf,
    /// The journald namespace it logs into, instead of rsyslogd's files.
    journal: Option<String>,
}

const RUN: &str = r#"set -e
T=$1
mkdir -p "$T/dev"
for n in null zero random urandom full tty; do
    touch "$T/dev/$n"; mount --bind "/dev/$n" "$T/dev/$n"
done
ln -sf "$T/log.sock" "$T/dev/log"
mount --bind "$T/dev" /dev
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -f "$T/sshd_config"
"#;

impl Sshd {
    pub fn start(base: &Path) -> Sshd {
        Sshd::start_with(base, None)
    }

    /// Logging to the syslog socket of `journald`.
    #[allow(dead_code)]
    pub fn start_into_journal(base: &Path, journald: &crate::journald::Journald) -> Sshd {
        Sshd::start_with(base, Some(journald))
    }

    fn start_with(base: &Path, journald: Option<&crate::journald::Journald>) -> Sshd {
        let dir = base.join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        for key in ["host_key", "client_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .unwrap();
            assert!(status.success());
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("rsyslog.conf"),
            format!(
                r#"global(workDirectory="{d}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{d}/log.sock")
action(type="omfile" file="{d}/auth.log" template="RSYSLOG_TraditionalFileFormat")
action(type="omfile" file="{d}/auth-hp.log" template="RSYSLOG_FileFormat")
"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 LogLevel VERBOSE\nPermitRootLogin yes\nAuthorizedKeysFile {d}/authorized_keys\n\
                 StrictModes no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nMaxStartups 100\nMaxAuthTries 10\n"
            ),
        )
        .unwrap();
        let sock = dir.join("log.sock");
        let mut children = Vec::new();
        match journald {
            Some(j) => std::os::unix::fs::symlink(j.dev_log(), &sock).unwrap(),
            None => {
                children.push(
                    Command::new("/usr/sbin/rsyslogd")
                        .args(["-n", "-f"])
                        .arg(dir.join("rsyslog.conf"))
                        .arg("-i")
                        .arg(dir.join("rsyslog.pid"))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
                wait_for("rsyslogd's socket", || sock.exists());
            }
        }
        std::fs::write(dir.join("run.sh"), RUN).unwrap();
        let sshd = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh"])
            .arg(dir.join("run.sh"))
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        children.push(sshd);
        let log = dir.join("auth.log");
        let sshd = Sshd {
            children,
            journal: journald.map(|j| j.namespace.clone()),
            port,
            log_hp: dir.join("auth-hp.log"),
            key: dir.join("client_key"),
            log,
            dir,
        };
        wait_for("sshd listening", || sshd.logged("Server listening on"));
        sshd
    }

    /// What it logged so far.
    fn text(&self) -> String {
        match &self.journal {
            Some(ns) => {
                let out = Command::new("journalctl")
                    .arg(format!("--namespace={ns}"))
                    .args(["--no-pager", "-o", "cat", "--all"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
            None => std::fs::read_to_string(&self.log).unwrap_or_default(),
        }
    }

    pub fn logged(&self, text: &str) -> bool {
        self.text().contains(text)
    }

    pub fn count(&self, text: &str) -> usize {
        self.text().matches(text).count()
    }

    /// The failures sshd logged: failed passwords, and connections abandoned while
    /// authenticating a user (hydra's first, which only asks the methods) that told
    /// no failed password.
    pub fn failures(&self) -> usize {
        let text = self.text();
        // `... sshd[PID]: ...` (`sshd-session[PID]` from OpenSSH 9.8).
        let pid = |line: &str| {
            let (tag, _) = line.split_once("]: ")?;
            Some(tag.rsplit_once('[')?.1.to_owned())
        };
        let failed: Vec<String> = text
            .lines()
            .filter(|l| l.contains("Failed password"))
            .filter_map(pid)
            .collect();
        let abandoned = text
            .lines()
            .filter(|l| l.contains(" authenticating user ") && l.ends_with("[preauth]"))
            .filter_map(pid)
            .filter(|p| !failed.contains(p))
            .count();
        failed.len() + abandoned
    }

    /// hydra, bounded, four tasks. (sshd's `MaxAuthTries` is above what one task tries:
    /// hydra 9.4 hangs when sshd cuts a connection at the limit.) On a loaded machine a
    /// worker of hydra now and then fails to connect and hydra gives up on the target;
    /// it is run again then, up to three times: the tests count what sshd logged, not
    /// what hydra tried.
    pub fn hydra(&self, users: &[&str], passwords: &[&str]) {
        let (u, p) = (self.dir.join("users.txt"), self.dir.join("passwords.txt"));
        std::fs::write(&u, users.join("\n") + "\n").unwrap();
        std::fs::write(&p, passwords.join("\n") + "\n").unwrap();
        let mut tried = String::new();
        for _ in 0..3 {
            let out = Command::new("timeout")
                .args(["20", "hydra", "-I", "-L"])
                .arg(&u)
                .arg("-P")
                .arg(&p)
                .args(["-t", "4", "-s", &self.port.to_string(), "127.0.0.1", "ssh"])
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            tried += &format!(
                "{}: {}{}\n",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("hydra failed three times:\n{tried}");
    }

    fn ssh(&self) -> Command {
        let mut c = Command::new("timeout");
        c.args(["20", "ssh", "-T", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .args(["-p", &self.port.to_string()]);
        c
    }

    /// A password login with sshpass (which fails: the test knows no password).
    pub fn password(&self, user: &str, password: &str) {
        let status = Command::new("sshpass")
            .args(["-p", password])
            .args(self.ssh().get_args())
            .args([
                "-o",
                "PubkeyAuthentication=no",
                &format!("{user}@127.0.0.1"),
                "true",
            ])
            .status()
            .unwrap();
        assert!(!status.success(), "the password was accepted");
    }

    /// A real success: root with the test's key.
    pub fn login_with_key(&self) {
        self.session("true");
    }

    /// A root session with the test's key that runs `command` (sh), then ends.
    pub fn session(&self, command: &str) {
        let before = self.count("Accepted publickey");
        let status = self
            .ssh()
            .args(["-o", "BatchMode=yes", "-i"])
            .arg(&self.key)
            .args(["root@127.0.0.1", command])
            .status()
            .unwrap();
        assert!(status.success(), "{command}");
        wait_for("the login logged", || {
            self.count("Accepted publickey") > before
        });
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // sshd runs under `sh`'s exec inside unshare: the pid file names it.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("sshd.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(pid).unwrap(),
                    rustix::process::Signal::TERM,
                );
            }
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

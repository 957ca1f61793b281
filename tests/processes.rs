//! The process detectors on real processes: copies of `sleep` run from the docroot,
//! `/tmp` and `/dev/shm`, programs run from a memfd, a binary deleted after it started,
//! a shell under a parent named `php-fpm`, a `stratum+tcp://` command line, a web user's
//! loopback listener started after `init` (tied to the script it runs) and accepted
//! away; under `fim watch`: a 20 ms shell of a `php-fpm: pool www` worker running as
//! the web user caught by its exec event, a planted script's shell and the listener it
//! leaves behind tied to the script and to the shell, and a quiet window of ordinary
//! work (a compile, cron-like shells) that makes no event.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{related, Daemon, Env};
use serde_json::Value;

const POLICY: &str = r#"[[watch]]
path = "ROOT"

[processes]
interval = "1s"
"#;

const PYTHON: &str = "/usr/bin/python3";

/// Every process a test starts, each in its own process group, killed with its
/// children when the test ends (also when it fails).
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    fn start(&mut self, command: &mut Command) -> u32 {
        command.process_group(0);
        // A copy just written may still be open in a child another test thread forked
        // (until its exec): "text file busy" for a moment.
        let mut tries = 0;
        let child = loop {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(26) && tries < 50 => tries += 1,
                other => break other.unwrap(),
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let pid = child.id();
        self.0.push(child);
        pid
    }

    fn spawn(&mut self, program: &Path, args: &[&str]) -> u32 {
        self.start(Command::new(program).args(args))
    }

    /// Run to the end, bounded: a hang fails the test.
    fn run(&mut self, command: &mut Command) {
        self.start(command);
        let child = self.0.last_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "{command:?}: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "{command:?} hung");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            if let Some(group) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = c.wait();
        }
    }
}

/// The web server user (uid, gid), when the host has one.
fn web_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("www-data:"))?;
    let mut f = line.split(':').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// Root (setuid, exec events) and a web user, or the reason to skip.
fn privileged() -> Option<(u32, u32)> {
    if !common::is_root() {
        common::skip("exec events and setuid need root", Some("FIM_REQUIRE_ROOT"));
        return None;
    }
    let user = web_user();
    if user.is_none() {
        common::skip("no www-data user", Some("FIM_REQUIRE_ROOT"));
    }
    user
}

/// The test tree readable by the web user (temporary directories are private).
fn open_to_all(env: &Env) {
    for dir in [&env.base, &env.root] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn copy_of(program: &str, to: &Path) {
    std::fs::copy(program, to).unwrap();
}

/// A program that runs `/bin/sleep` from a memfd sealed immutable, as runc does.
const MEMFD_SLEEP: &str = "import os, fcntl
fd = os.memfd_create('fim-test', os.MFD_ALLOW_SEALING)
os.write(fd, open('/bin/sleep', 'rb').read())
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK)
os.execv('/proc/self/fd/%d' % fd, ['sleep', '30'])";

/// Listens on the loopback port of its first argument, then waits.
const SERVE: &str = "import socket, sys, time
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen()
time.sleep(30)
";

fn process_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["category"] == "process")
        .collect()
}

fn find<'a>(events: &[&'a Value], kind: &str, pid: u32) -> Option<&'a Value> {
    events
        .iter()
        .copied()
        .find(|e| e["kind"] == kind && e["pid"] == pid)
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .contains(&format!(":{port:04X} 00000000:0000 0A"))
    {
        assert!(Instant::now() < deadline, "nothing listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait (up to 10 s) for a process event `pick` chooses.
fn expect(daemon: &mut Daemon, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = daemon.drain().iter().find(|e| pick(e)) {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what}; saw {:#?}",
            daemon.seen
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn verify_reports_suspicious_processes_once_each_and_not_ordinary_ones() {
    let env = Env::new();
    env.init_with_policy(POLICY);
    let web = if common::is_root() { web_user() } else { None };
    let mut procs = Procs::default();
    let tmp = tempfile::tempdir_in("/tmp").unwrap();
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();

    let docroot_sleep = env.path("sleep-copy");
    copy_of("/bin/sleep", &docroot_sleep);
    let in_docroot = procs.spawn(&docroot_sleep, &["30"]);
    let tmp_sleep = tmp.path().join("sleep");
    copy_of("/bin/sleep", &tmp_sleep);
    let in_tmp = procs.spawn(&tmp_sleep, &["30"]);
    let shm_sleep = shm.path().join("sleep");
    copy_of("/bin/sleep", &shm_sleep);
    let in_shm = procs.spawn(&shm_sleep, &["30"]);
    let in_memfd = procs.spawn(Path::new(PYTHON), &["-c", MEMFD_SLEEP]);
    let gone = env.base.join("gone");
    copy_of("/bin/sleep", &gone);
    let deleted = procs.spawn(&gone, &["30"]);
    let fpm = env.base.join("php-fpm");
    copy_of("/bin/sh", &fpm);
    let worker = procs.spawn(&fpm, &["-c", "sh -c 'sleep 30; true'; true"]);
    let miner = procs.spawn(
        Path::new("/bin/sh"),
        &["-c", "sleep 30; true", "stratum+tcp://pool.example:3333"],
    );
    let ordinary = procs.spawn(Path::new("/bin/sh"), &["-c", "sleep 30; true"]);
    // The web user runs a script just dropped into the docroot; it listens.
    let port = free_port();
    std::fs::create_dir(env.path("uploads")).unwrap();
    std::fs::write(env.path("uploads/serve.py"), SERVE).unwrap();
    let mut listen_as = Command::new(PYTHON);
    listen_as
        .args(["uploads/serve.py", &port.to_string()])
        .current_dir(&env.root);
    let mut web_memfd = None;
    if let Some((uid, gid)) = web {
        open_to_all(&env);
        listen_as.uid(uid).gid(gid);
        web_memfd = Some(
            procs.start(
                Command::new(PYTHON)
                    .args(["-c", MEMFD_SLEEP])
                    .uid(uid)
                    .gid(gid),
            ),
        );
    }
    let listener = procs.start(&mut listen_as);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&gone).unwrap();
    wait_listening(port);

    let events = env.verify();
    let script = common::event_for(&events, &env.path("uploads/serve.py"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = process_events(&events);
    let docroot = find(&found, "exec-from-writable", in_docroot).expect("docroot sleep");
    assert_eq!(docroot["exe"], docroot_sleep.to_str().unwrap());
    assert_eq!(
        docroot["cmdline"],
        serde_json::json!([docroot_sleep.to_str().unwrap(), "30"])
    );
    assert_eq!(docroot["reasons"][0], "runs from a watched tree");
    assert_eq!(docroot["user"], "root");
    for (pid, reason) in [
        (in_tmp, "runs from a world-writable directory"),
        (in_shm, "runs from a world-writable directory"),
        // Sealed like a runtime's, but root's under no runtime.
        (in_memfd, "runs from memory (memfd)"),
    ] {
        let e = find(&found, "exec-from-writable", pid).unwrap_or_else(|| panic!("{found:#?}"));
        assert_eq!(e["reasons"][0], reason, "{e}");
    }
    assert_eq!(
        find(&found, "exec-from-writable", in_shm).unwrap()["exe"],
        shm_sleep.to_str().unwrap()
    );
    if let Some(pid) = web_memfd {
        let e = find(&found, "exec-from-writable", pid).expect("the web user's memfd");
        assert_eq!(e["user"], "www-data");
        assert!(
            e["exe"].as_str().unwrap().starts_with("/memfd:fim-test"),
            "{e}"
        );
    }
    let del = find(&found, "deleted-executable", deleted).expect("deleted");
    assert_eq!(del["severity"], "high");
    let spawn = found
        .iter()
        .find(|e| e["kind"] == "web-shell-spawn" && e["ppid"] == worker)
        .expect("sh under php-fpm");
    assert_eq!(spawn["parent_exe"], fpm.to_str().unwrap());
    assert_eq!(spawn["severity"], "critical");
    assert!(find(&found, "miner", miner).is_some(), "{found:#?}");
    let new = find(&found, "new-listener", listener).expect("listener");
    assert_eq!(new["listen"], format!("127.0.0.1:{port}/tcp"));
    if web.is_some() {
        assert_eq!(new["user"], "www-data");
        // The web user running python is a spawn itself, tied to the same script; the
        // listener names both.
        let own = find(&found, "web-shell-spawn", listener).expect("web user's python");
        assert_eq!(own["reasons"][0], "runs as a web server user");
        assert_eq!(related(own), [script.as_str()]);
        assert_eq!(
            related(new),
            [script.as_str(), own["id"].as_str().unwrap()],
            "{new}"
        );
    } else {
        assert_eq!(related(new), [script.as_str()], "{new}");
    }
    let mine = [
        in_docroot, in_tmp, in_shm, in_memfd, deleted, miner, listener,
    ];
    for e in &found {
        assert_ne!(e["pid"], ordinary, "an ordinary shell reported: {e}");
        assert_ne!(e["pid"], 1, "systemd/init reported: {e}");
        let sshd_or_cron = ["sshd", "cron", "systemd"]
            .iter()
            .any(|n| e["exe"].as_str().is_some_and(|x| x.ends_with(n)));
        assert!(!sshd_or_cron, "the box's own daemons reported: {e}");
        if mine.iter().any(|p| e["pid"] == *p) {
            assert_eq!(e["count"], 1, "{e}");
            assert_eq!(e["evidence"], serde_json::json!([]));
        }
    }

    // Accepted away: the listener is known now, with an audit row.
    env.fim(&["accept", "--listeners", "--reason", "test server"])
        .success();
    let again = env.verify();
    let found = process_events(&again);
    assert!(
        find(&found, "new-listener", listener).is_none(),
        "{found:#?}"
    );
    assert!(find(&found, "exec-from-writable", in_tmp).is_some());
}

/// A copy of `sh` named as PHP-FPM names its binary, started as the web user with the
/// title a worker gives itself.
fn fpm_worker(env: &Env, web: (u32, u32), script: &str) -> Command {
    worker_binary(env, web, "php-fpm8.2", script)
}

/// A copy of `sh` named `binary`, started as the web user with a PHP-FPM worker's title.
fn worker_binary(env: &Env, (uid, gid): (u32, u32), binary: &str, script: &str) -> Command {
    let fpm = env.base.join(binary);
    if !fpm.exists() {
        copy_of("/bin/sh", &fpm);
    }
    let mut command = Command::new(fpm);
    command
        .arg0("php-fpm: pool www")
        .args(["-c", script])
        .current_dir(&env.root)
        .uid(uid)
        .gid(gid);
    command
}

#[test]
fn watch_catches_a_20_ms_shell_of_a_php_fpm_worker_by_its_exec_event() {
    let Some(web) = privileged() else { return };
    let env = Env::new();
    open_to_all(&env);
    let policy = env.init_with_policy(&POLICY.replace("\"1s\"", "\"1h\""));
    let mut daemon = Daemon::start(&env, &["--policy", policy.to_str().unwrap()]);
    // The first scan happens at start; what follows is seen only by exec events.
    std::thread::sleep(Duration::from_millis(500));
    let mut procs = Procs::default();
    let worker = procs.start(&mut fpm_worker(
        &env,
        web,
        "sh -c 'sleep 0.02; true'; sleep 30",
    ));
    let e = expect(&mut daemon, "web-shell-spawn", |e| {
        e["kind"] == "web-shell-spawn" && e["ppid"] == worker
    });
    assert_eq!(e["exe"], "/usr/bin/dash");
    assert_eq!(e["user"], "www-data");
    assert_eq!(e["source"], "watch");
    assert_eq!(e["reasons"][0], "parent chain reaches the web server");
    assert!(e["summary"].as_str().unwrap().contains("php-fpm"), "{e}");
    assert_eq!(
        e["parent_exe"],
        env.base.join("php-fpm8.2").to_str().unwrap()
    );
    // The worker itself is no shell, and runs from no writable place.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        daemon.drain().iter().all(|e| e["pid"] != worker),
        "{:#?}",
        daemon.seen
    );
    // A worker whose title alone names PHP-FPM: its own exec was read only in part (its
    // binary's name says nothing), and is read again when its shell comes.
    let titled = procs.start(&mut worker_binary(
        &env,
        web,
        "pool-worker",
        "sleep 0.3; sh -c 'sleep 0.02; true'; sleep 30",
    ));
    let e = expect(&mut daemon, "web-shell-spawn", |e| {
        e["kind"] == "web-shell-spawn" && e["ppid"] == titled
    });
    assert!(e["summary"].as_str().unwrap().contains("php-fpm"), "{e}");
    daemon.stop();
}

#[test]
fn watch_ties_a_planted_script_its_shell_and_the_listener_it_leaves() {
    let Some(web) = privileged() else { return };
    let env = Env::new();
    open_to_all(&env);
    let policy = env.init_with_policy(POLICY);
    let mut daemon = Daemon::start(&env, &["--policy", policy.to_str().unwrap()]);
    let port = free_port();
    std::fs::create_dir(env.path("uploads")).unwrap();
    std::fs::write(env.path("uploads/serve.py"), SERVE).unwrap();
    // The shell lives 20 ms and leaves a listener behind, adopted by init.
    let planted = env.path("uploads/x.sh");
    std::fs::write(
        &planted,
        format!("sleep 0.02\n{PYTHON} uploads/serve.py {port} &\n"),
    )
    .unwrap();
    // Run at once: the exec event comes before the file's event, and waits for it.
    let mut procs = Procs::default();
    let worker = procs.start(&mut fpm_worker(&env, web, "sh uploads/x.sh; sleep 30"));
    let shell = expect(&mut daemon, "web-shell-spawn", |e| {
        e["kind"] == "web-shell-spawn" && e["ppid"] == worker
    });
    daemon.expect("new", &planted);
    assert_eq!(shell["cmdline"], serde_json::json!(["sh", "uploads/x.sh"]));
    // The shell names an event of its script (the latest when it ran: a script still
    // open for writing when its new folder was scanned is reported `new`, then
    // `modified` at its close).
    let planted_text = planted.to_str().unwrap();
    let file_events: Vec<&str> = daemon
        .seen
        .iter()
        .filter(|e| e["path"] == planted_text)
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert!(
        related(&shell).iter().any(|r| file_events.contains(r)),
        "{shell}\n{file_events:?}"
    );
    let new = expect(&mut daemon, "new-listener", |e| {
        e["kind"] == "new-listener" && e["listen"] == format!("127.0.0.1:{port}/tcp")
    });
    assert_eq!(new["user"], "www-data");
    // The listener names a spawn of its own tree: the shell's, or its own python's.
    let spawns: Vec<String> = daemon
        .seen
        .iter()
        .filter(|e| {
            e["kind"] == "web-shell-spawn" && (e["pid"] == shell["pid"] || e["pid"] == new["pid"])
        })
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        related(&new).iter().any(|r| spawns.iter().any(|s| s == r)),
        "{new}\n{spawns:?}"
    );
    daemon.stop();
}

#[test]
fn ordinary_work_makes_no_process_event() {
    if privileged().is_none() {
        return;
    }
    let env = Env::new();
    open_to_all(&env);
    let policy = env.init_with_policy(&POLICY.replace("\"1s\"", "\"1h\""));
    let build = env.base.join("build");
    std::fs::create_dir(&build).unwrap();
    std::fs::set_permissions(&build, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        build.join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    )
    .unwrap();
    let mut daemon = Daemon::start(&env, &["--policy", policy.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(500));
    let mut procs = Procs::default();
    let at_build = |program: &str, args: &[&str]| {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&build)
            .stdout(std::process::Stdio::null());
        c
    };
    // A compile and its program, and what cron runs: shells of system tools, as root
    // and as an unprivileged user.
    procs.run(&mut at_build(
        "/usr/bin/cc",
        &["-O1", "-o", "hello", "hello.c"],
    ));
    procs.run(&mut at_build("./hello", &[]));
    procs.run(&mut at_build(
        "/usr/bin/run-parts",
        &["--test", "/etc/cron.daily"],
    ));
    procs.run(&mut at_build(
        "/bin/sh",
        &[
            "-c",
            "/usr/bin/find /etc -maxdepth 1 -name '*.conf' | /usr/bin/sort | /usr/bin/head -n 3",
        ],
    ));
    procs.run(&mut at_build(
        "/bin/bash",
        &[
            "-c",
            "for i in 1 2 3; do /usr/bin/date +%s; /usr/bin/env true; done",
        ],
    ));
    procs.run(&mut at_build(
        PYTHON,
        &["-c", "import json; print(json.dumps([1]))"],
    ));
    procs.run(&mut at_build("/usr/bin/perl", &["-e", "print 1"]));
    procs.run(
        at_build("/bin/sh", &["-c", "ls / | wc -l"])
            .uid(65534)
            .gid(65534),
    );
    // The canary: exec events were judged during the window.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let canary = shm.path().join("sleep");
    copy_of("/bin/sleep", &canary);
    let canary_pid = procs.start(&mut at_build(canary.to_str().unwrap(), &["30"]));
    expect(&mut daemon, "the canary", |e| {
        e["kind"] == "exec-from-writable" && e["pid"] == canary_pid
    });
    std::thread::sleep(Duration::from_millis(300));
    let build_dir = build.to_str().unwrap();
    // Processes of other tests running at the same time have other working directories.
    let ours: Vec<&Value> = daemon
        .drain()
        .iter()
        .filter(|e| e["category"] == "process" && e["cwd"] == build_dir)
        .collect();
    assert_eq!(ours.len(), 1, "{ours:#?}");
    daemon.stop();
}

#[test]
fn a_bad_processes_table_is_refused_with_its_line() {
    let env = Env::new();
    let path = env.write_policy("[[watch]]\npath = \"ROOT\"\n\n[processes]\nintervall = \"1s\"\n");
    let run = env.fim(&["init", "--policy", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(":4") || run.stderr.contains("line 4"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("intervall"), "{}", run.stderr);
}

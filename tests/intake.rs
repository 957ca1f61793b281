//! What `init` and `accept` take into a baseline: a site that is already compromised
//! is never baselined silently, and `accept` says what it takes in.

mod common;

use std::fs;

use common::*;

const WEBSHELL: &str = "<?php system($_GET['c']); ?>\n";
const HANDLER: &str = "AddHandler application/x-httpd-php .jpg\n";

/// A tree holding a webshell and an `.htaccess` that makes uploaded images run as PHP.
fn plant(env: &Env) {
    fs::create_dir_all(env.path("wp-content/uploads")).unwrap();
    fs::write(env.path("sys.php"), WEBSHELL).unwrap();
    fs::write(env.path("wp-content/uploads/.htaccess"), HANDLER).unwrap();
}

/// `fim init ROOT` with the default policy, plus `extra`.
fn init(env: &Env, extra: &[&str]) -> Run {
    let mut args = vec!["init", env.root.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.fim(&args)
}

#[test]
fn init_refuses_a_compromised_tree_unless_told() {
    let env = Env::new();
    plant(&env);
    let run = init(&env, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let error: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("fim: "))
        .collect();
    assert_eq!(error.len(), 1, "one line: {}", run.stderr);
    for planted in ["sys.php", "wp-content/uploads/.htaccess"] {
        assert!(
            error[0].contains(env.path(planted).to_str().unwrap()),
            "{}",
            error[0]
        );
    }
    assert!(error[0].contains("--accept-suspicious"), "{}", error[0]);
    assert!(!env.db.exists(), "no baseline was written");

    let run = init(&env, &["--accept-suspicious"]);
    run.success();
    // Every suspicious entry is listed, with its reasons, and recorded as an event.
    assert!(
        run.stderr.contains("2 suspicious entries")
            && run.stderr.contains("signature exec-request")
            && run.stderr.contains("signature handler-override"),
        "{}",
        run.stderr
    );
    let history = env.fim(&["events"]).success().events();
    assert_eq!(history.len(), 2, "{history:#?}");
    let shell = event_for(&history, &env.path("sys.php"));
    assert_eq!(shell["kind"], "new");
    assert_eq!(shell["severity"], "critical");
    assert_eq!(shell["source"], "verify");
    assert_eq!(
        reasons(shell),
        ["signature exec-request", "request input reaches system()"]
    );
    let htaccess = event_for(&history, &env.path("wp-content/uploads/.htaccess"));
    assert_eq!(reasons(htaccess), ["signature handler-override"]);
    // Baselined: verify has nothing to say about them any more.
    assert!(env.verify().is_empty());
}

#[test]
fn init_lists_and_records_what_is_suspicious_but_not_critical() {
    let env = Env::new();
    fs::write(env.path("logo.jpg.php"), "<?php echo 'logo';\n").unwrap();
    let run = init(&env, &[]);
    run.success();
    assert!(
        run.stderr.contains("1 suspicious entry")
            && run.stderr.contains("logo.jpg.php")
            && run.stderr.contains("double extension .jpg.php"),
        "{}",
        run.stderr
    );
    let history = env.fim(&["events"]).success().events();
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0]["severity"], "high");
    // A clean tree says nothing and records nothing.
    let clean = Env::new();
    let run = init(&clean, &[]);
    run.success();
    assert!(!run.stderr.contains("suspicious"), "{}", run.stderr);
    assert!(clean.fim(&["events"]).success().events().is_empty());
}

#[test]
fn accept_all_does_not_take_webshells_in_quietly() {
    let env = Env::new();
    env.init();
    plant(&env);
    fs::write(env.path("style.css"), "body { color: red }\n").unwrap();
    let run = env.fim(&["accept", "--all", "--reason", "release"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(env.path("sys.php").to_str().unwrap())
            && run.stderr.contains("--accept-suspicious"),
        "{}",
        run.stderr
    );
    // Nothing changed: the differences are all still reported.
    let events = env.verify();
    event_for(&events, &env.path("sys.php"));
    event_for(&events, &env.path("style.css"));

    let run = env.fim(&[
        "accept",
        "--all",
        "--reason",
        "release",
        "--accept-suspicious",
    ]);
    run.success();
    // What was taken in is listed, each difference on its line.
    assert!(run.stderr.contains("taking in "), "{}", run.stderr);
    for (kind, taken) in [
        ("new", "sys.php"),
        ("new", "wp-content/uploads/.htaccess"),
        ("modified", "style.css"),
    ] {
        let path = env.path(taken);
        assert!(
            run.stderr
                .lines()
                .any(|l| l.trim_start().starts_with(kind)
                    && l.contains(&format!(" {}", path.display()))),
            "{taken}: {}",
            run.stderr
        );
    }
    assert!(env.verify().is_empty());
    let recorded: Vec<_> = env
        .fim(&["events"])
        .success()
        .events()
        .into_iter()
        .filter(|e| e["reasons"].as_array().is_some_and(|r| !r.is_empty()))
        .collect();
    assert!(
        recorded
            .iter()
            .any(|e| e["path"] == env.path("sys.php").to_str().unwrap() && e["source"] == "verify"),
        "{recorded:#?}"
    );
}

#[test]
fn accept_of_a_path_neither_in_the_baseline_nor_on_disk_is_an_error() {
    let env = Env::new();
    env.init();
    let typo = env.path("indx.php");
    let run = env.fim(&["accept", "--reason", "deploy", typo.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(typo.to_str().unwrap())
            && run.stderr.contains("neither in the baseline nor on disk"),
        "{}",
        run.stderr
    );
    // A new file (on disk only) and a deleted one (in the baseline only) are accepted.
    fs::write(env.path("new.html"), "<p>new</p>\n").unwrap();
    fs::remove_file(env.path("style.css")).unwrap();
    let run = env.fim(&[
        "accept",
        env.path("new.html").to_str().unwrap(),
        env.path("style.css").to_str().unwrap(),
    ]);
    run.success();
    assert!(
        run.stderr.contains("taking in 2 differences"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "new       medium   {}",
            env.path("new.html").display()
        )) && run.stderr.contains(&format!(
            "deleted   medium   {}",
            env.path("style.css").display()
        )),
        "{}",
        run.stderr
    );
}

/// `init` judges each file from the bytes it hashed (one read): what it reports must
/// be what `verify` reports of the same files appearing after a baseline, whatever the
/// size (whole in the hashing buffer, or larger and sampled from the open file).
#[test]
fn init_judges_every_file_as_verify_judges_a_new_one() {
    let tail_shell = |size: usize| {
        let mut php = String::from("<?php\n");
        while php.len() < size {
            php.push_str("$total = $total + 1; // counting\n");
        }
        php + "eval($_POST['x']);\n"
    };
    let plant = |env: &Env| {
        fs::create_dir_all(env.path("uploads")).unwrap();
        fs::write(env.path("sys.php"), WEBSHELL).unwrap();
        fs::write(env.path("mid.php"), tail_shell(500 << 10)).unwrap();
        fs::write(env.path("big.php"), tail_shell(3 << 20)).unwrap();
        fs::write(env.path("uploads/empty.php"), "").unwrap();
        let mut plain = tail_shell(400 << 10);
        plain.truncate(plain.len() - "eval($_POST['x']);\n".len());
        fs::write(env.path("plain.php"), plain).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", env.path("uploads/link.php")).unwrap();
    };
    let by_path = |events: Vec<serde_json::Value>| {
        let mut found: Vec<(String, Vec<String>)> = events
            .iter()
            .filter(|e| e["reasons"].as_array().is_some_and(|r| !r.is_empty()))
            .map(|e| {
                let why = reasons(e).into_iter().map(str::to_owned).collect();
                (e["path"].as_str().unwrap().to_owned(), why)
            })
            .collect();
        found.sort();
        found
    };

    let later = Env::new();
    later.init();
    plant(&later);
    let expected = by_path(later.verify());

    let first = Env::new();
    plant(&first);
    init(&first, &["--accept-suspicious"]).success();
    let got = by_path(first.fim(&["events"]).success().events());

    let rel = |found: Vec<(String, Vec<String>)>, env: &Env| -> Vec<(String, Vec<String>)> {
        let root = format!("{}/", env.root.display());
        found
            .into_iter()
            .map(|(p, r)| (p.trim_start_matches(&root).to_owned(), r))
            .collect()
    };
    let (expected, got) = (rel(expected, &later), rel(got, &first));
    assert_eq!(got, expected);
    // The shells at the end of large files are found, and the empty script in an
    // upload folder by its name alone; the same large file without the shell is not.
    for name in ["sys.php", "mid.php", "big.php", "uploads/empty.php"] {
        assert!(got.iter().any(|(p, _)| p == name), "{name}: {got:#?}");
    }
    assert!(!got.iter().any(|(p, _)| p == "plain.php"), "{got:#?}");
}

/// The host's own privileged programs, as their packages shipped them, are taken in:
/// `init` of /usr/bin met a dozen "new setuid bit"s (passwd, su, mount) and refused.
/// A setuid copy of one outside its package, and a capability given to a copy of a
/// program that runs commands, are still refused.
#[test]
fn packaged_privileged_programs_are_taken_in_and_copies_are_not() {
    use std::os::unix::fs::PermissionsExt;
    let setuid = |p: &str| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0);
    if !(setuid("/usr/bin/passwd") && setuid("/usr/bin/su") && tool("setcap").is_some()) {
        skip(
            "needs dpkg's setuid passwd and su, and setcap",
            Some("FIM_REQUIRE_ROOT"),
        );
        return;
    }
    let env = Env::new();
    let run = env.fim(&["init", "/usr/bin/passwd", "/usr/bin/su", "/usr/bin/find"]);
    run.success();
    assert!(!run.stderr.contains("suspicious"), "{}", run.stderr);

    let copy = env.path("passwd");
    fs::copy("/usr/bin/passwd", &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o4755)).unwrap();
    let shell = env.path("find");
    fs::copy("/usr/bin/find", &shell).unwrap();
    let status = std::process::Command::new("setcap")
        .args(["cap_setuid+ep", shell.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = init(&env, &["--force"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}  — new setuid bit", copy.display()))
            && run.stderr.contains(&format!(
                "{}  — new file capabilities (security.capability)",
                shell.display()
            )),
        "{}",
        run.stderr
    );
}

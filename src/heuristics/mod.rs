//! Suspicious-file heuristics: why a new or modified entry looks like an attack (a
//! script in an upload folder, a disguised extension, PHP inside an image, a new setuid
//! bit, a webshell signature, ...). Each reason carries a severity that can raise the
//! event's. Signatures are data (`policies/signatures/*.toml`), not code.

mod media;
mod packaged;
pub mod php;
mod privilege;
pub mod signatures;
mod text;
pub mod yara;

use std::collections::HashMap;
use std::ops::Range;

use crate::fs::{Attrs, FileType};
use crate::policy::{Kind, Report, Severity};
pub use packaged::Packaged;
pub use signatures::{RawSignature, Signature, Signatures};

/// How much of a file content checks read: the head and the tail, never more.
pub const SAMPLE_HEAD: u64 = 256 << 10;
pub const SAMPLE_TAIL: u64 = 64 << 10;
/// How much of the site's own code `Heuristics::warm_up` runs the signatures over:
/// about 10 ms before READY.
const WARM_UP_BYTES: u64 = 1 << 20;

/// Extensions that a web server may execute.
const SCRIPT_EXTS: &[&str] = &[
    "php", "phtml", "phar", "pht", "php3", "php4", "php5", "php7", "php8", "phps", "inc", "cgi",
    "pl", "py", "sh", "jsp", "asp", "aspx",
];
/// The PHP family: the extensions Apache's `AddHandler` runs wherever they stand in a
/// name (`shell.php.jpg`).
const PHP_EXTS: &[&str] = &[
    "php", "phtml", "phar", "pht", "php3", "php4", "php5", "php7", "php8",
];
/// Image extensions: `logo.jpg.php` is the classic upload-filter bypass.
const IMAGE_EXTS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "ico", "bmp", "webp", "svg", "tif", "tiff",
];
/// Folders that hold uploaded or generated content, never code.
const CONTENT_DIRS: &[&str] = &[
    "uploads", "upload", "media", "images", "image", "img", "files", "cache", "static", "tmp",
    "temp",
];
/// Folders that hold an application's code, whatever their subfolders are named.
/// Not `plugins` or `themes`: those are where an intruder's code is installed too.
const CODE_DIRS: &[&str] = &[
    "includes",
    "include",
    "inc",
    "lib",
    "libs",
    "library",
    "libraries",
    "src",
    "classes",
    "program",
    "vendor",
];

/// The start and end of a file's content, wherever they were read into.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample<'a> {
    pub head: &'a [u8],
    pub tail: &'a [u8],
}

impl<'a> Sample<'a> {
    /// The sample of a file whose whole content is `content`.
    pub fn of_whole(content: &'a [u8]) -> Sample<'a> {
        let (head, tail) = sample_ranges(content.len() as u64);
        Sample {
            head: &content[head],
            tail: &content[tail],
        }
    }
}

/// A sample read into buffers of its own (see `sample_ranges`).
#[derive(Debug, Default)]
pub struct SampleBuf {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
}

impl SampleBuf {
    pub fn view(&self) -> Sample<'_> {
        Sample {
            head: &self.head,
            tail: &self.tail,
        }
    }
}

/// Which bytes of a file of `size` bytes its sample holds: the first `SAMPLE_HEAD`,
/// and of the rest the last `SAMPLE_TAIL`.
pub fn sample_ranges(size: u64) -> (Range<usize>, Range<usize>) {
    let head = size.min(SAMPLE_HEAD);
    let tail = SAMPLE_TAIL.min(size - head);
    (0..head as usize, (size - tail) as usize..size as usize)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub text: String,
    pub severity: Severity,
}

#[derive(Debug, Clone)]
pub struct Heuristics {
    pub enabled: bool,
    pub signatures: Signatures,
    pub yara: yara::YaraRules,
    /// uid → name of the web server's users (www-data, apache, nginx, http).
    pub web_users: HashMap<u32, String>,
    /// What dpkg installed in the watched trees, for privilege bits.
    pub packaged: Packaged,
}

impl Heuristics {
    pub fn disabled() -> Heuristics {
        Heuristics {
            enabled: false,
            signatures: Signatures::default(),
            yara: yara::YaraRules::default(),
            web_users: HashMap::new(),
            packaged: Packaged::default(),
        }
    }

    /// Is a finding under a rule with this `report` dropped when no reason is found?
    /// With the heuristics off nothing can give one, so such rules report everything.
    pub fn silences(&self, report: Report) -> bool {
        self.enabled && report == Report::Suspicious
    }

    /// Build what the first assessment would otherwise build (the PHP gate's
    /// automata, the signature set's caches, this thread's parser), so that the
    /// daemon's first event after READY comes as fast as any other. The signature
    /// set's lazy DFA builds its states as it meets code: it meets `site` (samples
    /// of the watched trees' own largest scripts, `warm_up_paths`) now, or a large
    /// file's first check would cost it 2-3 ms instead of 0.4.
    pub fn warm_up(&self, site: &[Sample<'_>]) {
        let sample = Sample::of_whole(b"<?php $f = \"\\x73\\x79\\x73\"; $f($_GET['c']); ?>");
        let attrs = Attrs {
            size: sample.head.len() as u64,
            ..Attrs::plain_file(0o644)
        };
        self.assess(b"warm-up.php", b"warm-up.php", None, &attrs, Some(&sample));
        for sample in site {
            self.signatures.matching("warm-up.php", sample);
        }
    }

    /// Which of `entries` `warm_up` should meet: the largest scripts, up to
    /// `WARM_UP_BYTES` of samples in all.
    pub fn warm_up_paths<'e>(
        &self,
        entries: impl Iterator<Item = (&'e Vec<u8>, &'e Attrs)>,
    ) -> Vec<&'e [u8]> {
        if !self.enabled {
            return Vec::new();
        }
        let mut scripts: Vec<(u64, &[u8])> = entries
            .filter(|(path, attrs)| {
                let name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
                attrs.file_type == FileType::File
                    && Extensions::of(&String::from_utf8_lossy(name)).is_script()
            })
            .map(|(path, attrs)| (attrs.size.min(SAMPLE_HEAD + SAMPLE_TAIL), &path[..]))
            .collect();
        scripts.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let mut budget = WARM_UP_BYTES;
        scripts
            .into_iter()
            .take_while(|(size, _)| {
                let fits = budget > 0;
                budget = budget.saturating_sub(*size);
                fits
            })
            .map(|(_, path)| path)
            .collect()
    }

    /// Does assessing this change need the file's content?
    pub fn wants_sample(&self, kind: Kind, new: &Attrs) -> bool {
        self.enabled && kind != Kind::Deleted && new.file_type == FileType::File && new.size > 0
    }

    /// Why the entry at `path` (`rel` below its watch root; new, or modified from
    /// `old`) looks suspicious.
    pub fn assess(
        &self,
        path: &[u8],
        rel: &[u8],
        old: Option<&Attrs>,
        new: &Attrs,
        sample: Option<&Sample>,
    ) -> Vec<Reason> {
        if !self.enabled {
            return Vec::new();
        }
        let mut reasons = Vec::new();
        let mut add = |text: String, severity| reasons.push(Reason { text, severity });
        let name_bytes = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
        let name = String::from_utf8_lossy(name_bytes);
        let is_file = new.file_type == FileType::File;
        let ext = Extensions::of(&name);

        if is_file && ext.is_script() && in_content_dir(rel) {
            add(
                "script in an upload or content folder".into(),
                Severity::Critical,
            );
        }
        if let Some(reason) = ext.disguise() {
            add(reason, Severity::High);
        }
        // Hidden folders, and hidden files that could run or configure PHP (a
        // `.gitignore` or `.editorconfig` says nothing).
        if name.starts_with('.') && !matches!(&*name, ".well-known" | ".htaccess") {
            if new.file_type == FileType::Dir {
                add("hidden folder".into(), Severity::Medium);
            } else if ext.is_script() || ext.last() == Some("ini") || in_content_dir(rel) {
                add("hidden file".into(), Severity::High);
            }
        }
        if is_file {
            privilege::gained(old, new, &mut add);
            self.assess_mode_and_owner(old, new, &ext, &mut add);
            media::assess(&name, rel, &ext, old, new, sample, &mut add);
        }
        if let (true, Some(sample)) = (is_file, sample) {
            for signature in self.signatures.matching(&name, sample) {
                add(format!("signature {}", signature.id), signature.severity);
            }
            for (rule, severity) in self.yara.matches(sample) {
                add(format!("yara {rule}"), severity);
            }
            for finding in php::assess_sample(sample.head, sample.tail, ext.is_php()) {
                add(finding.text, finding.severity);
            }
            if ext.is_script() {
                text::assess(sample, &mut add);
            }
        }
        if old.is_none() && !reasons.is_empty() && self.packaged.as_shipped(path, new) {
            return privilege::on_shipped(&name, new);
        }
        reasons
    }

    fn assess_mode_and_owner(
        &self,
        old: Option<&Attrs>,
        new: &Attrs,
        ext: &Extensions,
        add: &mut impl FnMut(String, Severity),
    ) {
        if new.mode & 0o002 != 0 && old.is_none_or(|o| o.mode & 0o002 == 0) {
            add("world-writable".into(), Severity::High);
        }
        let owner_changed = old.is_none_or(|o| o.uid != new.uid);
        if let (true, Some(user)) = (
            owner_changed && ext.is_script(),
            self.web_users.get(&new.uid),
        ) {
            add(
                format!("script owned by the web server user ({user})"),
                Severity::High,
            );
        }
    }
}

/// The extensions of a file name, lower-cased, without the leading dot of a hidden name.
struct Extensions {
    /// All extensions, e.g. ["jpg", "php"] for "logo.jpg.php".
    all: Vec<String>,
    /// The last extension as written (for case checks).
    last_raw: String,
    /// The name ends in a dot or white space (Windows and some handlers ignore them).
    trailing_junk: bool,
}

impl Extensions {
    fn of(name: &str) -> Extensions {
        let trimmed = name.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
        let body = trimmed.strip_prefix('.').unwrap_or(trimmed);
        let mut parts = body.split('.');
        parts.next();
        let raw: Vec<&str> = parts.collect();
        Extensions {
            all: raw.iter().map(|e| e.to_ascii_lowercase()).collect(),
            last_raw: raw.last().map_or(String::new(), |e| e.to_string()),
            trailing_junk: trimmed.len() != name.len() && !trimmed.is_empty(),
        }
    }

    fn last(&self) -> Option<&str> {
        self.all.last().map(String::as_str)
    }

    fn is_script(&self) -> bool {
        self.last().is_some_and(|e| SCRIPT_EXTS.contains(&e))
    }

    fn is_php(&self) -> bool {
        self.last().is_some_and(|e| PHP_EXTS.contains(&e))
    }

    /// A double, disguised or oddly cased extension, described.
    fn disguise(&self) -> Option<String> {
        let n = self.all.len();
        if n >= 2 {
            let inner_php = self.all[..n - 1]
                .iter()
                .any(|e| PHP_EXTS.contains(&e.as_str()));
            // `name.jpg.php`, the upload-filter bypass; library modules such as
            // getid3's `module.graphic.jpg.php` carry more parts.
            let image_then_script =
                n == 2 && self.is_script() && IMAGE_EXTS.contains(&self.all[0].as_str());
            if image_then_script || inner_php {
                let shown: Vec<&str> = self.all[n - 2..].iter().map(String::as_str).collect();
                return Some(format!("double extension .{}", shown.join(".")));
            }
        }
        if self.trailing_junk && self.is_script() {
            return Some("disguised extension (trailing dot or space)".into());
        }
        let php = self.last().is_some_and(|e| PHP_EXTS.contains(&e));
        if php && self.last_raw.chars().any(|c| c.is_ascii_uppercase()) {
            return Some(format!("upper-case extension .{}", self.last_raw));
        }
        None
    }
}

/// Is any folder of `rel` (below the watch root: the folders above it say nothing
/// about the site) one that holds content rather than code? Exact, lower-case names:
/// upload folders are named so, while libraries name classes after them
/// (SimplePie/Cache/File.php). Inside a library's folder the same names are code:
/// MediaWiki's `includes/media/`, phpMyAdmin's `libraries/cache/`, DokuWiki's
/// `lib/images/`.
fn in_content_dir(rel: &[u8]) -> bool {
    let mut components = rel.split(|b| *b == b'/').collect::<Vec<_>>();
    components.pop(); // the name itself
    let is = |names: &[&str], c: &[u8]| names.iter().any(|d| d.as_bytes() == c);
    components
        .iter()
        .take_while(|c| !is(CODE_DIRS, c))
        .any(|c| is(CONTENT_DIRS, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32, uid: u32) -> Attrs {
        Attrs {
            size: 10,
            uid,
            ..Attrs::plain_file(mode)
        }
    }

    fn h() -> Heuristics {
        Heuristics {
            enabled: true,
            signatures: Signatures::new(signatures::builtin().unwrap()).unwrap(),
            yara: yara::YaraRules::default(),
            web_users: [(33, "www-data".to_string())].into_iter().collect(),
            packaged: Packaged::default(),
        }
    }

    fn reasons(path: &str, content: &[u8]) -> Vec<String> {
        let sample = Sample::of_whole(content);
        let rel = path.strip_prefix("/w/").unwrap();
        h().assess(
            path.as_bytes(),
            rel.as_bytes(),
            None,
            &file(0o644, 0),
            Some(&sample),
        )
        .into_iter()
        .map(|r| r.text)
        .collect()
    }

    #[test]
    fn warm_up_meets_the_largest_scripts_within_its_budget() {
        let sized = |size: u64| Attrs {
            size,
            ..Attrs::plain_file(0o644)
        };
        let folder = Attrs {
            file_type: FileType::Dir,
            size: 900 << 10,
            ..Attrs::plain_file(0o755)
        };
        let entries: Vec<(Vec<u8>, Attrs)> = [
            ("/w/big.php", sized(5 << 20)),
            ("/w/video.mp4", sized(9 << 20)),
            ("/w/lib.php", sized(300 << 10)),
            ("/w/more.php", sized(400 << 10)),
            ("/w/tool.sh", sized(200 << 10)),
            ("/w/small.php", sized(1 << 10)),
            ("/w/dir.php", folder),
        ]
        .into_iter()
        .map(|(p, a)| (p.as_bytes().to_vec(), a))
        .collect();
        let h = h();
        let picked = h.warm_up_paths(entries.iter().map(|(p, a)| (p, a)));
        // A sample is at most 320 KiB: 320 + 320 + 300 + 200 KiB spend the 1 MiB, so
        // the smallest script is left out; media and folders never count.
        let names: Vec<&[u8]> = vec![b"/w/big.php", b"/w/more.php", b"/w/lib.php", b"/w/tool.sh"];
        assert_eq!(picked, names);
        let off = Heuristics::disabled();
        assert!(off
            .warm_up_paths(entries.iter().map(|(p, a)| (p, a)))
            .is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(
            reasons("/w/wp-content/uploads/2026/x.php", b"x"),
            ["script in an upload or content folder"]
        );
        assert_eq!(
            reasons("/w/wp-content/uploads/lib/x.php", b"x"),
            ["script in an upload or content folder"]
        );
        for code in [
            "/w/includes/media/Handler.php",
            "/w/program/lib/Roundcube/cache/db.php",
            "/w/libraries/cache/routes.cache.php",
            "/w/lib/images/fileicons/index.php",
        ] {
            assert_eq!(reasons(code, b"x"), Vec::<String>::new(), "{code}");
        }
        assert_eq!(
            reasons("/w/logo.jpg.php", b"x"),
            ["double extension .jpg.php"]
        );
        assert_eq!(
            reasons("/w/shell.php.jpg", b"\xff\xd8\xff"),
            ["double extension .php.jpg"]
        );
        assert_eq!(
            reasons("/w/shell.php.", b"x"),
            ["disguised extension (trailing dot or space)"]
        );
        assert_eq!(
            reasons("/w/shell.php ", b"x"),
            ["disguised extension (trailing dot or space)"]
        );
        assert_eq!(reasons("/w/shell.PhP", b"x"), ["upper-case extension .PhP"]);
        assert_eq!(reasons("/w/.cache.php", b"x"), ["hidden file"]);
        assert_eq!(reasons("/w/.user.ini", b"x"), ["hidden file"]);
        assert!(reasons("/w/.gitignore", b"x").is_empty());
        assert!(reasons("/w/getid3/module.graphic.jpg.php", b"x").is_empty());
        assert!(reasons("/w/translations/validators.pl.xlf", b"x").is_empty());
        assert!(reasons(
            "/w/wp-includes/class-wp-query.php",
            b"<?php class WP_Query {}"
        )
        .is_empty());
        assert!(reasons("/w/jquery.min.js", b"!function(){}").is_empty());
    }

    #[test]
    fn content() {
        assert_eq!(
            reasons("/w/favicon.ico", b"\0\0\x01\0<?php eval($x);"),
            ["PHP code in a .ico file"]
        );
        assert_eq!(
            reasons("/w/logo.png", b"<?php echo 1;"),
            ["PHP code in a .png file", "content is not a PNG image"]
        );
        assert_eq!(
            reasons("/w/README", b"  <?php system('id');"),
            ["PHP code in a file without an extension"]
        );
        assert_eq!(
            reasons("/w/t.php", b"<?php eval(gzinflate(base64_decode('x')));"),
            [
                "signature eval-decoded",
                "eval of decoded payload (base64_decode, gzinflate)"
            ]
        );
        assert_eq!(
            reasons("/w/t.php", b"<?php @system($_GET['c']);"),
            ["signature exec-request", "request input reaches system()"]
        );
        let blob = format!("<?php $x='{}';", "QUJD".repeat(1200));
        assert!(reasons("/w/t.php", blob.as_bytes())
            .contains(&"long base64 run in a script".to_string()));
        assert_eq!(
            reasons("/w/files/t.txt", blob.as_bytes()),
            ["PHP code in a .txt file"]
        );
        let hex = format!("<?php $s=\"{}\";", "\\x41".repeat(250));
        assert!(reasons("/w/t.php", hex.as_bytes())
            .contains(&"long run of hex escapes in a script".to_string()));
    }

    #[test]
    fn modes_and_owner() {
        let h = h();
        let texts = |old: Option<&Attrs>, new: &Attrs, path: &str| -> Vec<String> {
            let rel = path.strip_prefix("/w/").unwrap();
            h.assess(path.as_bytes(), rel.as_bytes(), old, new, None)
                .into_iter()
                .map(|r| r.text)
                .collect()
        };
        assert_eq!(
            texts(Some(&file(0o755, 0)), &file(0o4755, 0), "/w/bin"),
            ["new setuid bit"]
        );
        assert!(texts(Some(&file(0o4755, 0)), &file(0o4755, 0), "/w/bin").is_empty());
        assert_eq!(texts(None, &file(0o666, 0), "/w/a.txt"), ["world-writable"]);
        assert_eq!(
            texts(None, &file(0o644, 33), "/w/a.php"),
            ["script owned by the web server user (www-data)"]
        );
        assert!(texts(None, &file(0o644, 33), "/w/a.jpg").is_empty());
    }
}

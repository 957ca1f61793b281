//! Package files against dpkg's checksums: one file (for a file event), or every
//! package file under the watched trees (`[host] packages = true`, like `debsums -c`,
//! on every core).

use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};
use rayon::prelude::*;

use super::owners::Owned;
use crate::fs::path as bpath;
use crate::policy::Severity;

/// A package file whose content is not the package's.
#[derive(Debug, Clone)]
pub struct Changed {
    pub path: Vec<u8>,
    pub owned: Owned,
    pub severity: Severity,
}

impl Changed {
    pub fn summary(&self) -> String {
        format!(
            "{} differs from package {} {}{}",
            bpath::lossy(&self.path),
            self.owned.package,
            self.owned.version,
            if self.owned.conffile {
                " (a configuration file)"
            } else {
                ""
            }
        )
    }
}

/// The MD5 of the file at `path` (symlinks followed, as dpkg and debsums do), and its
/// first bytes; `None` when it is not a regular file or cannot be read.
pub fn md5_of(path: &Path) -> Option<([u8; 16], [u8; 4])> {
    let mut file = super::open_regular(path).ok()?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 256 << 10];
    let mut head = [0u8; 4];
    let mut first = true;
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        if first {
            let k = n.min(4);
            head[..k].copy_from_slice(&buffer[..k]);
            first = false;
        }
        hasher.update(&buffer[..n]);
    }
    Some((hasher.finalize().into(), head))
}

/// How bad a changed package file is: a program or a library is critical, a
/// configuration file medium (administrators edit them), anything else high.
fn severity(path: &[u8], owned: &Owned, head: [u8; 4]) -> Severity {
    let code_folder = path
        .split(|b| *b == b'/')
        .any(|part| part == b"bin" || part == b"sbin" || part.starts_with(b"lib"));
    if &head == b"\x7fELF" || code_folder && !owned.conffile {
        Severity::Critical
    } else if owned.conffile {
        Severity::Medium
    } else {
        Severity::High
    }
}

/// The file at `path` against what dpkg says of it: `Ok` when it matches, `None`
/// when it cannot be read (or is no longer a regular file).
pub fn check(path: &[u8], owned: Owned) -> Option<Result<Owned, Changed>> {
    let (md5, head) = md5_of(bpath::as_path(path))?;
    Some(if md5 == owned.md5 {
        Ok(owned)
    } else {
        Err(Changed {
            path: path.to_vec(),
            severity: severity(path, &owned, head),
            owned,
        })
    })
}

/// Every file of `files` that differs, by path.
pub fn check_all(files: Vec<(Vec<u8>, Owned)>) -> Vec<Changed> {
    let mut changed: Vec<Changed> = files
        .into_par_iter()
        .filter_map(|(path, owned)| check(&path, owned)?.err())
        .collect();
    changed.sort_by(|a, b| a.path.cmp(&b.path));
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(conffile: bool) -> Owned {
        Owned {
            package: "p".into(),
            version: "1".into(),
            md5: [0; 16],
            conffile,
        }
    }

    #[test]
    fn programs_and_libraries_are_critical() {
        let text = *b"#!/b";
        assert_eq!(
            severity(b"/usr/bin/x", &owned(false), text),
            Severity::Critical
        );
        assert_eq!(
            severity(b"/usr/lib64/x.so", &owned(false), text),
            Severity::Critical
        );
        assert_eq!(
            severity(b"/opt/x", &owned(false), *b"\x7fELF"),
            Severity::Critical
        );
        assert_eq!(
            severity(b"/usr/share/doc/x", &owned(false), text),
            Severity::High
        );
        assert_eq!(
            severity(b"/etc/x.conf", &owned(true), text),
            Severity::Medium
        );
    }

    #[test]
    fn md5_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        let (md5, head) = md5_of(&file).unwrap();
        assert_eq!(
            md5,
            super::super::owners::hex16(b"900150983cd24fb0d6963f7d28e17f72").unwrap()
        );
        assert_eq!(&head[..3], b"abc");
        assert!(md5_of(dir.path()).is_none());
    }
}

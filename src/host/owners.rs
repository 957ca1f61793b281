//! Which package owns a file, and the checksum the package gives it: dpkg's
//! `info/PKG.list` (who owns what), `info/PKG.md5sums` and the status file's
//! `Conffiles` (the checksums). Built lazily on the first question, for the installed
//! packages only and keeping only paths under the watched trees (a few thousand of
//! the hundred thousand paths dpkg knows); rebuilt when dpkg's info folder or status
//! change. The checksums of a package are read the first time one of its files is
//! asked about.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::dpkg::{self, Installed};

/// What dpkg says of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The package name (without `:arch`).
    pub package: String,
    pub version: String,
    pub md5: [u8; 16],
    /// A configuration file, which the administrator may edit.
    pub conffile: bool,
}

struct Package {
    installed: Installed,
    /// The info file stem (`libc6:amd64` or `nginx`).
    info: String,
    /// Its md5sums, by path, once read (`None`: not yet).
    sums: Option<HashMap<Vec<u8>, [u8; 16]>>,
}

pub struct Owners {
    root: PathBuf,
    /// The watched trees; only paths below them are indexed.
    prefixes: Vec<Vec<u8>>,
    /// The mtimes of the info folder and the status file the index was built from.
    stamp: Option<(SystemTime, SystemTime)>,
    packages: Vec<Package>,
    by_path: HashMap<Vec<u8>, (u32, Option<[u8; 16]>)>,
    /// Paths dpkg diverts: what is there is not the package's file.
    diverted: HashSet<Vec<u8>>,
    /// `/bin` → `/usr/bin` and the like, on a merged-/usr system.
    merged: Vec<(Vec<u8>, Vec<u8>)>,
    pub warning: Option<String>,
}

impl Owners {
    pub fn new(root: &Path, prefixes: Vec<Vec<u8>>) -> Owners {
        let merged = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]
            .iter()
            .filter(|d| {
                std::fs::read_link(Path::new("/").join(d))
                    .is_ok_and(|t| t == Path::new("usr").join(d) || t == Path::new("/usr").join(d))
            })
            .map(|d| {
                (
                    format!("/{d}/").into_bytes(),
                    format!("/usr/{d}/").into_bytes(),
                )
            })
            .collect();
        Owners {
            root: root.to_path_buf(),
            prefixes,
            stamp: None,
            packages: Vec::new(),
            by_path: HashMap::new(),
            diverted: HashSet::new(),
            merged,
            warning: None,
        }
    }

    fn info_dir(&self) -> PathBuf {
        dpkg::admin_dir(&self.root).join("info")
    }

    /// The path as the file system has it (`/bin/ls` is `/usr/bin/ls` once merged).
    fn canonical<'p>(&self, path: &'p [u8]) -> Cow<'p, [u8]> {
        for (from, to) in &self.merged {
            if let Some(rest) = path.strip_prefix(&from[..]) {
                return Cow::Owned([&to[..], rest].concat());
            }
        }
        Cow::Borrowed(path)
    }

    fn wanted(&self, path: &[u8]) -> bool {
        self.prefixes.is_empty()
            || self
                .prefixes
                .iter()
                .any(|p| crate::fs::path::relative(path, p).is_some())
    }

    /// Rebuild the index if dpkg's state changed since it was built.
    fn refresh(&mut self) {
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let admin = dpkg::admin_dir(&self.root);
        let stamp = mtime(&self.info_dir()).zip(mtime(&admin.join("status")));
        if stamp.is_some() && stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        self.packages.clear();
        self.by_path.clear();
        self.warning = None;
        let installed = match dpkg::installed(&self.root) {
            Ok(i) => i,
            Err(e) => {
                self.warning = Some(format!(
                    "{}: {e}: package files cannot be checked",
                    admin.join("status").display()
                ));
                return;
            }
        };
        self.diverted = diversions(&admin.join("diversions"));
        let info_dir = self.info_dir();
        for installed in installed {
            let index = self.packages.len() as u32;
            let mut info = None;
            for name in installed.info_names() {
                if let Ok(list) = super::read_regular(&info_dir.join(format!("{name}.list"))) {
                    for line in list.split(|b| *b == b'\n') {
                        let path = self.canonical(line).into_owned();
                        if !path.is_empty() && self.wanted(&path) {
                            self.by_path.entry(path).or_insert((index, None));
                        }
                    }
                    info = Some(name);
                    break;
                }
            }
            for (path, md5) in &installed.conffiles {
                let path = self.canonical(path.as_bytes()).into_owned();
                if let (true, Some(md5)) = (self.wanted(&path), hex16(md5.as_bytes())) {
                    self.by_path.insert(path, (index, Some(md5)));
                }
            }
            self.packages.push(Package {
                info: info.unwrap_or_else(|| installed.name.clone()),
                installed,
                sums: None,
            });
        }
    }

    /// What dpkg says of `path`: `None` when no installed package ships it with a
    /// checksum (directories, symlinks, files of no package, diverted files).
    pub fn lookup(&mut self, path: &[u8]) -> Option<Owned> {
        self.refresh();
        let path = self.canonical(path).into_owned();
        if self.diverted.contains(&path) {
            return None;
        }
        let (index, conffile_md5) = *self.by_path.get(&path)?;
        let md5 = match conffile_md5 {
            Some(md5) => md5,
            None => *self.sums(index).get(&path)?,
        };
        let installed = &self.packages[index as usize].installed;
        Some(Owned {
            package: installed.name.clone(),
            version: installed.version.clone(),
            md5,
            conffile: conffile_md5.is_some(),
        })
    }

    /// Does an installed package list `path`: a file it ships, or a folder it makes?
    pub fn lists(&mut self, path: &[u8]) -> bool {
        self.refresh();
        let path = self.canonical(path);
        !self.diverted.contains(&*path) && self.by_path.contains_key(&*path)
    }

    /// Every package file under the watched trees that has a checksum.
    pub fn files(&mut self) -> Vec<(Vec<u8>, Owned)> {
        self.refresh();
        let mut paths: Vec<Vec<u8>> = self.by_path.keys().cloned().collect();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|p| self.lookup(&p).map(|o| (p, o)))
            .collect()
    }

    fn sums(&mut self, index: u32) -> &HashMap<Vec<u8>, [u8; 16]> {
        if self.packages[index as usize].sums.is_none() {
            let file = self
                .info_dir()
                .join(format!("{}.md5sums", self.packages[index as usize].info));
            let text = super::read_regular(&file).unwrap_or_default();
            let sums = text
                .split(|b| *b == b'\n')
                .filter_map(|line| {
                    let md5 = hex16(line.get(..32)?)?;
                    let rel = line.get(32..)?.trim_ascii_start();
                    let path = self.canonical(&[b"/", rel].concat()).into_owned();
                    self.wanted(&path).then_some((path, md5))
                })
                .collect();
            self.packages[index as usize].sums = Some(sums);
        }
        self.packages[index as usize]
            .sums
            .as_ref()
            .expect("just read")
    }
}

/// dpkg's diversions file: triples of lines (from, to, package); both ends are
/// someone else's file.
fn diversions(path: &Path) -> HashSet<Vec<u8>> {
    let text = super::read_regular(path).unwrap_or_default();
    text.split(|b| *b == b'\n')
        .collect::<Vec<_>>()
        .chunks(3)
        .filter(|c| c.len() == 3)
        .flat_map(|c| [c[0].to_vec(), c[1].to_vec()])
        .collect()
}

/// 32 hex digits as 16 bytes.
pub fn hex16(text: &[u8]) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in text.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_checksums() {
        assert_eq!(
            hex16(b"d41d8cd98f00b204e9800998ecf8427e").unwrap()[..2],
            [0xd4, 0x1d]
        );
        assert!(hex16(b"d41d8cd98f00b204e9800998ecf8427").is_none());
        assert!(hex16(b"z41d8cd98f00b204e9800998ecf8427e").is_none());
    }

    #[test]
    fn only_watched_trees_are_indexed() {
        let owners = Owners::new(Path::new("/nonexistent"), vec![b"/usr/bin".to_vec()]);
        assert!(owners.wanted(b"/usr/bin/ls"));
        assert!(owners.wanted(b"/usr/bin"));
        assert!(!owners.wanted(b"/usr/binx/ls"));
        assert!(!owners.wanted(b"/etc/passwd"));
    }
}

//! What fim records about one filesystem entry.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of an entry, as `lstat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    Block,
    Char,
}

impl FileType {
    pub const ALL: [FileType; 7] = [
        FileType::File,
        FileType::Dir,
        FileType::Symlink,
        FileType::Fifo,
        FileType::Socket,
        FileType::Block,
        FileType::Char,
    ];

    pub fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & 0o170000 {
            0o100000 => FileType::File,
            0o040000 => FileType::Dir,
            0o120000 => FileType::Symlink,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            0o060000 => FileType::Block,
            0o020000 => FileType::Char,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "dir",
            FileType::Symlink => "symlink",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
            FileType::Block => "block",
            FileType::Char => "char",
        }
    }

    /// Stable small integer used in the baseline.
    pub fn code(self) -> i64 {
        FileType::ALL.iter().position(|t| *t == self).unwrap_or(0) as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| FileType::ALL.get(i).copied())
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds and nanoseconds since the epoch, kept apart so that any `utimensat` value
/// an intruder can set (year 9999, before 1970) is stored without overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

impl Timestamp {
    /// RFC 3339 UTC with nanoseconds; a value outside chrono's range falls back to
    /// `@SECONDS.NANOS` rather than being hidden.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp(self.sec, self.nsec) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
            None => format!("@{}.{:09}", self.sec, self.nsec),
        }
    }
}

/// Extended attributes, sorted by name.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything fim compares for one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub file_type: FileType,
    pub size: u64,
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub inode: u64,
    pub nlink: u64,
    /// Symlink target, raw bytes.
    pub target: Option<Vec<u8>>,
    pub xattrs: Xattrs,
    /// BLAKE3 of the content; regular files only, and `None` when it could not be
    /// read reliably (unreadable, or kept changing while hashed).
    pub blake3: Option<[u8; 32]>,
}

impl Attrs {
    /// A regular file with this mode, owned by root, with no content hash: what a path
    /// would be if it appeared as a plain file (for `policy explain`) and in tests.
    pub fn plain_file(mode: u32) -> Attrs {
        Attrs {
            file_type: FileType::File,
            size: 0,
            mode,
            uid: 0,
            gid: 0,
            mtime: Timestamp::default(),
            ctime: Timestamp::default(),
            inode: 0,
            nlink: 1,
            target: None,
            xattrs: Vec::new(),
            blake3: None,
        }
    }
}

/// One scanned entry: its absolute path as raw bytes and its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub attrs: Attrs,
}

/// An attribute that can differ between two observations of an entry; the names are
/// the contract's `changes` values and the policy's `ignore` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attr {
    Content,
    Size,
    Mode,
    Uid,
    Gid,
    Mtime,
    Ctime,
    Inode,
    Nlink,
    Type,
    Target,
    Xattrs,
}

impl Attr {
    pub const ALL: [Attr; 12] = [
        Attr::Content,
        Attr::Size,
        Attr::Mode,
        Attr::Uid,
        Attr::Gid,
        Attr::Mtime,
        Attr::Ctime,
        Attr::Inode,
        Attr::Nlink,
        Attr::Type,
        Attr::Target,
        Attr::Xattrs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Attr::Content => "content",
            Attr::Size => "size",
            Attr::Mode => "mode",
            Attr::Uid => "uid",
            Attr::Gid => "gid",
            Attr::Mtime => "mtime",
            Attr::Ctime => "ctime",
            Attr::Inode => "inode",
            Attr::Nlink => "nlink",
            Attr::Type => "type",
            Attr::Target => "target",
            Attr::Xattrs => "xattrs",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of attributes, in the fixed order of `Attr::ALL` when iterated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttrSet(u16);

impl AttrSet {
    pub const EMPTY: AttrSet = AttrSet(0);

    pub fn insert(&mut self, attr: Attr) {
        self.0 |= attr.bit();
    }

    pub fn contains(self, attr: Attr) -> bool {
        self.0 & attr.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: AttrSet) -> AttrSet {
        AttrSet(self.0 | other.0)
    }

    pub fn without(self, other: AttrSet) -> AttrSet {
        AttrSet(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Attr> {
        Attr::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Attr> for AttrSet {
    fn from_iter<I: IntoIterator<Item = Attr>>(iter: I) -> Self {
        let mut set = AttrSet::EMPTY;
        for attr in iter {
            set.insert(attr);
        }
        set
    }
}

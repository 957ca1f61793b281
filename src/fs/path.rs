//! Paths as raw bytes: fim stores and compares names exactly as the kernel gives them,
//! so a non-UTF-8 name round-trips.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

pub fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

pub fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// `bytes` for a one-line text report: control characters escaped as Rust does
/// (`\n`, `\u{1b}`), and each byte that is not UTF-8 as `\xNN`, so that no name can
/// forge a line or pass for another name.
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().escape_debug());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// `parent/name`, without doubling the slash of the root directory.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    out.extend_from_slice(parent);
    if !parent.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The part of `path` below `root` (`""` for the root itself), or `None` when `path` is
/// not inside `root`. Component-wise: `/var/www2` is not inside `/var/www`.
pub fn relative<'a>(path: &'a [u8], root: &[u8]) -> Option<&'a [u8]> {
    if root == b"/" {
        return path.strip_prefix(b"/");
    }
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix(b"/")
    }
}

/// The byte range `[start, end)` holding every path strictly below `dir`: from `dir/`
/// up to `dir0` ('0' follows '/'), so a subtree is one range scan in byte order.
pub fn subtree_bounds(dir: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let start = join(dir, b"");
    let mut end = start.clone();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, end)
}

/// Split an absolute path into its parent directory and final name; `None` for `/`.
pub fn split_parent(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let cut = path.iter().rposition(|b| *b == b'/')?;
    let name = &path[cut + 1..];
    if name.is_empty() {
        return None;
    }
    let parent = if cut == 0 { &path[..1] } else { &path[..cut] };
    Some((parent, name))
}

/// Make `path` absolute against the current directory and remove `.` components,
/// without touching the filesystem (the last component may be gone or a symlink, and
/// must not be followed). `..` is resolved lexically.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut out = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_names_are_one_line_and_tell_bytes_from_replacement_characters() {
        assert_eq!(escaped(b"a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escaped(b"x\xffy"), "x\\xffy");
        assert_eq!(escaped("x\u{fffd}y".as_bytes()), "x\u{fffd}y");
        assert_eq!(escaped("caf\u{e9}".as_bytes()), "caf\u{e9}");
    }

    #[test]
    fn relative_is_component_wise() {
        assert_eq!(relative(b"/var/www/a", b"/var/www"), Some(&b"a"[..]));
        assert_eq!(relative(b"/var/www", b"/var/www"), Some(&b""[..]));
        assert_eq!(relative(b"/var/www2/a", b"/var/www"), None);
        assert_eq!(relative(b"/etc/passwd", b"/"), Some(&b"etc/passwd"[..]));
    }

    #[test]
    fn split_parent_handles_root_children() {
        assert_eq!(split_parent(b"/etc"), Some((&b"/"[..], &b"etc"[..])));
        assert_eq!(split_parent(b"/a/b/c"), Some((&b"/a/b"[..], &b"c"[..])));
        assert_eq!(split_parent(b"/"), None);
    }

    #[test]
    fn join_does_not_double_root_slash() {
        assert_eq!(join(b"/", b"etc"), b"/etc");
        assert_eq!(join(b"/etc", b"x\xff"), b"/etc/x\xff");
    }
}

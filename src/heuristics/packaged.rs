//! A new entry as an installed package shipped it (a file byte for byte as dpkg's
//! checksum says, a folder a package makes) was put there by dpkg, not planted: the
//! web heuristics that judge the entry (a setuid passwd, Python in an SDK's `images/`
//! folder, `composer` without an extension) say nothing of it, so `init` of the
//! system trees takes them in. What an intruder changes or adds is not as shipped.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::fs::{Attrs, FileType};
use crate::host::{integrity, owners::Owners};

/// dpkg's view of the watched trees, read on the first question only: most trees
/// have nothing suspicious to ask about.
#[derive(Clone, Default)]
pub struct Packaged {
    roots: Vec<Vec<u8>>,
    owners: Arc<OnceLock<Mutex<Owners>>>,
}

impl std::fmt::Debug for Packaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packaged")
            .field("roots", &self.roots)
            .finish()
    }
}

impl Packaged {
    /// For the trees at `roots`; `Packaged::default()` knows no package.
    pub fn new(roots: Vec<Vec<u8>>) -> Packaged {
        Packaged {
            roots,
            owners: Arc::default(),
        }
    }

    /// Is the entry at `path` (with `attrs`) as an installed package shipped it?
    pub fn as_shipped(&self, path: &[u8], attrs: &Attrs) -> bool {
        if self.roots.is_empty() {
            return false;
        }
        let owners = self
            .owners
            .get_or_init(|| Mutex::new(Owners::new(Path::new("/"), self.roots.clone())));
        let mut owners = owners.lock().unwrap_or_else(PoisonError::into_inner);
        match attrs.file_type {
            FileType::Dir => owners.lists(path),
            FileType::File => {
                let owned = owners.lookup(path);
                drop(owners);
                owned.is_some_and(|owned| matches!(integrity::check(path, owned), Some(Ok(_))))
            }
            _ => false,
        }
    }
}

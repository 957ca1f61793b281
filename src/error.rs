//! Typed errors of the library. Each variant knows which exit code it means, so the
//! edge (`main.rs`) only has to find the first `Error` in an `anyhow` chain.

use std::io;
use std::path::PathBuf;

use crate::exit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy file (or the policy text recorded in a baseline) is invalid.
    #[error("{}:{line}: {message}", origin.display())]
    Policy {
        origin: PathBuf,
        line: usize,
        message: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// The baseline database failed to open or a query on it failed for a reason
    /// that is not corruption (locked, disk full, read-only, ...).
    #[error("baseline {}: {source}", path.display())]
    Store {
        path: PathBuf,
        source: rusqlite::Error,
    },

    /// The baseline is not a fim baseline, is corrupt, or has an incompatible schema.
    #[error("baseline {}: {reason}", path.display())]
    Integrity { path: PathBuf, reason: String },

    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Integrity { .. } => exit::INTEGRITY,
            _ => exit::ERROR,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

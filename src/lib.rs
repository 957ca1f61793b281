//! fim: file integrity monitoring for web servers.
//!
//! The data flows policy → scan (walk, hash) → store (baseline) → diff → event → sink;
//! `cmd` wires those steps together per subcommand.

pub mod auth;
pub mod cli;
pub mod cmd;
pub mod compare;
pub mod detect;
pub mod diff;
pub mod error;
pub mod event;
pub mod exit;
pub mod fs;
pub mod heuristics;
pub mod host;
pub mod incident;
pub mod keys;
pub mod logs;
pub mod policy;
pub mod probe;
pub mod procs;
pub mod progress;
pub mod report;
pub mod scan;
pub mod sink;
pub mod store;
pub mod watch;
pub mod web;

pub use error::{Error, Result};

//! Where events go. The command's own output: JSON Lines (the contract's format) or a
//! readable text report, on stdout or appended to a file, each line flushed as it is
//! written. And the policy's `[[sink]]`s, fed from the durable outbox: `worker` runs
//! them, `deliver` moves one sink's batches, one module per sink type, `schema` maps
//! events to ECS or OCSF, `digest` writes messages for people.

mod deliver;
mod digest;
mod email;
mod file;
mod finding;
mod http;
pub mod schema;
mod secret;
mod syslog;
pub mod text;
mod worker;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::policy::sink::SinkType;
use crate::policy::SinkSpec;
use crate::scan::Skip;

pub use worker::{Dispatch, Sinks};

/// The files fim itself writes into — the `--output` file and the file sinks — are
/// never reported: inside a watched tree each event written would be a new change.
pub fn skip_outputs(skip: &mut Skip, output: Option<&Path>, sinks: &[SinkSpec]) {
    if let Some(output) = output {
        skip.add_file(output);
    }
    for sink in sinks.iter().filter(|s| s.kind == SinkType::File) {
        if let Some(path) = sink
            .path
            .as_ref()
            .and_then(|p| secret::resolve(p, "path").ok())
        {
            skip.add_file(Path::new(&path));
        }
    }
}

/// Why each value of `sink` that lives elsewhere (an environment variable, a secret
/// file) cannot be read here: `fim watch` and `verify` would not start with it so.
pub fn unreadable_values(sink: &SinkSpec) -> Vec<String> {
    sink.values()
        .iter()
        .filter_map(|(name, value)| secret::resolve(value, name).err())
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Jsonl,
    Text,
}

pub struct Output {
    out: Destination,
    format: Format,
}

enum Destination {
    Stdout(io::Stdout),
    File(file::AppendFile),
}

impl Output {
    /// Stdout, or `path` opened for appending (created if missing).
    pub fn open(path: Option<&Path>, format: Format) -> Result<Output> {
        let out = match path {
            None => Destination::Stdout(io::stdout()),
            Some(path) => Destination::File(
                file::AppendFile::open(path.to_path_buf()).map_err(|e| Error::io(path, e))?,
            ),
        };
        Ok(Output { out, format })
    }

    pub fn write(&mut self, event: &Event) -> Result<()> {
        let line = match self.format {
            Format::Jsonl => event.to_json(),
            Format::Text => text::line(&serde_json::from_str(&event.to_json()).unwrap_or_default()),
        };
        self.write_line(&line)
    }

    pub fn write_line(&mut self, line: &str) -> Result<()> {
        // One write(2) per line: a reader woken by the file changing never sees half
        // a line (and it is one system call instead of two).
        let mut whole = String::with_capacity(line.len() + 1);
        whole.push_str(line);
        whole.push('\n');
        let written = match &mut self.out {
            Destination::Stdout(out) => out.write_all(whole.as_bytes()).and_then(|()| out.flush()),
            Destination::File(file) => file
                .opened()
                .and_then(|f| f.write_all(whole.as_bytes()).and_then(|()| f.flush())),
        };
        written.map_err(|e| {
            if let Destination::File(file) = &mut self.out {
                file.close();
            }
            Error::io(self.name(), e)
        })
    }

    /// Before a batch of a long-running command: an output file rotated away
    /// (logrotate) is followed by the file now at its path.
    pub fn follow(&mut self) -> Result<()> {
        match &mut self.out {
            Destination::Stdout(_) => Ok(()),
            Destination::File(file) => file
                .followed()
                .map(drop)
                .map_err(|e| Error::io(file.path(), e)),
        }
    }

    /// Open the output file again (SIGHUP); stdout stays as it is.
    pub fn reopen(&mut self) -> Result<()> {
        match &mut self.out {
            Destination::Stdout(_) => Ok(()),
            Destination::File(file) => file.reopen().map_err(|e| Error::io(file.path(), e)),
        }
    }

    fn name(&self) -> PathBuf {
        match &self.out {
            Destination::Stdout(_) => PathBuf::from("<stdout>"),
            Destination::File(file) => file.path().to_path_buf(),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }
}

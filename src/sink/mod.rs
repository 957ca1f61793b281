//! Where events go. The command's own output: JSON Lines (the contract's format) or a
//! readable text report, on stdout or appended to a file, each line flushed as it is
//! written. And the policy's `[[sink]]`s, fed from the durable outbox: `worker` runs
//! them, `deliver` moves one sink's batches, one module per sink type, `schema` maps
//! events to ECS or OCSF, `digest` writes messages for people.

mod deliver;
mod digest;
mod email;
mod file;
mod http;
pub mod schema;
mod secret;
mod syslog;
pub mod text;
mod worker;

use std::fs::OpenOptions;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Jsonl,
    Text,
}

pub struct Output {
    out: Box<dyn Write>,
    format: Format,
    name: PathBuf,
}

impl Output {
    /// Stdout, or `path` opened for appending (created if missing).
    pub fn open(path: Option<&Path>, format: Format) -> Result<Output> {
        let (out, name): (Box<dyn Write>, PathBuf) = match path {
            None => (Box::new(io::stdout()), PathBuf::from("<stdout>")),
            Some(path) => (
                Box::new(open_append(path).map_err(|e| Error::io(path, e))?),
                path.to_path_buf(),
            ),
        };
        Ok(Output { out, format, name })
    }

    pub fn write(&mut self, event: &Event) -> Result<()> {
        let line = match self.format {
            Format::Jsonl => event.to_json(),
            Format::Text => text::line(&serde_json::from_str(&event.to_json()).unwrap_or_default()),
        };
        self.write_line(&line)
    }

    pub fn write_line(&mut self, line: &str) -> Result<()> {
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io(&self.name, e))
    }

    pub fn format(&self) -> Format {
        self.format
    }
}

/// Open for appending without ever blocking: a FIFO with no reader is an error
/// ("No such device or address"), not a hang. Writes then block as usual.
pub(crate) fn open_append(path: &Path) -> io::Result<std::fs::File> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    fcntl_setfl(&file, fcntl_getfl(&file)? - OFlags::NONBLOCK)?;
    Ok(file)
}

//! `fim events`: the recorded event history as JSON Lines.

use std::io::Write;

use globset::GlobBuilder;

use crate::cli::EventsArgs;
use crate::error::{Error, Result};
use crate::exit;
use crate::fs::path as bpath;
use crate::store::{Baseline, EventQuery};

pub fn run(args: &EventsArgs) -> Result<i32> {
    let baseline = Baseline::open(&args.db.db)?;
    let glob = args
        .path
        .as_deref()
        .map(|g| {
            GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| Error::Usage(format!("--path {g:?}: {}", e.kind())))
        })
        .transpose()?;
    let query = EventQuery {
        since_ms: args.since.map(|t| t.timestamp_millis()),
        kind: args.kind.clone(),
        category: args.category.clone(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    baseline.events(&query, |path, json| {
        if glob
            .as_ref()
            .is_none_or(|g| g.is_match(bpath::as_path(path)))
        {
            writeln!(out, "{json}")
                .and_then(|()| out.flush())
                .map_err(|e| Error::io("<stdout>", e))?;
        }
        Ok(())
    })?;
    Ok(exit::CLEAN)
}

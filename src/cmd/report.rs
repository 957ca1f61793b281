//! `fim report`: write the HTML page of a period (`crate::report`).

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::cli::ReportArgs;
use crate::error::{Error, Result};
use crate::exit;
use crate::store::Baseline;

pub fn run(args: &ReportArgs) -> Result<i32> {
    let baseline = Baseline::open(&args.db.db)?;
    write(&baseline, args.since, &args.out)?;
    Ok(exit::CLEAN)
}

/// Render the page and put it at `out` whole: written beside it, then renamed over it,
/// so a reader (a web server, a mailer) never sees half a page.
pub fn write(baseline: &Baseline, since: DateTime<Utc>, out: &Path) -> Result<()> {
    let page = crate::report::render(baseline, since)?;
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(out, e))?;
    temp.write_all(page.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io(out, e))?;
    temp.persist(out).map_err(|e| Error::io(out, e.error))?;
    tracing::info!("report written to {} ({} bytes)", out.display(), page.len());
    Ok(())
}

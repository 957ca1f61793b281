//! The page: an askama template (templates/report.html), compiled into the binary and
//! checked at build time. Every value is HTML-escaped unless marked `safe`; only the
//! SVG charts, which plotters drew from numbers and fixed words, are.

use askama::Template;

use super::Report;
use crate::error::{Error, Result};

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'r> {
    r: &'r Report,
}

pub fn render(report: &Report) -> Result<String> {
    Page { r: report }
        .render()
        .map_err(|e| Error::Usage(format!("the report could not be rendered: {e}")))
}

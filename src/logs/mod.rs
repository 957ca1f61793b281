//! Web server access logs: one line of bytes becomes one [`record::AccessRecord`].
//!
//! `parse` knows the formats (combined, common, vhost_combined, JSON lines, nginx `log_format`
//! and Apache `LogFormat` templates); `record` is what every detector reads.

pub mod parse;
pub mod record;

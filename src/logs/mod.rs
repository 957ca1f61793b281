//! Logs: where records come from (the follower with its cursors, whole files for
//! `analyze`) and how a line becomes one [`record::AccessRecord`] (`parse`: combined,
//! common, vhost_combined, JSON lines, nginx `log_format` and Apache `LogFormat`
//! templates).

pub mod follow;
pub mod parse;
pub mod record;
pub mod whole;

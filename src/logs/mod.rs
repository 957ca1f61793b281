//! Logs: where records come from (the follower with its cursors, whole files for
//! `analyze`) and how a line becomes a record (one parser per format).

pub mod record;

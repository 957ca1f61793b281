//! Logs: where records come from (the follower with its cursors, whole files for
//! `analyze`) and how a line becomes one [`record::AccessRecord`] (`parse`: combined,
//! common, vhost_combined, JSON lines, nginx `log_format` and Apache `LogFormat`
//! templates).

pub mod follow;
pub mod parse;
pub mod record;
pub mod whole;

/// Where reading a log stopped, saved with the events its records produced: a
/// followed file's cursor, or the systemd journal's own cursor (`__CURSOR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    File(follow::Cursor),
    Journal(String),
}

impl From<follow::Cursor> for Position {
    fn from(cursor: follow::Cursor) -> Position {
        Position::File(cursor)
    }
}

/// A follower's cursors as positions.
pub fn positions(cursors: Vec<(String, follow::Cursor)>) -> Vec<(String, Position)> {
    cursors.into_iter().map(|(k, c)| (k, c.into())).collect()
}

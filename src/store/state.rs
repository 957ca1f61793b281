//! What `fim status` reads besides the history: the watch daemon's heartbeat (one
//! row, written at start and with each status change or `HEARTBEAT`) and the outcome
//! of the last run of each one-shot command (`fim verify`).

use rusqlite::{params, Connection, OptionalExtension};

use super::Baseline;
use crate::error::Result;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS daemon (
    one          INTEGER PRIMARY KEY CHECK (one = 1),
    pid          INTEGER NOT NULL,
    proc_start   INTEGER NOT NULL,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    watched      INTEGER NOT NULL,
    watch_limit  INTEGER NOT NULL,
    status       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    command     TEXT PRIMARY KEY,
    finished_ms INTEGER NOT NULL,
    differences INTEGER NOT NULL,
    detections  INTEGER NOT NULL,
    verdict     TEXT NOT NULL
) WITHOUT ROWID;
";

/// The daemon's last word about itself.
#[derive(Debug, Clone)]
pub struct DaemonState {
    pub pid: u32,
    /// The process's start time (clock ticks after boot), to tell a reused pid.
    pub proc_start: u64,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    pub watched: u64,
    pub watch_limit: u64,
    pub status: String,
}

impl DaemonState {
    /// Whether the process that wrote this still runs.
    pub fn alive(&self) -> bool {
        proc_start(self.pid) == Some(self.proc_start)
    }
}

/// The last `fim verify` (or other one-shot run).
#[derive(Debug, Clone)]
pub struct Run {
    pub finished_ms: i64,
    pub differences: u64,
    pub detections: u64,
    pub verdict: String,
}

/// When process `pid` started (field 22 of /proc/PID/stat); `None` if it is gone
/// (or a zombie).
pub fn proc_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    // A zombie has exited: nobody reaped it yet.
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

fn ensure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE)
}

impl Baseline {
    pub fn record_daemon(&self, state: &DaemonState) -> Result<()> {
        let write = || -> rusqlite::Result<()> {
            ensure(&self.conn)?;
            self.conn.execute(
                "INSERT OR REPLACE INTO daemon
                 (one, pid, proc_start, started_ms, heartbeat_ms, watched, watch_limit, status)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    state.pid,
                    state.proc_start as i64,
                    state.started_ms,
                    state.heartbeat_ms,
                    state.watched as i64,
                    state.watch_limit as i64,
                    state.status
                ],
            )?;
            Ok(())
        };
        write().map_err(|e| self.err(e))
    }

    pub fn daemon(&self) -> Result<Option<DaemonState>> {
        let read = || -> rusqlite::Result<Option<DaemonState>> {
            ensure(&self.conn)?;
            self.conn
                .query_row(
                    "SELECT pid, proc_start, started_ms, heartbeat_ms, watched, watch_limit, status
                     FROM daemon",
                    [],
                    |r| {
                        Ok(DaemonState {
                            pid: r.get(0)?,
                            proc_start: r.get::<_, i64>(1)? as u64,
                            started_ms: r.get(2)?,
                            heartbeat_ms: r.get(3)?,
                            watched: r.get::<_, i64>(4)? as u64,
                            watch_limit: r.get::<_, i64>(5)? as u64,
                            status: r.get(6)?,
                        })
                    },
                )
                .optional()
        };
        read().map_err(|e| self.err(e))
    }

    pub fn record_run(&self, command: &str, run: &Run) -> Result<()> {
        let write = || -> rusqlite::Result<()> {
            ensure(&self.conn)?;
            self.conn.execute(
                "INSERT OR REPLACE INTO runs (command, finished_ms, differences, detections, verdict)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    command,
                    run.finished_ms,
                    run.differences as i64,
                    run.detections as i64,
                    run.verdict
                ],
            )?;
            Ok(())
        };
        write().map_err(|e| self.err(e))
    }

    pub fn last_run(&self, command: &str) -> Result<Option<Run>> {
        let read = || -> rusqlite::Result<Option<Run>> {
            ensure(&self.conn)?;
            self.conn
                .query_row(
                    "SELECT finished_ms, differences, detections, verdict FROM runs WHERE command = ?1",
                    [command],
                    |r| {
                        Ok(Run {
                            finished_ms: r.get(0)?,
                            differences: r.get::<_, i64>(1)? as u64,
                            detections: r.get::<_, i64>(2)? as u64,
                            verdict: r.get(3)?,
                        })
                    },
                )
                .optional()
        };
        read().map_err(|e| self.err(e))
    }

    /// The database's size on disk, with its write-ahead log.
    pub fn size_bytes(&self) -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|suffix| {
                let mut name = self.path.clone().into_os_string();
                name.push(suffix);
                std::fs::metadata(name).ok().map(|m| m.len())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_start_time_is_read_and_a_gone_pid_has_none() {
        let me = std::process::id();
        assert!(proc_start(me).is_some());
        assert_eq!(proc_start(me), proc_start(me));
        assert_eq!(proc_start(u32::MAX), None);
    }
}

//! What a reported process is tied to (`related`): the file events fim reported for its
//! executable, its working directory or a script its command line names (its own or
//! its parent's: `php uploads/x.php` starting `sh -c id`), and, for a listener, the
//! web-shell-spawn it descends from (a reverse shell's `nc -l` under the `sh -c`).
//! Only the few processes that are reported are looked up: an exec costs one map
//! lookup here (is its parent a spawned shell?).

use std::collections::{HashMap, HashSet};

use super::read::{self, Proc};
use crate::web::FileRef;

/// Arguments looked at per command line: a script is named among the first few.
const ARGS: usize = 16;
/// A file changed this recently may not have had its event yet.
const FRESH_MS: i64 = 5_000;

#[derive(Default)]
pub struct Ties {
    /// Path (lossy text, as file events name it) → the latest file event reported for it.
    files: HashMap<String, String>,
    /// Processes descending from a web-shell-spawn: pid → (start, the spawn's subject).
    spawned: HashMap<i32, (u64, Vec<u8>)>,
    /// The latest web-shell-spawn event reported per subject.
    spawn_events: HashMap<Vec<u8>, String>,
    /// The watched trees: where file events come from.
    watched: Vec<Vec<u8>>,
}

impl Ties {
    /// `watched`: the roots of the watched trees.
    pub fn new(files: Vec<FileRef>, watched: Vec<Vec<u8>>) -> Ties {
        let mut ties = Ties {
            watched,
            ..Ties::default()
        };
        files.into_iter().for_each(|f| ties.file(f));
        ties
    }

    /// A file event: new, or changed with reasons (`FileRef`'s one selection).
    pub fn file(&mut self, file: FileRef) {
        self.files.insert(file.path, file.event_id);
    }

    /// The file events of `p`'s and its parent's executable, working directory and
    /// script arguments, without repeats.
    pub fn files_of(&self, p: &Proc, parent: Option<&Proc>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.files.is_empty() {
            return out;
        }
        for proc in std::iter::once(p).chain(parent) {
            for path in paths(proc) {
                if let Some(id) = self.files.get(&read::text(&path)) {
                    if !out.contains(id) {
                        out.push(id.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether `p` or its parent runs from (or names) a file of a watched tree changed
    /// in the last seconds that no file event has named yet: live, it may still come.
    pub fn awaits_file(&self, p: &Proc, parent: Option<&Proc>, now_ms: i64) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::iter::once(p)
            .chain(parent)
            .flat_map(paths)
            .filter(|path| {
                self.watched
                    .iter()
                    .any(|root| path.starts_with(root) && path.get(root.len()) == Some(&b'/'))
            })
            .filter(|path| !self.files.contains_key(&read::text(path)))
            .any(|path| {
                std::fs::symlink_metadata(read::os(&path)).is_ok_and(|m| {
                    let ctime_ms = m.ctime() * 1000 + m.ctime_nsec() / 1_000_000;
                    now_ms - ctime_ms < FRESH_MS
                })
            })
    }

    /// A web-shell-spawn seen (reported or counted): its descendants name it.
    pub fn spawn(&mut self, p: &Proc, subject: &[u8]) {
        self.spawned.insert(p.pid, (p.start, subject.to_vec()));
    }

    /// A web-shell-spawn event reported for `subject`.
    pub fn spawn_reported(&mut self, subject: &[u8], event_id: &str) {
        self.spawn_events
            .insert(subject.to_vec(), event_id.to_owned());
    }

    /// A program started: the child of a spawned shell is one of its descendants (it
    /// may outlive the shell and be adopted by init; the exec event still saw it).
    pub fn exec(&mut self, p: &Proc, table: &HashMap<i32, Proc>) {
        if self.spawned.is_empty() || self.spawned.contains_key(&p.pid) {
            return;
        }
        if let Some(subject) = self.spawn_subject_of(p.ppid, table) {
            self.spawned.insert(p.pid, (p.start, subject));
        }
    }

    /// The web-shell-spawn event `p` or one of its ancestors in `table` comes from.
    pub fn spawn_of(&self, p: &Proc, table: &HashMap<i32, Proc>) -> Option<String> {
        let subject = self
            .spawned
            .get(&p.pid)
            .filter(|(start, _)| *start == p.start)
            .map(|(_, s)| s.clone())
            .or_else(|| self.spawn_subject_of(p.ppid, table))?;
        self.spawn_events.get(&subject).cloned()
    }

    fn spawn_subject_of(&self, mut pid: i32, table: &HashMap<i32, Proc>) -> Option<Vec<u8>> {
        for _ in 0..32 {
            if pid <= 1 {
                return None;
            }
            let known = table.get(&pid);
            if let Some((start, subject)) = self.spawned.get(&pid) {
                // A pid reused since is another process.
                if known.is_none_or(|k| k.start == *start) {
                    return Some(subject.clone());
                }
            }
            pid = known?.ppid;
        }
        None
    }

    /// Forget the processes that have ended.
    pub fn retain(&mut self, live: &HashSet<(i32, u64)>) {
        self.spawned
            .retain(|pid, (start, _)| live.contains(&(*pid, *start)));
        let subjects: HashSet<&Vec<u8>> = self.spawned.values().map(|(_, s)| s).collect();
        self.spawn_events.retain(|s, _| subjects.contains(s));
    }
}

/// Where a process runs from: its executable, its working directory, and the
/// arguments that may be files (relative ones taken from the working directory).
fn paths(p: &Proc) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = p.exe.iter().chain(&p.cwd).cloned().collect();
    for arg in p.cmdline.iter().take(ARGS) {
        if arg.is_empty() || arg.starts_with(b"-") || arg.contains(&0) {
            continue;
        }
        if arg.starts_with(b"/") {
            out.push(normalize(arg));
        } else if let Some(cwd) = &p.cwd {
            let mut joined = cwd.clone();
            joined.push(b'/');
            joined.extend_from_slice(arg);
            out.push(normalize(&joined));
        }
    }
    out
}

/// `a/./b//../c` → `a/c`, by the letters (the file may be gone; `..` through a
/// symlink is rare in a command line and only misses a tie).
fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for part in parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, id: &str) -> FileRef {
        FileRef {
            event_id: id.into(),
            path: path.into(),
            birth_ms: 0,
            new: true,
            reasons: Vec::new(),
        }
    }

    fn proc(pid: i32, ppid: i32, exe: &str, cwd: &str, args: &[&str]) -> Proc {
        Proc {
            pid,
            ppid,
            start: pid as u64 * 10,
            exe: Some(exe.as_bytes().to_vec()),
            cwd: Some(cwd.as_bytes().to_vec()),
            cmdline: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            ..Proc::default()
        }
    }

    #[test]
    fn a_script_named_by_the_parent_ties_the_shell() {
        let ties = Ties::new(
            vec![
                file("/srv/www/uploads/x.php", "f1"),
                file("/srv/www/uploads/evil", "f2"),
            ],
            Vec::new(),
        );
        let php = proc(
            10,
            1,
            "/usr/bin/php8.2",
            "/srv/www",
            &["php", "./uploads/../uploads/x.php"],
        );
        let sh = proc(
            11,
            10,
            "/usr/bin/dash",
            "/srv/www/uploads/evil",
            &["sh", "-c", "id"],
        );
        assert_eq!(ties.files_of(&sh, Some(&php)), vec!["f2", "f1"]);
        let unrelated = proc(12, 1, "/usr/bin/dash", "/", &["sh", "-c", "uploads/x.php"]);
        assert!(ties.files_of(&unrelated, None).is_empty());
        assert_eq!(normalize(b"/a/../../b/./c//"), b"/b/c");
    }

    #[test]
    fn a_fresh_file_without_its_event_yet_is_awaited() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("x.sh"), "id\n").unwrap();
        let root_text = root.to_str().unwrap();
        let mut ties = Ties::new(Vec::new(), vec![root_text.as_bytes().to_vec()]);
        let now = chrono::Utc::now().timestamp_millis();
        let sh = proc(
            30,
            1,
            "/usr/bin/dash",
            "/",
            &["sh", &format!("{root_text}/x.sh")],
        );
        assert!(ties.awaits_file(&sh, None, now));
        // Changed long ago, or already reported: no wait.
        assert!(!ties.awaits_file(&sh, None, now + FRESH_MS + 1000));
        ties.file(file(&format!("{root_text}/x.sh"), "f"));
        assert!(!ties.awaits_file(&sh, None, now));
        // Outside the watched trees nothing is awaited.
        let other = proc(31, 1, "/usr/bin/dash", "/", &["sh", "/etc/hostname"]);
        assert!(!ties.awaits_file(&other, None, now));
    }

    #[test]
    fn a_listener_under_a_spawned_shell_names_the_spawn() {
        let mut ties = Ties::default();
        let sh = proc(20, 5, "/usr/bin/dash", "/", &["sh", "-c", "nc -l 4444 &"]);
        let nc = proc(21, 20, "/usr/bin/nc", "/", &["nc", "-l", "4444"]);
        let mut table: HashMap<i32, Proc> = HashMap::new();
        table.insert(20, sh.clone());
        ties.spawn(&sh, b"5 /usr/bin/dash");
        ties.spawn_reported(b"5 /usr/bin/dash", "spawn-1");
        ties.exec(&nc, &table);
        // The shell exits; nc is adopted by init and still names the spawn.
        table.remove(&20);
        let adopted = Proc {
            ppid: 1,
            ..nc.clone()
        };
        assert_eq!(ties.spawn_of(&adopted, &table).as_deref(), Some("spawn-1"));
        // Another process with a reused pid does not.
        let reused = Proc {
            start: 999,
            ..adopted
        };
        assert_eq!(ties.spawn_of(&reused, &table), None);
        ties.retain(&HashSet::new());
        assert_eq!(ties.spawn_of(&nc, &table), None);
    }
}

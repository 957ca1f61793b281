//! Privilege bits: setuid, setgid and file capabilities (`security.capability`, which
//! gives what setuid gives: `cap_setuid+ep` on a copy of python). Each is critical
//! when an entry gains it. A new entry as its package shipped it is not suspicious
//! (`Packaged`: passwd, su, mount), unless it is a privileged program that runs
//! commands for whoever starts it: a setuid find or python is a root shell, whoever
//! shipped it. A bit that an entry already in the baseline gains is always critical:
//! `chmod u+s` on the packaged find is the classic way back in.

use super::Reason;
use crate::fs::Attrs;
use crate::policy::Severity;

const CAPABILITY: &[u8] = b"security.capability";

/// Programs that are a shell, or run a command, read or write any file for their user
/// (GTFOBins' usual suspects): no package makes them setuid.
const RUNS_COMMANDS: &[&str] = &[
    "ash", "awk", "bash", "busybox", "cp", "csh", "curl", "dash", "dd", "ed", "env", "ex",
    "expect", "find", "fish", "gawk", "gdb", "git", "install", "ksh", "less", "lua", "make",
    "mawk", "more", "mv", "nano", "nawk", "nc", "ncat", "nice", "node", "nodejs", "nohup",
    "openssl", "perl", "php", "python", "rsync", "ruby", "rview", "rvim", "script", "sed", "sh",
    "socat", "stdbuf", "strace", "tar", "taskset", "tclsh", "tee", "timeout", "vi", "view", "vim",
    "wget", "xargs", "zip", "zsh",
];

/// The reasons for the privilege bits `new` has and `old` lacked.
pub fn gained(old: Option<&Attrs>, new: &Attrs, add: &mut impl FnMut(String, Severity)) {
    let gained_bit = |bits: u32| new.mode & bits != 0 && old.is_none_or(|o| o.mode & bits == 0);
    if gained_bit(0o4000) {
        add("new setuid bit".into(), Severity::Critical);
    }
    if gained_bit(0o2000) {
        add("new setgid bit".into(), Severity::Critical);
    }
    let capability = capability(new);
    if capability.is_some() && old.is_none_or(|o| self::capability(o) != capability) {
        add(
            "new file capabilities (security.capability)".into(),
            Severity::Critical,
        );
    }
}

/// What a program as its package shipped it may still be suspicious of: privileges on
/// a program that runs commands (`name`, with `new`'s attributes).
pub fn on_shipped(name: &str, new: &Attrs) -> Vec<Reason> {
    let privileged = new.mode & 0o6000 != 0 || capability(new).is_some();
    (privileged && runs_commands(name))
        .then(|| Reason {
            text: "privileges on a program that runs commands".into(),
            severity: Severity::Critical,
        })
        .into_iter()
        .collect()
}

fn capability(attrs: &Attrs) -> Option<&[u8]> {
    attrs
        .xattrs
        .iter()
        .find(|(name, _)| name == CAPABILITY)
        .map(|(_, value)| &value[..])
}

/// Is the program named `name` (`python3.11` is python, `vim.basic` vim) one that
/// runs commands?
fn runs_commands(name: &str) -> bool {
    let name = [".basic", ".tiny"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    RUNS_COMMANDS.contains(&stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(old: Option<&Attrs>, new: &Attrs) -> Vec<String> {
        let mut out = Vec::new();
        gained(old, new, &mut |t, _| out.push(t));
        out
    }

    #[test]
    fn programs_that_run_commands() {
        for name in [
            "python3.11",
            "vim.basic",
            "vim.tiny",
            "bash",
            "find",
            "php8.2",
            "perl5.36.0",
        ] {
            assert!(runs_commands(name), "{name}");
        }
        for name in ["passwd", "su", "mount", "ping", "sudo", "chfn", "ssh-agent"] {
            assert!(!runs_commands(name), "{name}");
        }
    }

    #[test]
    fn bits_and_capabilities_gained() {
        let plain = Attrs::plain_file(0o755);
        let setuid = Attrs::plain_file(0o4755);
        let capable = Attrs {
            xattrs: vec![(CAPABILITY.to_vec(), b"\x01\x00\x00\x02".to_vec())],
            ..Attrs::plain_file(0o755)
        };
        assert_eq!(reasons(None, &setuid), ["new setuid bit"]);
        assert_eq!(reasons(Some(&plain), &setuid), ["new setuid bit"]);
        assert!(reasons(Some(&setuid), &setuid).is_empty());
        assert!(reasons(None, &plain).is_empty());
        assert_eq!(
            reasons(Some(&plain), &capable),
            ["new file capabilities (security.capability)"]
        );
        assert!(reasons(Some(&capable), &capable).is_empty());
        assert_eq!(on_shipped("find", &setuid).len(), 1);
        assert_eq!(on_shipped("python3.11", &capable).len(), 1);
        assert!(on_shipped("passwd", &setuid).is_empty());
        assert!(on_shipped("find", &plain).is_empty());
    }
}

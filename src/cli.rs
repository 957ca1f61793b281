//! The command line (clap only; no behaviour here).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::sink::Format;

/// The default baseline, for a system install; `FIM_DB` overrides it, `--db` overrides both.
pub const DEFAULT_DB: &str = "/var/lib/fim/fim.db";

#[derive(Debug, Parser)]
#[command(
    name = "fim",
    version,
    about = "File integrity monitoring for web servers: BLAKE3 baselines, nightly verify, audited accepts",
    after_help = "Exit codes: 0 clean / success, 1 differences found (verify), 2 error, \
                  3 the baseline failed its integrity check.\n\
                  Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more detail."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug; `fim watch` logs info already, -v debug).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr: no progress, summary or warning lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct DbArg {
    /// The baseline database.
    #[arg(long, value_name = "FILE", env = "FIM_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hash every watched entry into a new baseline.
    #[command(after_help = "Examples:\n  \
        fim init --db baselines/www.db /var/www/html\n  \
        fim init --policy policies/docroot.toml --db /var/lib/fim/fim.db\n  \
        fim init --force --policy /etc/fim/policy.toml        # replace the baseline")]
    Init(InitArgs),

    /// Rehash everything the policy watches and report every difference from the baseline.
    #[command(
        after_help = "Exit code 0: no differences; 1: differences (printed as events).\n\n\
        Examples:\n  \
        fim verify --db baselines/www.db\n  \
        fim verify --db baselines/www.db --format text\n  \
        fim verify --policy /etc/fim/site.toml --format text    # nightly, from cron: mails the report"
    )]
    Verify(VerifyArgs),

    /// Take the current state of paths (or of everything) into the baseline, with an audit record.
    #[command(after_help = "Examples:\n  \
        fim accept --db baselines/www.db --reason 'deploy 4.2' /var/www/html/index.php\n  \
        fim accept --db baselines/www.db --reason 'theme update' /var/www/html/wp-content/themes\n  \
        fim accept --db baselines/www.db --reason 'release 2026-11' --all")]
    Accept(AcceptArgs),

    /// Daemon: report every change under the watched trees as it happens.
    #[command(
        after_help = "At start, the trees are compared with the last state the daemon observed \
        (changes made while it was down are reported), then READY=1 is sent to $NOTIFY_SOCKET. \
        SIGHUP rereads the policy (--policy, or the recorded one) and reopens --output; \
        SIGTERM or SIGINT stop it (exit 0). Logs at info: start, ready, reloads, overflows, \
        health.\n\n\
        Examples:\n  \
        fim watch --db baselines/www.db\n  \
        fim watch --db /var/lib/fim/fim.db --policy /etc/fim/site.toml   # as the README's unit runs it\n  \
        fim watch --db /var/lib/fim/fim.db --output /var/log/fim/events.jsonl"
    )]
    Watch(WatchArgs),

    /// Make an ed25519 key pair for sealing baselines: DIR/fim.key and DIR/fim.pub.
    #[command(
        after_help = "The private key is encrypted when --passphrase asks for a passphrase \
        (or FIM_PASSPHRASE is set). Keep it off the web server: seal there with a copy of the \
        baseline, or bring the key only for init and accept.\n\n\
        Example:\n  fim keygen --out /root/fim-keys --passphrase"
    )]
    Keygen {
        /// The directory to write fim.key and fim.pub into (created if missing; an
        /// existing key is never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Ask for a passphrase (twice) to encrypt the private key.
        #[arg(long)]
        passphrase: bool,
    },

    /// Check a policy, or explain what it does with paths.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// Run the log detectors over existing access logs, start to end (plain or gzip).
    #[command(
        after_help = "Exit code 0: nothing detected; 1: detections (printed as events).\n\n\
        Without --policy the web detectors run with their defaults on combined-format logs. \
        With --db, detections are recorded in that baseline's history and tied to its file \
        events (planted-file, webshell-access).\n\n\
        Examples:\n  \
        fim analyze /var/log/nginx/access.log /var/log/nginx/access.log.2.gz\n  \
        fim analyze --format text --log-format vhost_combined /var/log/apache2/other_vhosts_access.log\n  \
        fim analyze --policy /etc/fim/site.toml --db /var/lib/fim/fim.db /var/log/nginx/access.log.1"
    )]
    Analyze(AnalyzeArgs),

    /// Print the recorded event history (JSON Lines, or text), or the accept audit trail.
    #[command(after_help = "Examples:\n  \
        fim events --db baselines/www.db\n  \
        fim events --db baselines/www.db --since 24h --format text\n  \
        fim events --db baselines/www.db --since 2026-11-25 --kind modified\n  \
        fim events --db baselines/www.db --path '/var/www/html/**/*.php'\n  \
        fim events --db baselines/www.db --category web --kind planted-file\n  \
        fim events --db baselines/www.db --accepts --format text\n  \
        fim events --db baselines/www.db --incident 019a7c1e-… --format text")]
    Events(EventsArgs),

    /// Write the report: one self-contained HTML page of what happened (findings,
    /// incidents, file changes, web traffic, logins, probes, host).
    #[command(
        after_help = "The page needs no script and loads nothing: it opens offline and \
        travels as a mail attachment.\n\n\
        Examples:\n  \
        fim report --db /var/lib/fim/fim.db --out /var/www/reports/fim.html\n  \
        fim report --db baselines/www.db --since 7d --out week.html"
    )]
    Report(ReportArgs),

    /// One screen on the state of things: the daemon, the last verify, open incidents,
    /// probes, sink backlogs, the inotify budget, the database.
    #[command(
        after_help = "Exit code 0: all is well; 1: something needs attention (each \
        such line starts with `!`); 2: error.\n\n\
        Example:\n  fim status --db /var/lib/fim/fim.db"
    )]
    Status {
        #[command(flatten)]
        db: DbArg,
    },

    /// Print a shell completion script on stdout.
    #[command(after_help = "Install (as root):\n  \
        fim completions bash > /etc/bash_completion.d/fim\n  \
        fim completions zsh > /usr/local/share/zsh/site-functions/_fim\n  \
        fim completions fish > /etc/fish/completions/fim.fish")]
    Completions {
        #[arg(value_name = "SHELL", value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page fim(1), or write it and one page per subcommand into DIR.
    #[command(after_help = "Install (as root):\n  \
        fim manpage --out /usr/local/share/man/man1 && mandb -q\n\n\
        Read without installing:\n  fim manpage | man -l -")]
    Manpage {
        /// Write fim.1, fim-init.1, fim-policy-update.1, ... into DIR (created if missing).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// Policy file; without it, the built-in default policy watches the ROOTs.
    #[arg(long, value_name = "FILE", conflicts_with = "roots")]
    pub policy: Option<PathBuf>,

    /// Replace an existing baseline.
    #[arg(long)]
    pub force: bool,

    /// Take critically suspicious entries (a webshell, a server directive that runs
    /// uploads) into the baseline anyway; without it, init refuses them.
    #[arg(long)]
    pub accept_suspicious: bool,

    /// Seal the baseline with this private key (from `fim keygen`).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,

    /// Directories to watch with the default policy.
    #[arg(value_name = "ROOT", required_unless_present = "policy")]
    pub roots: Vec<PathBuf>,
}

/// The arguments of the commands that compare the disk with a known state.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// Use this policy file instead of the one recorded in the baseline.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Append events to FILE instead of writing them to stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Check the baseline's signature with this public key (else the policy's
    /// `verify_key`, else only its digest).
    #[arg(long, value_name = "FILE")]
    pub verify_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub check: CheckArgs,

    /// Log a one-line health summary this often ("0s": never).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_interval)]
    pub health_interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub check: CheckArgs,

    /// jsonl: one JSON event per line; text: a report for humans.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,

    /// At the end, also write the HTML report of the last 24 hours to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// The period: from this time (RFC 3339, a date, or a time ago such as 24h, 7d) to now.
    #[arg(long, value_name = "WHEN", value_parser = parse_since, default_value = "24h")]
    pub since: chrono::DateTime<chrono::Utc>,

    /// The HTML file to write (replaced whole: never half-written).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Policy whose `[web]` settings and `[[log]]` formats and docroots apply (a LOG
    /// matching a `[[log]]` path takes its format and docroot). Default with `--db`:
    /// the policy recorded in that baseline.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Record the detections in this baseline's history and tie them to its file events.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// The logs' format: combined, common, vhost_combined, json, an nginx
    /// `log_format` / Apache `LogFormat` string (overrides the policy's), or auth
    /// (syslog auth logs: sshd, sudo, su; told by their first line without this).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Append events to FILE instead of writing them to stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// jsonl: one JSON event per line; text: the detections and a traffic summary.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,

    /// Access logs to read.
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy and everything it includes, without touching a baseline.
    #[command(
        after_help = "Exit code 0: valid; 2: invalid (FILE:LINE: message on stderr).\n\n\
        Example:\n  fim policy check policies/wordpress.toml"
    )]
    Check {
        /// The policy file to check.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },

    /// Say for each path whether it is monitored, which rule and severity apply to each
    /// event kind, which attributes are ignored, and what the heuristics think of it.
    #[command(
        after_help = "Without --policy, the policy recorded in the baseline (--db) is explained.\n\n\
        Examples:\n  \
        fim policy explain --policy policies/wordpress.toml /var/www/html/wp-config.php\n  \
        fim policy explain --db /var/lib/fim/fim.db /var/www/html/wp-content/uploads/x.jpg.php"
    )]
    Explain {
        /// Explain this policy file instead of the one recorded in the baseline.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,

        #[command(flatten)]
        db: DbArg,

        /// The paths to explain (absolute or relative; they need not exist).
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },

    /// Record FILE as the baseline's policy: entries it no longer watches are dropped,
    /// entries it newly watches are taken in as they are now, the rest is kept as it was.
    #[command(
        after_help = "Drift under the roots both policies watch is not taken in: it is still \
        reported until accepted. Recorded in the audit trail with --reason. A running daemon \
        uses the new policy after `systemctl reload fim`.\n\n\
        Example:\n  \
        fim policy update --db /var/lib/fim/fim.db --reason 'watch the new shop' /etc/fim/site.toml"
    )]
    Update(PolicyUpdateArgs),
}

/// The keys of the commands that change a baseline and reseal it.
#[derive(Debug, Args)]
pub struct ResealArgs {
    /// Reseal with this private key (required when the baseline is signed).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,

    /// Check the current seal with this public key before changing anything.
    #[arg(long, value_name = "FILE")]
    pub verify_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyUpdateArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// Why the policy changes; kept in the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Take critically suspicious entries (a webshell, a server directive that runs
    /// uploads) that the new policy watches in anyway; without it, the update is
    /// refused and changes nothing.
    #[arg(long)]
    pub accept_suspicious: bool,

    #[command(flatten)]
    pub keys: ResealArgs,

    /// The new policy.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["all", "paths", "listeners"]))]
pub struct AcceptArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// Why the change is legitimate; kept in the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    #[command(flatten)]
    pub keys: ResealArgs,

    /// Accept the current state of everything watched.
    #[arg(long, conflicts_with = "paths")]
    pub all: bool,

    /// Take critically suspicious entries (a webshell, a server directive that runs
    /// uploads) in anyway; without it, accept refuses them and changes nothing.
    #[arg(long)]
    pub accept_suspicious: bool,

    /// Take the sockets listening now as the known ones (the `new-listener` detector).
    #[arg(long, conflicts_with_all = ["paths", "all"])]
    pub listeners: bool,

    /// Files or directories (recursively) to accept.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// Only events detected at or after this time: RFC 3339 (2026-11-25T19:13:00Z), a
    /// date (2026-11-25, from local midnight), or a time ago (90m, 24h, 7d).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,

    /// Only events of this kind (new, modified, deleted, or a detection such as sqli).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,

    /// Only events of this category.
    #[arg(long, value_name = "CATEGORY", value_parser = ["file", "web", "auth", "process", "service", "host"])]
    pub category: Option<String>,

    /// Only events whose absolute path matches this glob (`*` stays within a directory, `**` crosses).
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,

    /// jsonl: every recorded event, one JSON object per line; text: one line each for
    /// people, a difference that every verify recorded again shown once with a count.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,

    /// The accept audit trail instead: when, who, why, which paths, how many entries.
    #[arg(long, conflicts_with_all = ["kind", "path"])]
    pub accepts: bool,

    /// The events of one incident (its id, or the id of any of its events), in story
    /// order: JSON Lines, or with --format text the story in lines.
    #[arg(long, value_name = "ID", conflicts_with_all = ["kind", "path", "category", "accepts"])]
    pub incident: Option<String>,
}

/// A duration such as "1h" or "15m".
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("not a duration such as 1h or 15m: {e}"))
}

/// `--since`: an RFC 3339 time, a plain date (local midnight), or a duration ago.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{NaiveDate, TimeZone, Utc};
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        return chrono::Local
            .from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{s}: no such local time"));
    }
    if let Ok(ago) = humantime::parse_duration(s) {
        return chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| Utc::now().checked_sub_signed(ago))
            .ok_or_else(|| format!("{s}: too far back"));
    }
    Err(
        "not a time: give RFC 3339 (2026-11-25T19:13:00Z), a date (2026-11-25) \
         or a time ago (24h, 7d)"
            .to_owned(),
    )
}

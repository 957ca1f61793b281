//! `fim init`: hash every watched entry into a new baseline.

use std::path::{Path, PathBuf};

use super::{intake, scan_with_progress, warnings_note, Ui};
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::event::{format_ts, hostname};
use crate::exit;
use crate::fs::path as bpath;
use crate::keys;
use crate::policy::Policy;
use crate::store::{own_files, Baseline, Meta, NewBaseline};

pub fn run(args: &InitArgs, ui: Ui) -> Result<i32> {
    let db = &args.db.db;
    let policy = match &args.policy {
        Some(path) => {
            let policy = Policy::load(path)?;
            if policy.watches.is_empty() {
                return Err(crate::Error::Policy {
                    origin: path.clone(),
                    line: 1,
                    message: "no [[watch]] table: a baseline needs something to watch".into(),
                });
            }
            check_roots(&policy, path)?;
            policy
        }
        None => Policy::for_roots(&resolve_roots(&args.roots)?)?,
    };
    let meta = Meta {
        policy: policy.text.clone(),
        host: hostname(),
        fim_version: env!("CARGO_PKG_VERSION").to_owned(),
        created: format_ts(chrono::Utc::now()),
    };
    let sign = args
        .sign_key
        .as_deref()
        .map(keys::load_signing)
        .transpose()?;
    let mut baseline = NewBaseline::create(db, args.force, &meta)?;
    let skip = own_files(db);
    // Every entry is graded as a new one as it is hashed: a site that is already
    // compromised must not be baselined silently.
    let judge = crate::compare::judge_new(&policy);
    let mut judged = Vec::new();
    let (mut progress, summary) = scan_with_progress(
        ui,
        "init",
        &policy,
        &skip,
        None,
        judge.as_deref(),
        |entry, reasons| {
            baseline.insert(&entry)?;
            if !reasons.is_empty() {
                judged.push((entry, reasons));
            }
            Ok(())
        },
    )?;
    progress.stop();
    let assessed = intake::events(crate::compare::suspicious_new(&policy, judged));
    let suspicious = intake::check_suspicious(ui, "init", assessed, args.accept_suspicious)?;
    baseline.log_cursors(&crate::detect::source::cursors_at_end(&policy))?;
    if policy.processes.is_some() {
        baseline.known_listeners(&crate::procs::current_listeners())?;
    }
    let seal = baseline.finish(sign.as_ref())?;
    if !suspicious.is_empty() {
        Baseline::open(db)?.record_events(&suspicious)?;
    }
    let note = warnings_note(&summary);
    let recorded = intake::recorded_note(&suspicious);
    progress.finish(
        "init",
        &format!("{note}; baseline {}, seal {seal}{recorded}", db.display()),
    );
    Ok(exit::CLEAN)
}

/// Command-line roots are what the operator means: resolve them (a root given as a
/// symlink, such as /var/www -> /srv/www, means the tree it points to), once each.
fn resolve_roots(roots: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut resolved: Vec<PathBuf> = Vec::with_capacity(roots.len());
    for root in roots {
        // A root may be a directory or a single file (`fim init /etc/passwd`).
        let real = root.canonicalize().map_err(|e| Error::io(root, e))?;
        if !resolved.contains(&real) {
            resolved.push(real);
        }
    }
    Ok(resolved)
}

/// A watch root that does not exist is a mistake (a typo would otherwise give a
/// baseline of nothing that verifies clean forever), unless the policy says this host
/// may lack it (`optional = true`, for shared packs): then it is only warned about.
pub(super) fn check_roots(policy: &Policy, origin: &Path) -> Result<()> {
    for watch in &policy.watches {
        let root = bpath::as_path(&watch.root);
        match std::fs::symlink_metadata(root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && watch.optional => {
                tracing::warn!(
                    "{}: optional watch root does not exist; nothing recorded for it",
                    root.display()
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Usage(format!(
                    "{}: watch root {} does not exist (mistyped? mark its [[watch]] \
                     `optional = true` if this host may lack it)",
                    origin.display(),
                    root.display()
                )));
            }
            Err(e) => return Err(Error::io(root, e)),
            Ok(meta) if meta.is_symlink() => tracing::warn!(
                "{}: watch root is a symlink; recorded as a link and not followed",
                root.display()
            ),
            Ok(_) => {}
        }
    }
    Ok(())
}

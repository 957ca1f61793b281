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
            warn_missing_roots(&policy);
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
    // Every entry is kept for the heuristics, which grade it as a new one: a site that
    // is already compromised must not be baselined silently.
    let mut taken = Vec::new();
    let (mut progress, summary) = scan_with_progress(ui, "init", &policy, &skip, None, |entry| {
        baseline.insert(&entry)?;
        if policy.heuristics.enabled {
            taken.push(entry);
        }
        Ok(())
    })?;
    progress.stop();
    let assessed = intake::events(crate::compare::assess_new(&policy, taken));
    let suspicious = intake::check_suspicious(ui, "init", assessed, args.accept_suspicious)?;
    let written = baseline.finish(sign.as_ref())?;
    if !suspicious.is_empty() {
        Baseline::open(&written)?.record_events(&suspicious)?;
    }
    let note = warnings_note(&summary);
    let recorded = intake::recorded_note(&suspicious);
    progress.finish(
        "init",
        &format!("{note}; baseline {}{recorded}", written.display()),
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

/// A policy may list trees a given host lacks (a shared pack); say so, record nothing.
fn warn_missing_roots(policy: &Policy) {
    for watch in &policy.watches {
        let root = bpath::as_path(&watch.root);
        if std::fs::symlink_metadata(root).is_err() {
            tracing::warn!(
                "{}: watch root does not exist; nothing recorded for it",
                root.display()
            );
        } else if Path::new(root).is_symlink() {
            tracing::warn!(
                "{}: watch root is a symlink; recorded as a link and not followed",
                root.display()
            );
        }
    }
}

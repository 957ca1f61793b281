//! `fim init`: hash every watched entry into a new baseline.

use std::path::{Path, PathBuf};

use super::{scan_with_progress, warnings_note, Ui};
use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::event::{format_ts, hostname};
use crate::exit;
use crate::fs::path as bpath;
use crate::keys;
use crate::policy::Policy;
use crate::store::{own_files, Meta, NewBaseline};

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
    let (progress, summary) = scan_with_progress(ui, "init", &policy, &skip, None, |entry| {
        baseline.insert(&entry)
    })?;
    baseline.log_cursors(&crate::web::access::cursors_at_end(&policy))?;
    let written = baseline.finish(sign.as_ref())?;
    let note = warnings_note(&summary);
    progress.finish("init", &format!("{note}; baseline {}", written.display()));
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

//! `fim policy update`: replace the recorded policy and change the baseline only where
//! the new policy covers something else. Entries it no longer monitors are dropped;
//! entries it newly monitors are taken in as they are now; every other row stays as it
//! was, so drift under the roots both policies watch is still reported.

use rusqlite::params;

use super::schema::Rows;
use super::{db_error, record_audit, reseal, rows, Audit, Baseline};
use crate::compare::State;
use crate::error::Result;
use crate::fs::Entry;
use crate::logs::Position;
use crate::policy::Policy;

/// What a policy update changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyUpdate {
    /// Entries newly monitored, taken into the baseline.
    pub added: u64,
    /// Entries no longer monitored, dropped from the baseline.
    pub dropped: u64,
}

impl Baseline {
    /// In one transaction: record `new` as the baseline's policy, drop the entries of
    /// `known` (the checked baseline) and of the watch daemon's observed state that it
    /// does not monitor, add the entries `fill` supplies (newly monitored ones, as they
    /// are now) to both, save the cursors of the logs it adds, reseal, and record
    /// `audit`.
    pub fn update_policy(
        &mut self,
        new: &Policy,
        known: &State,
        audit: &Audit,
        log_cursors: &[(String, Position)],
        sign: Option<&ed25519_dalek::SigningKey>,
        fill: impl FnOnce(&mut dyn FnMut(Entry) -> Result<()>) -> Result<()>,
    ) -> Result<PolicyUpdate> {
        let mut meta = self.meta()?;
        let observing = self.optional_meta("observed_since")?.is_some();
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        let mut update = PolicyUpdate::default();
        {
            let mut drop_entry = tx
                .prepare("DELETE FROM entries WHERE path = ?1")
                .map_err(err)?;
            for entry_path in known.keys().filter(|p| !new.monitors(p)) {
                drop_entry.execute([entry_path]).map_err(err)?;
                update.dropped += 1;
            }
            let observed: Vec<Vec<u8>> = tx
                .prepare("SELECT path FROM observed")
                .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
                .map_err(err)?;
            let mut drop_observed = tx
                .prepare("DELETE FROM observed WHERE path = ?1")
                .map_err(err)?;
            for entry_path in observed.iter().filter(|p| !new.monitors(p)) {
                drop_observed.execute([entry_path]).map_err(err)?;
            }
            let mut add_entry = tx.prepare(&Rows::Entries.insert()).map_err(err)?;
            let mut add_observed = tx.prepare(&Rows::Observed.insert()).map_err(err)?;
            fill(&mut |entry| {
                rows::insert(&mut add_entry, &entry).map_err(err)?;
                // The daemon's state grows with the baseline: these are not news to it.
                if observing {
                    rows::insert(&mut add_observed, &entry).map_err(err)?;
                }
                update.added += 1;
                Ok(())
            })?;
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'policy'",
            params![new.text],
        )
        .map_err(err)?;
        meta.policy = new.text.clone();
        super::cursors::save(&tx, log_cursors).map_err(err)?;
        reseal(&tx, &meta, sign).map_err(err)?;
        record_audit(&tx, audit, update.added + update.dropped).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(update)
    }
}

/// A `--policy` file that is not the recorded policy is legitimate (a policy being
/// tried), but entries it newly watches are reported new on every run until it is
/// recorded: say so once per run.
pub fn warn_if_unrecorded(baseline: &Baseline, policy: &Policy, file: &std::path::Path) {
    if baseline.meta().is_ok_and(|meta| meta.policy != policy.text) {
        tracing::warn!(
            "{}: not the policy recorded in the baseline; what it newly watches is reported \
             new until `fim policy update {}` records it",
            file.display(),
            file.display()
        );
    }
}

//! `fim watch`: the real-time daemon (see `crate::watch`).

use crate::cli::WatchArgs;
use crate::error::Result;
use crate::exit;
use crate::watch::{self, Config};

pub fn run(args: &WatchArgs) -> Result<i32> {
    let check = &args.check;
    watch::run(&Config {
        db: check.db.db.clone(),
        policy: check.policy.clone(),
        output: check.output.clone(),
        verify_key: check.verify_key.clone(),
        health_interval: Some(args.health_interval).filter(|every| !every.is_zero()),
    })?;
    Ok(exit::CLEAN)
}

//! `fim watch`: the real-time daemon (see `crate::watch`).

use crate::cli::CheckArgs;
use crate::error::Result;
use crate::exit;
use crate::watch::{self, Config};

pub fn run(args: &CheckArgs) -> Result<i32> {
    watch::run(&Config {
        db: args.db.db.clone(),
        policy: args.policy.clone(),
        output: args.output.clone(),
        verify_key: args.verify_key.clone(),
    })?;
    Ok(exit::CLEAN)
}

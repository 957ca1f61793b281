//! Exit codes, as fixed by the contract.

/// Success; for `verify`, no differences.
pub const CLEAN: i32 = 0;
/// `verify` found differences (and printed them).
pub const DIFFERENCES: i32 = 1;
/// `status`: something needs attention.
pub const ATTENTION: i32 = 1;
/// Bad arguments, bad policy, unreadable baseline, I/O failure.
pub const ERROR: i32 = 2;
/// The baseline failed its own integrity check.
pub const INTEGRITY: i32 = 3;

/// The exit code for an error at the edge: the first typed library error in the chain
/// decides; anything else is a plain error.
pub fn code_for(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<crate::Error>())
        .map_or(ERROR, crate::Error::exit_code)
}

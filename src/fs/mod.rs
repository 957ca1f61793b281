//! The filesystem layer: what an entry is, byte paths, and the only code that opens,
//! stats and reads entries.

pub mod entry;
pub mod open;
pub mod path;

pub use entry::{Attr, AttrSet, Attrs, Entry, FileType, Timestamp, Xattrs};

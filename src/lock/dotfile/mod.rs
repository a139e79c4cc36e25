//! Lock files created by hard-linking (the "dot lock" of mail spools, of
//! liblockfile and procmail): a uniquely named temp file is created next to
//! the lock and linked to the lock name; whoever's link lands owns the lock.
//!
//! * [`naming`]: each tool's temp-file names;
//! * [`link`]: the temp file and the link protocol;
//! * [`judge`]: is an existing lock valid or stale (its holder's pid, its
//!   age on the file system's clock)?
//! * [`breaking`]: removing a stale lock so that exactly one breaker wins,
//!   and owners removing their own;
//! * [`acquire`]: the acquire loop, with each tool's ways as parameters.

pub mod acquire;
pub mod breaking;
pub mod judge;
pub mod link;
pub mod naming;

pub use acquire::{
    Backoff, Failure, Held, LinkErrors, LinkLock, Quiet, Report, Request, Schedule, Stale, acquire,
};
pub use breaking::{Broke, break_stale, remove, remove_if_ours, touch};
pub use judge::{AgeLimit, Judgement, Policy, judge};
pub use link::{Link, Temp, TempError};
pub use naming::{Naming, liblockfile_temp_name_for, procmail_temp_name_for};

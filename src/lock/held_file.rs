//! A lock *file* that is held: its name and the identity of the file we
//! linked there. Renewing touches it (a lock without a live pid goes stale
//! after its age limit); releasing removes the name only while it is still
//! our file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::io::Errno;

use super::dotfile::{self, FileId};
use super::kind::Held;

/// A lock file we made.
#[derive(Debug)]
pub struct HeldFile {
    path: PathBuf,
    id: FileId,
    renew_every: Option<Duration>,
}

impl HeldFile {
    /// The lock at `path` is the file `id`, ours; touch it every
    /// `renew_every` (None: its validity does not depend on its age, e.g.
    /// it names a live process).
    pub fn new(path: &Path, id: FileId, renew_every: Option<Duration>) -> HeldFile {
        HeldFile {
            path: path.to_owned(),
            id,
            renew_every,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Held for HeldFile {
    fn release(self) -> Result<(), Errno> {
        dotfile::remove_if_ours(&self.path, self.id)
    }

    fn renew_every(&self) -> Option<Duration> {
        self.renew_every
    }

    fn renew(&mut self) -> Result<(), Errno> {
        dotfile::touch(&self.path)
    }

    // `lost` stays None: a lock file gives no event when someone breaks it,
    // short of an inotify watch kept for the whole command, which would hold
    // one of the user's few inotify instances (see `wait`) for as long as
    // the command runs.
}

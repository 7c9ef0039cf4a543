//! One server per database file: [`ServerLock`], an OS advisory lock the
//! server's [`super::Store::open`] takes on the database file before it
//! looks at or writes anything, and holds until its connection is closed.
//! Must not run SQL, and must not be taken by [`super::AdminStore`]: the
//! admin CLI writes the same file while the server runs, by design.
//!
//! # Why `flock` on the database file itself
//!
//! The lock is `flock(LOCK_EX | LOCK_NB)` (std's [`File::try_lock`]) on an
//! extra descriptor of the database file, not SQLite's exclusive locking
//! mode (that would lock out `locus admin`) and not a `locus.db.lock` side
//! file (the refusal paths promise that no side file appears, and a side
//! file can be deleted or missed through a hard link or symlink).
//!
//! * SQLite's unix VFS locks with POSIX `fcntl` byte-range locks. On Linux
//!   (and the BSDs) `flock` locks are a separate kind: they never conflict
//!   with `fcntl` locks, so neither our own connection nor `locus admin`
//!   sees this lock. (Network filesystems may emulate `flock` with `fcntl`;
//!   the store refuses those already, since WAL needs shared memory.)
//! * POSIX drops *all* of a process's `fcntl` locks on a file when *any*
//!   descriptor of it is closed. So this descriptor is closed only after
//!   the server's SQLite connection is: the store thread owns the lock and
//!   drops it after its connection (see `Store::open`).
//! * The kernel releases a `flock` when its last descriptor closes,
//!   a `kill -9` included: a crashed server leaves nothing stale behind.
//! * The lock belongs to the open file description, so two `Store::open`
//!   in one process exclude each other too.
//!
//! A missing file is created empty (mode 0644, as SQLite would) so that it
//! can be locked; an existing file is opened read-only and never written.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::StoreError;

/// Held by a running server for as long as its connection to the database
/// is open; dropping it releases the file for the next server.
#[derive(Debug)]
pub(crate) struct ServerLock {
    /// The locked descriptor: the lock lives exactly as long as it does.
    _file: File,
}

impl ServerLock {
    /// Locks `path` for this server, creating the file empty if missing.
    /// Fails at once with [`StoreError::InUse`] when another server holds it.
    pub(crate) fn acquire(path: &Path) -> Result<Self, StoreError> {
        let io_error = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io_error)?,
            Err(error) => return Err(io_error(error)),
        };
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse {
                path: path.to_path_buf(),
            }),
            Err(TryLockError::Error(error)) => Err(io_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locus.db");
        let first = ServerLock::acquire(&path).unwrap();
        assert!(path.exists(), "a missing file is created to be locked");
        let refused = ServerLock::acquire(&path).unwrap_err();
        assert!(
            matches!(&refused, StoreError::InUse { path: p } if p == &path),
            "{refused:?}"
        );
        drop(first);
        ServerLock::acquire(&path).unwrap();
    }

    #[test]
    fn locking_an_existing_file_leaves_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locus.db");
        std::fs::write(&path, b"not ours").unwrap();
        let _lock = ServerLock::acquire(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"not ours");
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/locus.db");
        let error = ServerLock::acquire(&path).unwrap_err();
        assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    }
}

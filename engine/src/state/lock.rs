//! One writer per directory: an exclusive advisory lock (`flock`) on a file in it, holding the
//! owner's pid for the message another process gets. The lock goes with the process — a
//! kill -9 releases it — so a stale lock file never blocks the next run.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Locks `dir` (creating it) through `<dir>/<name>`; `what` says what the directory is, for
    /// the message when another process holds it.
    pub fn acquire(dir: &Path, name: &str, what: &str) -> Result<DirLock, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{what} {}: cannot create: {e}", dir.display()))?;
        let path = dir.join(name);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| format!("{what} {}: cannot open {}: {e}", dir.display(), path.display()))?;
        if !try_lock(&file) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { "another trawl process".to_string() } else { format!("another trawl process (pid {holder})") };
            return Err(format!("{what} {} is in use by {who}; two runs writing one place would harm each other: wait for it to finish, or give this run its own", dir.display()));
        }
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id())).and_then(|_| file.flush()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn try_lock(f: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a valid, open descriptor; no memory is passed.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn try_lock(_: &File) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), ".trawl.lock", "output").unwrap();
        let e = DirLock::acquire(dir.path(), ".trawl.lock", "output").unwrap_err();
        assert!(e.contains(&format!("pid {}", std::process::id())) && e.contains("output"), "{e}");
        drop(first);
        DirLock::acquire(dir.path(), ".trawl.lock", "output").unwrap();
    }
}

//! inotify watches on the directories of the tailed paths.
//!
//! A directory watch reports writes to the files in it too, so one watch per directory covers
//! appends, renames, deletes and creation. A path whose directory does not exist yet is covered
//! by a watch on its nearest existing ancestor, moved down as directories appear. Events are only
//! a wake-up: the tailer then looks at every path itself, so a lost or coalesced event (or a queue
//! overflow) costs nothing but latency. Writes to other files of a busy directory (`/var/log`)
//! wake nothing.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// What one drain of the inotify queue saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// A directory entry changed (created, moved, deleted) or events were lost: the watched
    /// directories may have to change, and every path is to be looked at.
    pub structural: bool,
    /// A file with the name of a tailed file was written.
    pub written: bool,
}

#[derive(Debug)]
pub struct Watcher {
    inotify: Inotify,
    dirs: HashMap<PathBuf, WatchDescriptor>,
    /// The file names of the tailed paths: writes to other files are not looked at.
    names: HashSet<OsString>,
    buf: Vec<u8>,
}

fn mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

impl Watcher {
    /// # Errors
    /// `inotify_init1` failed (no inotify in this kernel, or the instance limit is reached).
    pub fn new() -> io::Result<Watcher> {
        Ok(Watcher {
            inotify: Inotify::init()?,
            dirs: HashMap::new(),
            names: HashSet::new(),
            buf: vec![0; 16 << 10],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Watches the nearest existing directory of each path (and of the file a symlink at the
    /// path points to, where the writes happen) and drops watches no path needs. Returns the
    /// directories that could not be watched, with why.
    pub fn refresh<'a>(
        &mut self,
        paths: impl Iterator<Item = &'a Path>,
    ) -> Vec<(PathBuf, io::Error)> {
        let mut paths: Vec<PathBuf> = paths.map(Path::to_path_buf).collect();
        let targets: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.is_symlink())
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        paths.extend(targets);
        self.names = paths
            .iter()
            .filter_map(|p| p.file_name())
            .map(ToOwned::to_owned)
            .collect();
        let mut wanted: Vec<PathBuf> = paths.iter().map(|p| nearest_dir(p)).collect();
        wanted.sort();
        wanted.dedup();
        let mut failed = Vec::new();
        let mut dirs = HashMap::with_capacity(wanted.len());
        for dir in wanted {
            // Adding a watch again is harmless (the kernel returns the same descriptor) and
            // renews one the kernel dropped when the directory was removed and re-created.
            match self.inotify.watches().add(&dir, mask()) {
                Ok(wd) => {
                    self.dirs.remove(&dir);
                    dirs.insert(dir, wd);
                }
                Err(e) => failed.push((dir, e)),
            }
        }
        for (_, wd) in self.dirs.drain() {
            // A directory renamed onto a wanted name keeps its descriptor: that one stays.
            if dirs.values().any(|kept| *kept == wd) {
                continue;
            }
            // The kernel may have dropped it already (directory removed): nothing to undo.
            let _ = self.inotify.watches().remove(wd);
        }
        self.dirs = dirs;
        failed
    }

    /// Reads every queued event without blocking.
    ///
    /// # Errors
    /// A read error other than an empty queue.
    pub fn drain(&mut self) -> io::Result<Drained> {
        let mut drained = Drained::default();
        loop {
            let events = match self.inotify.read_events(&mut self.buf) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for event in events {
                if event.mask != EventMask::MODIFY {
                    drained.structural = true;
                } else if event.name.is_some_and(|n| self.names.contains(n)) {
                    drained.written = true;
                }
            }
        }
    }
}

/// The directory to watch for `path`: its parent, or the parent's nearest existing ancestor.
fn nearest_dir(path: &Path) -> PathBuf {
    let mut dir = path.parent().unwrap_or(Path::new("/"));
    while !dir.is_dir() {
        let Some(up) = dir.parent() else { break };
        dir = up;
    }
    if dir.as_os_str().is_empty() {
        return PathBuf::from(".");
    }
    dir.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_dir_climbs_to_an_existing_ancestor() {
        assert_eq!(nearest_dir(Path::new("/tmp/x.log")), PathBuf::from("/tmp"));
        assert_eq!(
            nearest_dir(Path::new("/tmp/no-such-dir-tapio/a/b/x.log")),
            PathBuf::from("/tmp")
        );
        assert_eq!(nearest_dir(Path::new("x.log")), PathBuf::from("."));
    }
}

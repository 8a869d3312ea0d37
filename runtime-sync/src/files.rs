//! The CNI config and plugin-directory monitor: inotify on the directories, stat polling when
//! inotify is off or unavailable. Both runtimes use it the same way (it starts no thread and
//! never waits for an event): hand every [`FileChange`] of [`FileMonitor::scan`] to
//! `Collector::handle_file_change` at start-up, then wait until [`FileMonitor::fd`] is
//! readable and do the same with [`FileMonitor::on_readable`]; when
//! [`FileMonitor::needs_polling`], call `scan` every `poll_interval` as well.
//!
//! One call can take up to `version_timeout` per changed plugin binary: a plugin is run with
//! `CNI_COMMAND=VERSION` (only when its size or mtime changed, and only when its content
//! mentions `CNI_COMMAND`). The reference plugins answer in a few milliseconds.
//!
//! The monitor reports what it sees, with a file's bytes (configs) or size, mtime, hash and
//! `VERSION` answer (plugins); the core decides what changed. A stat fingerprint per file keeps
//! the monitor from reading a file whose inode, size and times did not change, so a scan of an
//! idle directory reads nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use proto::conf::parse::is_config_name;
use proto::{Body, ChangeKind, FileChange, PluginInfo, Role, Timestamp};
use sha2::{Digest, Sha256};

/// Directories some runtimes and distributions load network configs from besides
/// `cni_conf_path`; watched when they exist (and picked up when they appear).
pub const EXTRA_CONF_DIRS: [&str; 2] = ["/etc/cni/conf.d", "/opt/cni/conf"];

/// What to watch and how much to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// Network config directories (`.conf`, `.conflist`, `.json`).
    pub conf_dirs: Vec<PathBuf>,
    /// Plugin binary directories.
    pub bin_dirs: Vec<PathBuf>,
    /// `false`: stat polling only (`fd()` is `None`).
    pub use_inotify: bool,
    /// A config file is read up to this many bytes; a longer one is reported cut.
    pub max_read_bytes: u64,
    /// A plugin binary larger than this is not hashed.
    pub max_hash_bytes: u64,
    /// Entries looked at per directory scan; more are skipped (and counted).
    pub max_dir_entries: usize,
    /// Config bytes one `scan` or `on_readable` call reads at most: the changes it returns hold
    /// them all. Files beyond wait for the next scan (see [`FileMonitor::needs_polling`]).
    pub max_bytes_per_call: u64,
    /// How long a plugin may take to answer `VERSION` before it is killed.
    pub version_timeout: Duration,
}

impl Default for FileSettings {
    fn default() -> FileSettings {
        FileSettings {
            conf_dirs: std::iter::once("/etc/cni/net.d")
                .chain(EXTRA_CONF_DIRS)
                .map(PathBuf::from)
                .collect(),
            bin_dirs: tapio_cni_bpf::DEFAULT_PLUGIN_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
            use_inotify: true,
            max_read_bytes: 1 << 20,
            max_hash_bytes: 512 << 20,
            max_dir_entries: 4096,
            max_bytes_per_call: 64 << 20,
            version_timeout: Duration::from_secs(1),
        }
    }
}

impl FileSettings {
    /// The settings of a daemon configuration: `cni_conf_path` plus [`EXTRA_CONF_DIRS`],
    /// `cni_bin_path`, `use_inotify`.
    pub fn from_config(config: &crate::config::Config) -> FileSettings {
        let mut conf_dirs = vec![config.cni_conf_path.clone()];
        for extra in EXTRA_CONF_DIRS.map(PathBuf::from) {
            if !conf_dirs.contains(&extra) {
                conf_dirs.push(extra);
            }
        }
        FileSettings {
            conf_dirs,
            bin_dirs: config.cni_bin_path.clone(),
            use_inotify: config.use_inotify,
            ..FileSettings::default()
        }
    }
}

/// Why the monitor cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("no directory to watch")]
    NoDirectories,
    #[error("{0}: a watched directory must be an absolute path")]
    RelativePath(PathBuf),
}

/// Counters of the monitor: every skip has a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    /// inotify events read.
    pub inotify_events: u64,
    /// Times the inotify queue overflowed (each causes a rescan).
    pub overflows: u64,
    /// Full scans (start-up, overflow, polling).
    pub scans: u64,
    /// Files read (configs) or hashed (plugins).
    pub reads: u64,
    /// Files gone between the event and the read.
    pub vanished: u64,
    /// Config files longer than `max_read_bytes`.
    pub oversize: u64,
    /// Files that could not be read (reported as such).
    pub unreadable: u64,
    /// Files not looked at: beyond `max_dir_entries` in one directory scan or in one drain,
    /// or beyond that many per directory remembered in all.
    pub entries_skipped: u64,
    /// Plugins asked for `VERSION`, and how many of those failed.
    pub version_runs: u64,
    pub version_failures: u64,
    /// Config files left for a later scan because a call had read `max_bytes_per_call`.
    pub deferred: u64,
    /// Directories inotify could not watch (permissions, `max_user_watches`), each counted
    /// once: changes in them are seen by scans only.
    pub watch_errors: u64,
}

/// A file's identity and state as stat(2) gives it, after following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fingerprint {
    Stat {
        dev: u64,
        ino: u64,
        size: u64,
        mtime_ns: i128,
        ctime_ns: i128,
        mode: u32,
    },
    /// The file is there but unreadable for this reason.
    Unreadable(String),
}

#[derive(Debug, Clone)]
struct Target {
    dir: PathBuf,
    role: Role,
}

/// Watches the CNI config and plugin directories; see the module docs for the loop.
#[derive(Debug)]
pub struct FileMonitor {
    settings: FileSettings,
    targets: Vec<Target>,
    inotify: Option<Inotify>,
    /// Why inotify is not used, when it is not.
    fallback: Option<String>,
    /// Watched path → watch descriptor, and back.
    watched: BTreeMap<PathBuf, WatchDescriptor>,
    by_wd: HashMap<i32, PathBuf>,
    /// Directories inotify refused to watch (each counted once in `watch_errors`).
    unwatchable: BTreeSet<PathBuf>,
    /// What was last reported of each file.
    known: BTreeMap<PathBuf, Fingerprint>,
    /// A first scan has run: files found later are created, not present.
    started: bool,
    /// Config bytes the current call may still read.
    budget: u64,
    /// Files were deferred: a scan must follow.
    incomplete: bool,
    stats: FileStats,
    buffer: Vec<u8>,
}

/// Reads of the inotify fd (each up to 64 KiB of events) per `on_readable` call.
const MAX_READS_PER_CALL: usize = 64;

/// Every event any watched directory (target or ancestor) is watched for; one mask for all,
/// since inotify keeps one mask per inode and a path can be both.
fn watch_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::CLOSE_WRITE
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

/// What one batch of inotify events asks for.
#[derive(Debug, Default)]
struct Work {
    /// The queue overflowed: everything is scanned.
    rescan: bool,
    /// A watched directory or an ancestor changed: the watches are set up again.
    refresh: bool,
    /// Target directories (indexes) to compare whole.
    dirs: BTreeSet<usize>,
    /// Files to look at, with their target.
    paths: BTreeMap<PathBuf, usize>,
    /// MOVED_FROM halves by cookie, waiting for their MOVED_TO.
    moves_from: HashMap<u32, (PathBuf, usize)>,
    /// Paired renames: (from, to).
    renames: Vec<((PathBuf, usize), (PathBuf, usize))>,
}

impl FileMonitor {
    /// Sets up the watches (or the polling fallback when inotify is off or cannot start).
    /// Call [`scan`](Self::scan) next for the start-up state.
    ///
    /// # Errors
    /// No directories, or a relative one.
    pub fn new(settings: FileSettings) -> Result<FileMonitor, Error> {
        let mut targets = Vec::new();
        for (dirs, role) in [
            (&settings.conf_dirs, Role::Config),
            (&settings.bin_dirs, Role::Plugin),
        ] {
            for dir in dirs {
                if !dir.is_absolute() {
                    return Err(Error::RelativePath(dir.clone()));
                }
                targets.push(Target {
                    dir: dir.clone(),
                    role,
                });
            }
        }
        if targets.is_empty() {
            return Err(Error::NoDirectories);
        }
        let (inotify, fallback) = if settings.use_inotify {
            match Inotify::init() {
                Ok(i) => (Some(i), None),
                Err(e) => (None, Some(format!("inotify unavailable: {e}"))),
            }
        } else {
            (None, Some("use_inotify is false".to_owned()))
        };
        let mut monitor = FileMonitor {
            settings,
            targets,
            inotify,
            fallback,
            watched: BTreeMap::new(),
            by_wd: HashMap::new(),
            unwatchable: BTreeSet::new(),
            known: BTreeMap::new(),
            started: false,
            budget: 0,
            incomplete: false,
            stats: FileStats::default(),
            buffer: vec![0; 64 << 10],
        };
        monitor.refresh_watches();
        Ok(monitor)
    }

    /// The inotify fd to wait on for readability; `None` when polling (call
    /// [`scan`](Self::scan) every `poll_interval` instead).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(AsFd::as_fd)
    }

    /// Why the monitor polls instead of using inotify, when it does.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Whether the caller must call [`scan`](Self::scan) every `poll_interval`: inotify is
    /// off or broken, a directory could not be watched, or the last call left files unread
    /// (`max_bytes_per_call`). (Scans of unchanged files read
    /// nothing, so polling as well as watching costs a few stat calls.)
    pub fn needs_polling(&self) -> bool {
        self.inotify.is_none() || !self.unwatchable.is_empty() || self.incomplete
    }

    pub fn stats(&self) -> &FileStats {
        &self.stats
    }

    /// Directories watched by inotify right now (targets and the ancestors that wait for a
    /// missing target to appear).
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.watched.keys().map(PathBuf::as_path)
    }

    /// Every file of every directory, compared with what was reported before: the start-up
    /// state (kind `Present`), the rescan after an inotify overflow, and the polling fallback.
    /// Only files whose stat changed are read. Changes come sorted by path, so each config
    /// directory is seen in libcni's order.
    pub fn scan(&mut self) -> Vec<FileChange> {
        self.stats.scans += 1;
        self.budget = self.settings.max_bytes_per_call;
        self.incomplete = false;
        self.refresh_watches();
        let mut out = Vec::new();
        for t in 0..self.targets.len() {
            self.sync_dir(t, &mut out);
        }
        self.started = true;
        out
    }

    /// Drains the inotify queue without blocking and returns what changed. Returns nothing
    /// when polling.
    pub fn on_readable(&mut self) -> Vec<FileChange> {
        self.budget = self.settings.max_bytes_per_call;
        let mut work = Work::default();
        // Bounded, so that a flood in a watched ancestor (a busy `/etc`) cannot keep one call
        // going forever: what is left keeps the fd readable for the next call.
        for _ in 0..MAX_READS_PER_CALL {
            let Some(inotify) = self.inotify.as_mut() else {
                return Vec::new();
            };
            let events = match inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The fd is broken: poll from now on, and rescan what may have been lost.
                    self.fallback = Some(format!("inotify read failed: {e}"));
                    self.inotify = None;
                    work.rescan = true;
                    break;
                }
            };
            let owned: Vec<(i32, EventMask, u32, Option<PathBuf>)> = events
                .map(|e| {
                    (
                        e.wd.get_watch_descriptor_id(),
                        e.mask,
                        e.cookie,
                        e.name.map(PathBuf::from),
                    )
                })
                .collect();
            for (wd, mask, cookie, name) in owned {
                self.stats.inotify_events += 1;
                self.note(&mut work, wd, mask, cookie, name.as_deref());
            }
        }
        self.run(work)
    }

    /// Turns one inotify event into work.
    fn note(
        &mut self,
        work: &mut Work,
        wd: i32,
        mask: EventMask,
        cookie: u32,
        name: Option<&Path>,
    ) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            self.stats.overflows += 1;
            work.rescan = true;
            return;
        }
        let Some(dir) = self.by_wd.get(&wd).cloned() else {
            return;
        };
        if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED) {
            work.refresh = true;
            work.dirs.extend(self.targets_at_or_under(&dir));
            return;
        }
        let Some(name) = name else { return };
        let path = dir.join(name);
        // An ancestor: only the next component toward a target matters.
        let below = self.targets_at_or_under(&path);
        if !below.is_empty() {
            work.refresh = true;
            work.dirs.extend(below);
        }
        let Some(t) = self.targets.iter().position(|t| t.dir == dir) else {
            return;
        };
        let role = self.targets[t].role;
        if !wanted(role, name.as_os_str()) {
            // A symlink or directory swapped in (a Kubernetes ConfigMap's `..data`) changes
            // what the config names point at: look at the whole directory.
            if role == Role::Config
                && mask.intersects(EventMask::MOVED_TO | EventMask::CREATE)
                && fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file())
            {
                work.dirs.insert(t);
            }
            return;
        }
        // A flood of names in one drain: one scan of the directory costs less than tracking
        // each, and keeps this batch's memory bounded.
        if work.paths.len() + work.moves_from.len() >= self.settings.max_dir_entries {
            work.dirs.insert(t);
            return;
        }
        if mask.contains(EventMask::MOVED_FROM) {
            work.moves_from.insert(cookie, (path, t));
            return;
        }
        if mask.contains(EventMask::MOVED_TO) {
            if let Some(from) = work.moves_from.remove(&cookie) {
                work.renames.push((from, (path, t)));
                return;
            }
        }
        // A regular file is read once it is closed after writing, not while it is being
        // written: its CREATE waits for the CLOSE_WRITE. A symlink or hard link has no write.
        if mask.contains(EventMask::CREATE)
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.nlink() == 1)
        {
            return;
        }
        work.paths.insert(path, t);
    }

    fn targets_at_or_under(&self, dir: &Path) -> Vec<usize> {
        (0..self.targets.len())
            .filter(|&t| self.targets[t].dir.starts_with(dir))
            .collect()
    }

    fn run(&mut self, mut work: Work) -> Vec<FileChange> {
        let mut out = Vec::new();
        if work.rescan {
            return self.scan();
        }
        if work.refresh {
            self.refresh_watches();
        }
        // A MOVED_FROM without its MOVED_TO: moved out of the watched directories.
        for (_, (path, t)) in work.moves_from.drain() {
            work.paths.insert(path, t);
        }
        for ((from, ft), (to, tt)) in std::mem::take(&mut work.renames) {
            self.rename(&from, ft, &to, tt, &mut out);
        }
        for &t in &work.dirs {
            self.sync_dir(t, &mut out);
        }
        for (path, t) in work.paths {
            if work.dirs.contains(&t) {
                continue;
            }
            let kind = self.new_kind();
            out.extend(self.sync_path(&path, self.targets[t].role, kind));
        }
        out
    }

    /// Files reported and remembered at once, over all directories.
    fn max_known(&self) -> usize {
        self.settings
            .max_dir_entries
            .saturating_mul(self.targets.len())
    }

    fn new_kind(&self) -> ChangeKind {
        if self.started {
            ChangeKind::Created
        } else {
            ChangeKind::Present
        }
    }

    /// A rename within the watched directories: a `Renamed` change when both names are of the
    /// same kind of directory and the new name was not there before; otherwise the old name's
    /// deletion and the new name's creation or modification (an atomic replace).
    fn rename(&mut self, from: &Path, ft: usize, to: &Path, tt: usize, out: &mut Vec<FileChange>) {
        let (from_role, to_role) = (self.targets[ft].role, self.targets[tt].role);
        let from_known = self.known.contains_key(from);
        if from_role == to_role && from_known && !self.known.contains_key(to) {
            self.known.remove(from);
            let kind = ChangeKind::Renamed {
                from: from.to_string_lossy().into_owned(),
            };
            match self.sync_path(to, to_role, kind) {
                Some(change) => out.push(change),
                // Gone again already: the old name's state goes too.
                None => out.push(deleted(from, from_role)),
            }
            return;
        }
        let kind = self.new_kind();
        out.extend(self.sync_path(to, to_role, kind));
        out.extend(self.sync_path(from, from_role, ChangeKind::Deleted));
    }

    /// Compares one directory's files with what was reported.
    fn sync_dir(&mut self, t: usize, out: &mut Vec<FileChange>) {
        let Target { dir, role } = self.targets[t].clone();
        let mut names = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => Some(entries),
            // Gone (or replaced by a file): everything reported in it is deleted.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(nix::libc::ENOTDIR) =>
            {
                None
            }
            // Unreadable for now (permissions, out of fds): what was reported still stands.
            Err(_) => {
                self.stats.unreadable += 1;
                return;
            }
        };
        if let Some(entries) = entries {
            for entry in entries.map_while(Result::ok) {
                if names.len() >= self.settings.max_dir_entries {
                    self.stats.entries_skipped += 1;
                    continue;
                }
                let name = entry.file_name();
                if wanted(role, &name) {
                    names.push(name);
                }
            }
        }
        names.sort();
        let present: BTreeSet<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
        let gone: Vec<PathBuf> = self
            .known
            .keys()
            .filter(|p| p.parent() == Some(dir.as_path()) && !present.contains(*p))
            .cloned()
            .collect();
        for path in gone {
            self.known.remove(&path);
            out.push(deleted(&path, role));
        }
        for path in present {
            let kind = self.new_kind();
            out.extend(self.sync_path(&path, role, kind));
        }
    }

    /// Looks at one file and reports it when it differs from what was reported.
    fn sync_path(&mut self, path: &Path, role: Role, kind: ChangeKind) -> Option<FileChange> {
        let was_known = self.known.get(path).cloned();
        if was_known.is_none() && self.known.len() >= self.max_known() {
            self.stats.entries_skipped += 1;
            return None;
        }
        let renamed = matches!(kind, ChangeKind::Renamed { .. });
        let fingerprint = match (look(path), role) {
            (Found::File(f), _) => f,
            (Found::Bad(why), _) => Fingerprint::Unreadable(why),
            (Found::Dir, Role::Config) => {
                Fingerprint::Unreadable("a directory, not a file".to_owned())
            }
            // Gone, or a directory in a plugin dir (not a plugin): nothing to report but the
            // end of what was reported before.
            (found @ (Found::Gone | Found::Dir), _) => {
                self.known.remove(path);
                if was_known.is_some() {
                    return Some(deleted(path, role));
                }
                if matches!(found, Found::Gone) {
                    self.stats.vanished += 1;
                }
                return None;
            }
        };
        if !renamed && was_known.as_ref() == Some(&fingerprint) {
            return None;
        }
        let kind = match (kind, &was_known) {
            (ChangeKind::Renamed { from }, _) => ChangeKind::Renamed { from },
            (_, Some(_)) => ChangeKind::Modified,
            (k, None) => k,
        };
        let body = match (&fingerprint, role) {
            (Fingerprint::Unreadable(why), _) => {
                self.stats.unreadable += 1;
                Body::Unreadable(why.clone())
            }
            (Fingerprint::Stat { size, .. }, Role::Config) => {
                // Not remembered: the next scan looks at it again.
                let cost = (*size).min(self.settings.max_read_bytes + 1);
                if cost > self.budget {
                    self.stats.deferred += 1;
                    self.incomplete = true;
                    return None;
                }
                self.budget -= cost;
                self.read_config(path)?
            }
            (Fingerprint::Stat { size, mode, .. }, _) => {
                let size_or_mtime_changed = match &was_known {
                    Some(Fingerprint::Stat {
                        size: s,
                        mtime_ns: m,
                        ..
                    }) => Some((*s, *m)) != stat_pair(&fingerprint),
                    _ => true,
                };
                self.read_plugin(path, *size, *mode, size_or_mtime_changed)?
            }
        };
        self.known.insert(path.to_owned(), fingerprint);
        Some(FileChange {
            path: path.to_string_lossy().into_owned(),
            role,
            kind,
            body,
        })
    }

    /// `path` opened as a regular file, or what to report instead: `None` when it vanished
    /// meanwhile, an unreadable body otherwise; both counted.
    fn open(&mut self, path: &Path) -> Result<File, Option<Body>> {
        open_regular(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                self.stats.vanished += 1;
                None
            } else {
                self.stats.unreadable += 1;
                Some(Body::Unreadable(e.to_string()))
            }
        })
    }

    /// A config's bytes, bounded; `None` when it vanished meanwhile.
    fn read_config(&mut self, path: &Path) -> Option<Body> {
        let file = match self.open(path) {
            Ok(f) => f,
            Err(body) => return body,
        };
        self.stats.reads += 1;
        let limit = self.settings.max_read_bytes;
        let mut bytes = Vec::new();
        if let Err(e) = file.take(limit + 1).read_to_end(&mut bytes) {
            self.stats.unreadable += 1;
            return Some(Body::Unreadable(e.to_string()));
        }
        let cut = bytes.len() as u64 > limit;
        if cut {
            self.stats.oversize += 1;
            bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Some(Body::Bytes { bytes, cut })
    }

    /// A plugin's facts; `VERSION` is asked only when its size or mtime changed.
    fn read_plugin(
        &mut self,
        path: &Path,
        size: u64,
        mode: u32,
        ask_version: bool,
    ) -> Option<Body> {
        let file = match self.open(path) {
            Ok(f) => f,
            Err(body) => return body,
        };
        let meta = file.metadata().ok()?;
        self.stats.reads += 1;
        let content = if size > self.settings.max_hash_bytes {
            Err(format!(
                "larger than {} bytes, not hashed",
                self.settings.max_hash_bytes
            ))
        } else {
            read_content(file, self.settings.max_hash_bytes)
        };
        let executable = mode & 0o111 != 0;
        let version = match &content {
            _ if !(ask_version && executable) => None,
            // Running whatever sits in a plugin directory would run any program a wrong
            // `cni_bin_path` points at (`/usr/sbin`): only what reads CNI_COMMAND is run.
            Ok(c) if !c.mentions_cni => Some(Err(
                "not run: the file never mentions CNI_COMMAND, so it is no CNI plugin".to_owned(),
            )),
            Err(_) => Some(Err("not run: its content could not be checked".to_owned())),
            Ok(_) => {
                self.stats.version_runs += 1;
                let answer = ask_version_of(path, self.settings.version_timeout);
                if answer.is_err() {
                    self.stats.version_failures += 1;
                }
                Some(answer)
            }
        };
        let sha256 = content.map(|c| c.sha256);
        Some(Body::Plugin(PluginInfo {
            size,
            mtime: mtime_of(&meta),
            mode: mode & 0o7777,
            sha256,
            version,
        }))
    }

    /// Watches every target directory that exists and the nearest existing ancestor of each
    /// (to see a missing one appear, or a removed one come back); drops watches no longer
    /// needed.
    fn refresh_watches(&mut self) {
        let Some(inotify) = self.inotify.as_mut() else {
            return;
        };
        let mut wanted = BTreeSet::new();
        for t in &self.targets {
            if t.dir.is_dir() {
                wanted.insert(t.dir.clone());
            }
            let mut up = t.dir.parent();
            while let Some(dir) = up {
                if dir.is_dir() {
                    wanted.insert(dir.to_owned());
                    break;
                }
                up = dir.parent();
            }
        }
        let stale: Vec<PathBuf> = self
            .watched
            .keys()
            .filter(|p| !wanted.contains(*p))
            .cloned()
            .collect();
        for path in stale {
            if let Some(wd) = self.watched.remove(&path) {
                self.by_wd.remove(&wd.get_watch_descriptor_id());
                // A watch on a directory that moved away would report under its old name; one
                // on a deleted directory is gone already, which makes this fail harmlessly.
                let _ = inotify.watches().remove(wd);
            }
        }
        // Re-adding a watched path is cheap and returns the same descriptor; a directory
        // removed and re-created gets a new one.
        for path in wanted {
            match inotify.watches().add(&path, watch_mask()) {
                Ok(wd) => {
                    let id = wd.get_watch_descriptor_id();
                    if let Some(old) = self.watched.insert(path.clone(), wd) {
                        // The path now names another directory (a symlink retargeted, a
                        // directory replaced): the old one's watch would only add noise.
                        if old.get_watch_descriptor_id() != id {
                            self.by_wd.remove(&old.get_watch_descriptor_id());
                            let _ = inotify.watches().remove(old);
                        }
                    }
                    self.unwatchable.remove(&path);
                    self.by_wd.insert(id, path);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => {
                    if self.unwatchable.insert(path) {
                        self.stats.watch_errors += 1;
                    }
                }
            }
        }
    }
}

fn deleted(path: &Path, role: Role) -> FileChange {
    FileChange {
        path: path.to_string_lossy().into_owned(),
        role,
        kind: ChangeKind::Deleted,
        body: Body::None,
    }
}

fn wanted(role: Role, name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    match role {
        Role::Config => is_config_name(&name),
        _ => !name.starts_with('.'),
    }
}

/// What stat(2) finds at a name, after following symlinks.
enum Found {
    /// Nothing there (any more).
    Gone,
    Dir,
    File(Fingerprint),
    /// There, but not something that can be read as a file, for this reason.
    Bad(String),
}

fn look(path: &Path) -> Found {
    // stat(2) follows symlinks and refuses loops itself (ELOOP after 40 links).
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match fs::read_link(path) {
                Ok(target) => Found::Bad(format!("dangling symlink to {}", target.display())),
                Err(_) => Found::Gone,
            };
        }
        Err(e) => return Found::Bad(e.to_string()),
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return Found::Dir;
    }
    if !ft.is_file() {
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else {
            "an unknown file type"
        };
        return Found::Bad(format!("{what}, not a regular file"));
    }
    Found::File(Fingerprint::Stat {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        mode: meta.mode(),
    })
}

fn stat_pair(f: &Fingerprint) -> Option<(u64, i128)> {
    match f {
        Fingerprint::Stat { size, mtime_ns, .. } => Some((*size, *mtime_ns)),
        Fingerprint::Unreadable(_) => None,
    }
}

/// Opens a file that must be regular: non-blocking, so a FIFO swapped in after the stat does
/// not hang the caller, and checked again on the open descriptor.
fn open_regular(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

fn mtime_of(meta: &Metadata) -> Timestamp {
    Timestamp::from_unix_nanos(
        meta.mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec()),
    )
}

/// What every CNI plugin reads from its environment, so its name is in every plugin binary
/// and script.
const CNI_MARKER: &[u8] = b"CNI_COMMAND";

/// A plugin file's content, as one streaming pass over it found it.
struct Content {
    sha256: String,
    /// The content mentions [`CNI_MARKER`].
    mentions_cni: bool,
}

/// Streams the file (at most `max` bytes) through SHA-256, looking for [`CNI_MARKER`] on the
/// way.
fn read_content(file: File, max: u64) -> Result<Content, String> {
    let finder = memchr::memmem::Finder::new(CNI_MARKER);
    let mut hasher = Sha256::new();
    let mut reader = file.take(max);
    // The marker may straddle two reads: each search starts with the previous read's tail.
    let keep = CNI_MARKER.len() - 1;
    let mut buf = vec![0u8; keep + (64 << 10)];
    let mut carried = 0;
    let mut mentions_cni = false;
    loop {
        let n = match reader.read(&mut buf[carried..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        hasher.update(&buf[carried..carried + n]);
        let filled = carried + n;
        mentions_cni = mentions_cni || finder.find(&buf[..filled]).is_some();
        carried = keep.min(filled);
        buf.copy_within(filled - carried..filled, 0);
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Content {
        sha256,
        mentions_cni,
    })
}

/// The VERSION answer a plugin prints to stdout.
const VERSION_STDIN: &[u8] = br#"{"cniVersion":"1.0.0"}"#;
/// More than any VERSION answer; what a misbehaving binary prints beyond it is not kept.
const MAX_VERSION_BYTES: usize = 16 << 10;

/// Runs the plugin the way a runtime asks for its versions: `CNI_COMMAND=VERSION`, a minimal
/// config on stdin, nothing else in the environment.
fn ask_version_of(path: &Path, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut child = Command::new(path)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A plugin that exits without reading its stdin is fine: its answer is what counts.
        let _ = stdin.write_all(VERSION_STDIN);
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} ms", timeout.as_millis()));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut stdout = Vec::new();
    if let Some(out) = child.stdout.take() {
        // The plugin has exited; a child it left behind may still hold the pipe open, so read
        // only what is there now.
        let fd = out.as_fd();
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        let _ = out.take(MAX_VERSION_BYTES as u64).read_to_end(&mut stdout);
    }
    if !status.success() {
        return Err(format!(
            "{status}{}",
            if stdout.is_empty() {
                String::new()
            } else {
                format!(": {}", String::from_utf8_lossy(&stdout).trim())
            }
        ));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_found_across_reads() {
        let dir = std::env::temp_dir().join(format!("tapio-marker-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // Straddling the end of the first read (its buffer holds a marker's length - 1 more than
        // 64 KiB), at the very end, and absent.
        let first_read = (64 << 10) + CNI_MARKER.len() - 1;
        for (at, len, expected) in [
            (first_read - 5, 200_000, true),
            (199_989, 200_000, true),
            (0, 0, false),
        ] {
            let mut bytes = vec![b'x'; len];
            if len > 0 {
                bytes[at..at + CNI_MARKER.len()].copy_from_slice(CNI_MARKER);
            }
            let path = dir.join("f");
            fs::write(&path, &bytes).unwrap();
            let c = read_content(File::open(&path).unwrap(), 1 << 20).unwrap();
            assert_eq!(c.mentions_cni, expected, "marker at {at} of {len}");
            let digest: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(c.sha256, digest);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! The /proc scanner: the process monitor's fallback when the eBPF probes cannot load.
//!
//! Each [`Scanner::scan`] lists /proc and keeps the processes that run a CNI plugin (`exe`, or
//! `argv[0]`, in one of the plugin directories), those whose parent it keeps (a plugin's
//! delegates and helpers, found through `task/*/children`), and those it kept last time (so
//! their exit is seen even once `exe` is gone). Of those it reads `stat`, `cmdline`, the `ns/net`
//! links of its threads and `environ`, of which only the `CNI_*` variables are kept, and hands
//! the core a [`Snapshot`]. Everything else on the host costs one `readlink` per scan.
//!
//! A process may end at any moment between the listing and each read: such a process is
//! skipped and counted, never an error.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use nix::time::{clock_gettime, ClockId};
use proto::proc::{self, Process, Snapshot, Stat};
use proto::Timestamp;

/// Counters of the scans (the core counts what it tracked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub scans: u64,
    /// Processes gone between the listing and the read of their files: skipped.
    pub vanished: u64,
    /// Files that could not be read for another reason (permissions), skipped.
    pub unreadable: u64,
    /// `stat` lines that could not be read, skipped.
    pub malformed: u64,
    /// Plugin processes beyond `max_processes` in one scan, left out.
    pub over_limit: u64,
}

/// Scans /proc (or another root, for tests) for CNI plugin processes.
#[derive(Debug)]
pub struct Scanner {
    root: PathBuf,
    /// The configured plugin directories, and where they resolve to (`exe` is resolved).
    plugin_dirs: Vec<PathBuf>,
    max_env_bytes: usize,
    max_processes: usize,
    ticks_per_sec: u64,
    /// Pid → start of the processes of the last snapshot.
    kept: BTreeMap<u32, u64>,
    buf: Vec<u8>,
    stats: ScanStats,
}

impl Scanner {
    /// A scanner of `/proc` for plugins in `plugin_dirs`, reading at most `max_env_bytes` of
    /// an environment and keeping at most `max_processes` processes a scan.
    pub fn new(plugin_dirs: &[PathBuf], max_env_bytes: usize, max_processes: usize) -> Scanner {
        Scanner::with_root(
            Path::new("/proc"),
            plugin_dirs,
            max_env_bytes,
            max_processes,
        )
    }

    /// [`Scanner::new`] over another directory laid out like /proc.
    pub fn with_root(
        root: &Path,
        plugin_dirs: &[PathBuf],
        max_env_bytes: usize,
        max_processes: usize,
    ) -> Scanner {
        let mut dirs = plugin_dirs.to_vec();
        dirs.extend(
            plugin_dirs
                .iter()
                .filter_map(|d| fs::canonicalize(d).ok())
                .filter(|d| !plugin_dirs.contains(d)),
        );
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|t| u64::try_from(t).ok())
            .filter(|&t| t > 0)
            // USER_HZ, the unit of `starttime` on every Linux architecture.
            .unwrap_or(100);
        Scanner {
            root: root.to_owned(),
            plugin_dirs: dirs,
            max_env_bytes,
            max_processes,
            ticks_per_sec: ticks,
            kept: BTreeMap::new(),
            buf: Vec::new(),
            stats: ScanStats::default(),
        }
    }

    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// One scan.
    ///
    /// # Errors
    /// Only when the root itself cannot be listed (/proc not mounted).
    pub fn scan(&mut self) -> io::Result<Snapshot> {
        self.stats.scans += 1;
        let boot_time = boot_time();
        let mut queue: VecDeque<u32> = VecDeque::new();
        for entry in fs::read_dir(&self.root)? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if self.kept.contains_key(&pid) || self.is_plugin_exe(pid) {
                queue.push_back(pid);
            }
        }
        let mut processes: BTreeMap<u32, Process> = BTreeMap::new();
        while let Some(pid) = queue.pop_front() {
            if processes.contains_key(&pid) {
                continue;
            }
            if processes.len() >= self.max_processes {
                self.stats.over_limit += 1;
                continue;
            }
            let Some(process) = self.read_process(pid) else {
                continue;
            };
            // A kept pid now naming another process counts only if that one is a plugin
            // (or a child of one: it was queued as a child then, and so is kept).
            let reused = self
                .kept
                .get(&pid)
                .is_some_and(|&start| start != process.stat.start_ticks);
            if reused && !self.is_plugin_path(process.path.as_deref()) {
                let parent_kept = processes.contains_key(&process.stat.ppid);
                if !parent_kept {
                    continue;
                }
            }
            let (children, entered) = self.tasks(pid, process.stat.ppid);
            queue.extend(children);
            processes.insert(
                pid,
                Process {
                    entered_netns_ino: entered,
                    ..process
                },
            );
        }
        self.kept = processes
            .iter()
            .map(|(&pid, p)| (pid, p.stat.start_ticks))
            .collect();
        Ok(Snapshot {
            boot_time,
            ticks_per_sec: self.ticks_per_sec,
            processes: processes.into_values().collect(),
        })
    }

    fn proc_path(&self, pid: u32, file: &str) -> PathBuf {
        let mut path = self.root.join(pid.to_string());
        path.push(file);
        path
    }

    fn is_plugin_path(&self, path: Option<&str>) -> bool {
        path.is_some_and(|p| self.plugin_dirs.iter().any(|d| Path::new(p).starts_with(d)))
    }

    /// Whether `pid` runs a binary of a plugin directory. Kernel threads, and processes gone
    /// already, have no `exe`: they are not plugins.
    fn is_plugin_exe(&self, pid: u32) -> bool {
        fs::read_link(self.proc_path(pid, "exe"))
            .ok()
            .is_some_and(|t| self.is_plugin_path(t.to_str().map(proc::exe_path)))
    }

    /// Reads what a scan can know of `pid`; `None` when it is gone or unreadable (counted).
    fn read_process(&mut self, pid: u32) -> Option<Process> {
        let stat = self.read_stat(pid)?;
        let exe = fs::read_link(self.proc_path(pid, "exe"))
            .ok()
            .and_then(|t| t.to_str().map(|t| proc::exe_path(t).to_owned()));
        let argv0 = self
            .read_file(pid, "cmdline", 4096)
            .and_then(|(b, _)| proc::parse_argv0(b));
        // The name it was run by: a plugin symlinked to another binary (calico-ipam → calico)
        // is still itself.
        let path = match argv0 {
            Some(a) if self.is_plugin_path(Some(&a)) => Some(a),
            _ => exe,
        };
        let max_env = self.max_env_bytes;
        let (env, env_truncated) = match self.read_file(pid, "environ", max_env) {
            Some((block, cut)) if !block.is_empty() => (Some(proc::parse_environ(block)), cut),
            _ => (None, false),
        };
        Some(Process {
            stat,
            path,
            env,
            env_truncated,
            entered_netns_ino: None,
        })
    }

    fn read_stat(&mut self, pid: u32) -> Option<Stat> {
        let (line, _) = self.read_file(pid, "stat", 4096)?;
        match proc::parse_stat(line) {
            Ok(stat) => Some(stat),
            Err(e) => {
                self.stats.malformed += 1;
                tracing::debug!(pid, "unreadable /proc stat line skipped: {e}");
                None
            }
        }
    }

    /// The first `max` bytes of a file of `pid`, and whether there was more; `None` when it
    /// cannot be read (counted as vanished or unreadable).
    fn read_file(&mut self, pid: u32, name: &str, max: usize) -> Option<(&[u8], bool)> {
        let path = self.proc_path(pid, name);
        self.buf.clear();
        let read = File::open(&path).and_then(|f| {
            f.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
                .read_to_end(&mut self.buf)
        });
        match read {
            Ok(_) => {
                let cut = self.buf.len() > max;
                self.buf.truncate(max);
                Some((&self.buf, cut))
            }
            // ESRCH: the process died while its file was read.
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => {
                self.stats.vanished += 1;
                None
            }
            Err(e) => {
                self.stats.unreadable += 1;
                tracing::debug!("{} skipped: {e}", path.display());
                None
            }
        }
    }

    /// The children of every thread of `pid` (a Go plugin forks from any of its threads), and
    /// a network namespace one of its threads is in other than the one it started in, its
    /// parent's (a Go plugin enters the container's on one locked thread, which may be the
    /// main thread).
    fn tasks(&self, pid: u32, ppid: u32) -> (Vec<u32>, Option<u64>) {
        let netns_of = |dir: &Path| {
            fs::read_link(dir.join("ns/net"))
                .ok()
                .and_then(|t| t.to_str().and_then(proc::parse_ns_link))
        };
        let own = netns_of(&self.root.join(ppid.to_string()))
            .or_else(|| netns_of(&self.root.join(pid.to_string())));
        let Ok(tasks) = fs::read_dir(self.proc_path(pid, "task")) else {
            return (Vec::new(), None);
        };
        let mut children = Vec::new();
        let mut entered = None;
        for task in tasks.filter_map(Result::ok) {
            let dir = task.path();
            if let Ok(text) = fs::read_to_string(dir.join("children")) {
                children.extend(
                    text.split_ascii_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
            let netns = netns_of(&dir);
            if netns.is_some() && netns != own {
                entered = netns;
            }
        }
        (children, entered)
    }
}

/// The wall-clock time of boot: `CLOCK_REALTIME - CLOCK_BOOTTIME`, the base of `starttime`.
fn boot_time() -> Timestamp {
    let ns = |t: nix::sys::time::TimeSpec| t.tv_sec() * 1_000_000_000 + t.tv_nsec();
    match (
        clock_gettime(ClockId::CLOCK_REALTIME),
        clock_gettime(ClockId::CLOCK_BOOTTIME),
    ) {
        (Ok(real), Ok(boot)) => Timestamp::from_unix_nanos(ns(real) - ns(boot)),
        // Linux always has both clocks; without them start times count from the epoch.
        _ => Timestamp::default(),
    }
}

//! The /proc scanner: the process monitor's fallback when the eBPF probes cannot load.
//!
//! Each [`Scanner::scan`] lists /proc and keeps the processes that run a CNI plugin (`exe` in
//! one of the plugin directories), those whose parent it keeps (a plugin's delegates and
//! helpers, found through `task/*/children`), and those it kept last time (so their exit is
//! seen even once `exe` is gone). Of those it reads `stat`, `cmdline`, the `ns/net`
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
            // A plugin's fork about to exec its delegate is still the plugin: it is an
            // execution of its own from its exec on (a later scan).
            if process.stat.is_fork_without_exec() {
                continue;
            }
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
        let args = self
            .read_file(pid, "cmdline", 4096)
            .map(|(b, _)| proc::parse_args(b, 3))
            .unwrap_or_default();
        let max_env = self.max_env_bytes;
        let (env, env_truncated) = match self.read_file(pid, "environ", max_env) {
            Some((block, cut)) if !block.is_empty() => {
                // A variable cut short would be read as a wrong value: drop it whole.
                let whole = match (cut, last_nul(block)) {
                    (true, Some(end)) => &block[..end],
                    (true, None) => &[][..],
                    (false, _) => block,
                };
                (Some(proc::parse_environ(whole)), cut)
            }
            _ => (None, false),
        };
        // The path it was run by, as runtimes and delegating plugins run plugins: a plugin
        // symlinked to another binary (calico-ipam → calico) is still itself, and a plugin
        // script (`#!/bin/sh` puts the interpreter first) is not its interpreter.
        let cni_path = env.as_ref().and_then(|e| e.get("CNI_PATH"));
        let path = args
            .into_iter()
            .find(|a| self.is_plugin_path(Some(a)) || on_cni_path(a, cni_path))
            .or(exe);
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

/// Whether `path` names a file in one of the directories of a `CNI_PATH` value.
fn on_cni_path(path: &str, cni_path: Option<&String>) -> bool {
    let Some(dir) = Path::new(path).parent().filter(|d| d.is_absolute()) else {
        return false;
    };
    cni_path.is_some_and(|p| p.split(':').any(|d| !d.is_empty() && Path::new(d) == dir))
}

fn last_nul(block: &[u8]) -> Option<usize> {
    block.iter().rposition(|&b| b == 0)
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A directory laid out like /proc, removed on drop.
    struct FakeProc(PathBuf);

    /// One process of a [`FakeProc`].
    struct Fake<'a> {
        pid: u32,
        ppid: u32,
        state: char,
        start: u64,
        exe: Option<&'a str>,
        cmdline: &'a [u8],
        environ: &'a [u8],
        children: &'a [u32],
        netns: u64,
        flags: u32,
    }

    impl Default for Fake<'_> {
        fn default() -> Self {
            Fake {
                pid: 0,
                ppid: 1,
                state: 'S',
                start: 500,
                exe: None,
                cmdline: b"",
                environ: b"",
                children: &[],
                netns: 1,
                flags: 0,
            }
        }
    }

    impl FakeProc {
        fn new() -> FakeProc {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let root =
                std::env::temp_dir().join(format!("tapio-fakeproc-{}-{n}", std::process::id()));
            fs::create_dir_all(&root).unwrap();
            let fake = FakeProc(root);
            // The parent of everything, in the host's namespace.
            fake.add(&Fake {
                pid: 1,
                ppid: 0,
                exe: Some("/sbin/init"),
                ..Fake::default()
            });
            fs::create_dir_all(fake.0.join("self")).unwrap();
            fake
        }

        fn add(&self, p: &Fake<'_>) {
            let dir = self.0.join(p.pid.to_string());
            let _ = fs::remove_dir_all(&dir);
            let task = dir.join("task").join(p.pid.to_string());
            fs::create_dir_all(task.join("ns")).unwrap();
            fs::create_dir_all(dir.join("ns")).unwrap();
            let stat = format!(
                "{} (x y) {} {} 1 1 0 -1 {} 0 0 0 0 3 4 0 0 20 0 1 0 {} 0 0",
                p.pid, p.state, p.ppid, p.flags, p.start
            );
            fs::write(dir.join("stat"), stat).unwrap();
            if let Some(exe) = p.exe {
                symlink(exe, dir.join("exe")).unwrap();
            }
            fs::write(dir.join("cmdline"), p.cmdline).unwrap();
            fs::write(dir.join("environ"), p.environ).unwrap();
            symlink("net:[1]", dir.join("ns/net")).unwrap();
            symlink(format!("net:[{}]", p.netns), task.join("ns/net")).unwrap();
            let children: Vec<String> = p.children.iter().map(u32::to_string).collect();
            fs::write(task.join("children"), children.join(" ")).unwrap();
        }

        fn scanner(&self, max_env: usize, max_processes: usize) -> Scanner {
            Scanner::with_root(
                &self.0,
                &[PathBuf::from("/opt/cni/bin")],
                max_env,
                max_processes,
            )
        }
    }

    impl Drop for FakeProc {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn pids(s: &Snapshot) -> Vec<u32> {
        s.processes.iter().map(|p| p.stat.pid).collect()
    }

    #[test]
    fn plugins_and_their_children_are_kept_and_nothing_else() {
        let fake = FakeProc::new();
        fake.add(&Fake {
            pid: 10,
            exe: Some("/opt/cni/bin/bridge"),
            cmdline: b"/opt/cni/bin/bridge\0",
            environ: b"PATH=/bin\0CNI_COMMAND=ADD\0TOKEN=s3cret\0CNI_IFNAME=eth0\0",
            children: &[11, 13],
            netns: 7,
            ..Fake::default()
        });
        // Forked by bridge, not exec'd yet: still bridge.
        fake.add(&Fake {
            pid: 13,
            ppid: 10,
            exe: Some("/opt/cni/bin/bridge"),
            cmdline: b"/opt/cni/bin/bridge\0",
            flags: 0x40,
            ..Fake::default()
        });
        fake.add(&Fake {
            pid: 11,
            ppid: 10,
            exe: Some("/usr/sbin/xtables-nft-multi"),
            cmdline: b"iptables\0-L\0",
            ..Fake::default()
        });
        fake.add(&Fake {
            pid: 12,
            exe: Some("/usr/bin/bash"),
            environ: b"CNI_COMMAND=ADD\0",
            ..Fake::default()
        });
        // A kernel thread: no exe.
        fake.add(&Fake {
            pid: 2,
            ..Fake::default()
        });
        let mut scanner = fake.scanner(4096, 100);
        let snapshot = scanner.scan().unwrap();
        assert_eq!(pids(&snapshot), [10, 11]);
        let bridge = &snapshot.processes[0];
        assert_eq!(bridge.path.as_deref(), Some("/opt/cni/bin/bridge"));
        assert_eq!(bridge.stat.comm, "x y");
        let env: Vec<(&str, &str)> = bridge
            .env
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")]);
        assert_eq!(bridge.entered_netns_ino, Some(7));
        let child = &snapshot.processes[1];
        assert_eq!(child.path.as_deref(), Some("/usr/sbin/xtables-nft-multi"));
        assert_eq!(child.env, None, "an empty environment");
        assert_eq!(child.entered_netns_ino, None, "in its parent's namespace");
        assert!(snapshot.ticks_per_sec > 0);
        assert_eq!(scanner.stats().scans, 1);
    }

    #[test]
    fn argv0_names_a_plugin_symlinked_to_another() {
        let fake = FakeProc::new();
        fake.add(&Fake {
            pid: 10,
            exe: Some("/opt/cni/bin/calico"),
            cmdline: b"/opt/cni/bin/calico-ipam\0",
            ..Fake::default()
        });
        let snapshot = fake.scanner(4096, 100).scan().unwrap();
        assert_eq!(
            snapshot.processes[0].path.as_deref(),
            Some("/opt/cni/bin/calico-ipam")
        );
    }

    #[test]
    fn gone_and_malformed_processes_are_skipped_and_counted() {
        let fake = FakeProc::new();
        fake.add(&Fake {
            pid: 20,
            exe: Some("/opt/cni/bin/bridge"),
            ..Fake::default()
        });
        fs::remove_file(fake.0.join("20/stat")).unwrap();
        fake.add(&Fake {
            pid: 21,
            exe: Some("/opt/cni/bin/bridge"),
            ..Fake::default()
        });
        fs::write(fake.0.join("21/stat"), "21 (bridge S 1").unwrap();
        let mut scanner = fake.scanner(4096, 100);
        let snapshot = scanner.scan().unwrap();
        assert!(snapshot.processes.is_empty());
        assert_eq!(scanner.stats().vanished, 1);
        assert_eq!(scanner.stats().malformed, 1);
    }

    #[test]
    fn a_long_environment_is_cut_at_a_whole_variable() {
        let fake = FakeProc::new();
        fake.add(&Fake {
            pid: 10,
            exe: Some("/opt/cni/bin/bridge"),
            environ: b"CNI_COMMAND=ADD\0CNI_ARGS=K8S_POD_NAME=a-long-name\0",
            ..Fake::default()
        });
        let snapshot = fake.scanner(30, 100).scan().unwrap();
        let p = &snapshot.processes[0];
        assert!(p.env_truncated);
        let env = p.env.as_ref().unwrap();
        assert_eq!(env.get("CNI_COMMAND").map(String::as_str), Some("ADD"));
        assert_eq!(env.get("CNI_ARGS"), None, "cut short, so left out");
    }

    #[test]
    fn a_kept_process_is_followed_until_reaped_and_a_reused_pid_is_not() {
        let fake = FakeProc::new();
        fake.add(&Fake {
            pid: 10,
            exe: Some("/opt/cni/bin/bridge"),
            ..Fake::default()
        });
        let mut scanner = fake.scanner(4096, 100);
        assert_eq!(pids(&scanner.scan().unwrap()), [10]);
        // Exited, not yet reaped: no exe any more.
        fake.add(&Fake {
            pid: 10,
            state: 'Z',
            ..Fake::default()
        });
        let snapshot = scanner.scan().unwrap();
        assert_eq!(pids(&snapshot), [10]);
        assert!(snapshot.processes[0].stat.is_zombie());
        assert_eq!(snapshot.processes[0].path, None);
        // Reaped, and the pid reused by a shell.
        fake.add(&Fake {
            pid: 10,
            start: 900,
            exe: Some("/usr/bin/bash"),
            ..Fake::default()
        });
        assert!(scanner.scan().unwrap().processes.is_empty());
    }

    #[test]
    fn a_scan_keeps_at_most_max_processes() {
        let fake = FakeProc::new();
        for pid in [10, 11, 12] {
            fake.add(&Fake {
                pid,
                exe: Some("/opt/cni/bin/bridge"),
                ..Fake::default()
            });
        }
        let mut scanner = fake.scanner(4096, 2);
        assert_eq!(scanner.scan().unwrap().processes.len(), 2);
        assert_eq!(scanner.stats().over_limit, 1);
    }
}

//! Consecutive /proc snapshots → plugin executions: a process that appears is tracked, one that
//! vanishes has ended.
//!
//! A process is named by its pid and start time (a reused pid starts later). A tracked process
//! whose parent is tracked is a *delegated child* (bridge → host-local): when it vanishes it
//! becomes a [`ChainEntry`] of its parent. Any other is a *top-level* execution: when it
//! vanishes, or runs past the timeout, it is [`Finished`].

use std::collections::{BTreeMap, VecDeque};

use crate::bpf::record::ExitStatus;
use crate::event::{ChainEntry, Operation};
use crate::proc::{Process, Snapshot, Stats};
use crate::time::Timestamp;

const MILLI: i64 = 1_000_000;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Bounds of the tracking; see [`crate::Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_open: usize,
    pub max_chain: usize,
    pub timeout_ms: u64,
}

/// One tracked process: what the scans saw of it.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub pid: u32,
    pub ppid: u32,
    start_ticks: u64,
    /// The tracked parent it was delegated by.
    parent: Option<u32>,
    /// Its start (`starttime`, to the clock tick) in wall-clock time.
    pub started_at: Timestamp,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub comm: String,
    pub path: Option<String>,
    /// `CNI_*` variables of its latest exec that a scan could read.
    pub env: BTreeMap<String, String>,
    pub env_truncated: bool,
    /// The last network namespace other than its own a scan saw a thread of it in.
    pub entered_netns_ino: Option<u64>,
    /// Seen exited but not yet reaped: how it ended.
    pub exit: Option<ExitStatus>,
    /// Delegated children that have ended, in the order they were seen gone.
    pub chain: Vec<ChainEntry>,
    /// Reported already (it ran past the timeout); kept so later scans do not report it again.
    reported: bool,
}

impl Tracked {
    /// The name of the binary: the file name of its path, else its `comm`.
    pub fn binary(&self) -> &str {
        self.path
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .filter(|b| !b.is_empty())
            .unwrap_or(&self.comm)
    }

    pub fn operation(&self) -> Option<Operation> {
        self.env
            .get("CNI_COMMAND")
            .and_then(|c| Operation::from_word(c))
    }

    /// Takes what a later scan read; what it could not read (a zombie's environment and
    /// binary) stays as an earlier scan saw it.
    fn update(&mut self, now: Timestamp, p: &Process) {
        self.last_seen = now;
        if !p.stat.comm.is_empty() {
            self.comm.clone_from(&p.stat.comm);
        }
        if p.path.is_some() {
            self.path.clone_from(&p.path);
        }
        if let Some(env) = p.env.as_ref().filter(|e| !e.is_empty()) {
            self.env.clone_from(env);
            self.env_truncated = p.env_truncated;
        }
        if p.entered_netns_ino.is_some() {
            self.entered_netns_ino = p.entered_netns_ino;
        }
        if p.stat.is_zombie() {
            self.exit = p.stat.exit_status.map(decode_wait_status);
        }
    }
}

/// How a top-level execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Gone from the scan at this time.
    Vanished(Timestamp),
    /// Still running when the timeout passed.
    Expired,
}

/// A top-level plugin execution, as complete as the scans could see it.
#[derive(Debug)]
pub(crate) struct Finished {
    pub proc: Tracked,
    pub end: End,
}

/// The tracked processes.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    procs: BTreeMap<u32, Tracked>,
    finished: VecDeque<Finished>,
}

impl Tracker {
    pub fn open(&self) -> usize {
        self.procs.values().filter(|p| !p.reported).count()
    }

    pub fn poll_finished(&mut self) -> Option<Finished> {
        self.finished.pop_front()
    }

    /// Diffs `snapshot` against the tracked processes: the gone end (children before their
    /// parents, so they join the parent's chain first), the new are tracked (parents before
    /// their children), the rest are updated; then top-level executions past the timeout are
    /// reported.
    pub fn handle(
        &mut self,
        now: Timestamp,
        snapshot: &Snapshot,
        limits: &Limits,
        stats: &mut Stats,
    ) {
        stats.snapshots += 1;
        let seen: BTreeMap<u32, &Process> =
            snapshot.processes.iter().map(|p| (p.stat.pid, p)).collect();
        let mut gone: Vec<u32> = self
            .procs
            .values()
            .filter(|t| {
                seen.get(&t.pid)
                    .is_none_or(|p| p.stat.start_ticks != t.start_ticks)
            })
            .map(|t| t.pid)
            .collect();
        gone.sort_by_key(|&pid| std::cmp::Reverse(self.depth(pid)));
        for pid in gone {
            self.close(pid, End::Vanished(now), limits, stats);
        }

        let mut processes: Vec<&Process> = seen.into_values().collect();
        processes.sort_by_key(|p| (p.stat.start_ticks, p.stat.pid));
        for p in processes {
            match self.procs.get_mut(&p.stat.pid) {
                Some(t) => t.update(now, p),
                None => self.track(now, snapshot, p, limits, stats),
            }
        }
        self.expire(now, limits, stats);
    }

    fn track(
        &mut self,
        now: Timestamp,
        snapshot: &Snapshot,
        p: &Process,
        limits: &Limits,
        stats: &mut Stats,
    ) {
        if self.procs.len() >= limits.max_open {
            stats.processes_dropped += 1;
            return;
        }
        stats.processes_tracked += 1;
        let parent = Some(p.stat.ppid).filter(|pp| self.procs.contains_key(pp));
        let mut t = Tracked {
            pid: p.stat.pid,
            ppid: p.stat.ppid,
            start_ticks: p.stat.start_ticks,
            parent,
            started_at: snapshot.start_time(p.stat.start_ticks),
            first_seen: now,
            last_seen: now,
            comm: String::new(),
            path: None,
            env: BTreeMap::new(),
            env_truncated: false,
            entered_netns_ino: None,
            exit: None,
            chain: Vec::new(),
            reported: false,
        };
        t.update(now, p);
        self.procs.insert(p.stat.pid, t);
    }

    /// How many tracked ancestors `pid` has.
    fn depth(&self, pid: u32) -> usize {
        let mut depth = 0;
        let mut at = self.procs.get(&pid).and_then(|t| t.parent);
        // Parents are tracked before their children, so the links cannot loop; the bound
        // makes sure of it whatever the scans said.
        while let Some(parent) = at.filter(|_| depth < self.procs.len()) {
            depth += 1;
            at = self.procs.get(&parent).and_then(|t| t.parent);
        }
        depth
    }

    /// Ends `pid`: a delegated child joins its parent's chain, a top-level execution is
    /// finished (unless it was reported when it ran past the timeout). Its children still
    /// running are top-level executions from now on.
    fn close(&mut self, pid: u32, end: End, limits: &Limits, stats: &mut Stats) {
        let Some(mut proc) = self.procs.remove(&pid) else {
            return;
        };
        for orphan in self.procs.values_mut().filter(|t| t.parent == Some(pid)) {
            orphan.parent = None;
        }
        if let Some(parent) = proc.parent.and_then(|pp| self.procs.get_mut(&pp)) {
            if parent.chain.len() < limits.max_chain {
                parent.chain.push(entry_of(&mut proc));
            } else {
                stats.chain_entries_cut += 1;
            }
            return;
        }
        if proc.reported {
            return;
        }
        stats.executions += 1;
        self.finished.push_back(Finished { proc, end });
    }

    /// Reports the top-level executions running for longer than the timeout, once.
    fn expire(&mut self, now: Timestamp, limits: &Limits, stats: &mut Stats) {
        let ms = i64::try_from(limits.timeout_ms).unwrap_or(i64::MAX / MILLI);
        let timeout = ms.saturating_mul(MILLI);
        for t in self.procs.values_mut() {
            let overdue = now.unix_nanos().saturating_sub(t.started_at.unix_nanos()) >= timeout;
            if t.parent.is_some() || t.reported || !overdue {
                continue;
            }
            t.reported = true;
            stats.executions_expired += 1;
            let proc = Tracked {
                chain: std::mem::take(&mut t.chain),
                env: t.env.clone(),
                path: t.path.clone(),
                comm: t.comm.clone(),
                reported: true,
                ..*t
            };
            self.finished.push_back(Finished {
                proc,
                end: End::Expired,
            });
        }
    }
}

impl Snapshot {
    /// The wall-clock time of a process's `starttime`.
    pub(crate) fn start_time(&self, start_ticks: u64) -> Timestamp {
        let ticks = u128::from(self.ticks_per_sec.max(1));
        let nanos = u128::from(start_ticks) * NANOS_PER_SEC / ticks;
        self.boot_time
            .add_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

/// A wait(2) status, as `stat` gives it for an exited process.
fn decode_wait_status(status: i32) -> ExitStatus {
    match status & 0x7f {
        0 => ExitStatus::Exited((status >> 8) & 0xff),
        signal => ExitStatus::Signaled(signal),
    }
}

/// A delegated child as a chain entry. Its duration is not known to a scan; its exit code only
/// when a scan caught it exited before it was reaped.
fn entry_of(proc: &mut Tracked) -> ChainEntry {
    ChainEntry {
        plugin_type: proc.binary().to_owned(),
        operation: proc.operation(),
        duration_ms: None,
        exit_code: match proc.exit {
            Some(ExitStatus::Exited(code)) => Some(code),
            _ => None,
        },
        children: std::mem::take(&mut proc.chain),
    }
}

//! Assembling CNI transactions from ring-buffer records.
//!
//! Every tracked process is an open [`Proc`], keyed by its pid (tgid), from its EXEC to its
//! EXIT. A process whose parent is open is a *delegated child* (bridge → host-local): at its
//! EXIT it becomes a [`ChainEntry`] of its parent. A process without an open parent is a
//! *top-level* plugin execution: at its EXIT, or when its deadline passes first, it is
//! [`Finished`] and becomes one event.
//!
//! Memory is bounded by [`Limits`]: a full table refuses new processes, streams and the
//! environment are cut, chains are cut; each cut is counted in [`Stats`]. Over all open
//! processes together, the bytes kept of streams and environments stay within one global
//! budget ([`Limits::max_buffered`]), so a storm of plugins writing the most they may cannot
//! make the collector hold `max_open` times the per-process limits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::bpf::record::{Data, Env, Exec, Exit, ExitStatus, Netns, Record};
use crate::bpf::{MonoClock, Stats};
use crate::event::{ChainEntry, Operation};
use crate::time::Timestamp;

const MILLI: i64 = 1_000_000;

/// Bounds of the assembly; see [`crate::Config`] for their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_open: usize,
    pub max_stream_bytes: usize,
    pub max_env_bytes: usize,
    pub max_chain: usize,
    pub timeout_ms: u64,
    /// Stream and environment bytes kept over all open processes together.
    pub max_buffered: usize,
}

/// The bytes kept of every open process's streams and environment, against
/// [`Limits::max_buffered`].
#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: usize,
}

impl Budget {
    /// Takes up to `want` bytes of the budget; returns how many were granted.
    fn take(&mut self, want: usize, max: usize) -> usize {
        let granted = want.min(max.saturating_sub(self.used));
        self.used += granted;
        granted
    }

    fn give_back(&mut self, n: usize) {
        self.used = self.used.saturating_sub(n);
    }
}

/// One standard stream of a process, reassembled.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub bytes: Vec<u8>,
    /// `stream_off` the next record should have; 0 again after a re-exec.
    next_off: u64,
    /// Records lost before this many records (a jump in `stream_off`).
    pub gaps: u32,
    /// Bytes beyond the limit were not kept.
    pub cut: bool,
    /// Bytes were not kept because the global budget was spent.
    pub over_budget: bool,
}

impl Stream {
    fn push(
        &mut self,
        off: u64,
        mut data: &[u8],
        limits: &Limits,
        budget: &mut Budget,
        stats: &mut Stats,
    ) {
        if off > self.next_off {
            self.gaps += 1;
            stats.stream_gaps += 1;
        } else if off < self.next_off {
            // Bytes seen already: keep only what is new.
            let seen = usize::try_from(self.next_off - off).unwrap_or(usize::MAX);
            data = data.get(seen..).unwrap_or_default();
        }
        self.next_off = off.max(self.next_off) + data.len() as u64;
        let room = limits.max_stream_bytes.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.cut = true;
            stats.stream_bytes_cut += (data.len() - room) as u64;
            data = &data[..room];
        }
        let granted = budget.take(data.len(), limits.max_buffered);
        if granted < data.len() {
            self.cut = true;
            self.over_budget = true;
            stats.budget_bytes_cut += (data.len() - granted) as u64;
            data = &data[..granted];
        }
        self.bytes.extend_from_slice(data);
    }

    fn release(&mut self, budget: &mut Budget) {
        budget.give_back(self.bytes.len());
    }
}

/// The environment of the current exec, as its ENV chunks arrive, and the `CNI_*` variables
/// of earlier execs of the same process.
#[derive(Debug, Default)]
pub(crate) struct Environment {
    block: Vec<u8>,
    /// Size of the whole block, per EXEC.
    expected: u32,
    /// Offset the next chunk should have.
    next_off: u32,
    /// Part of the block was not seen (a lost chunk, the kernel's 32 KiB cap, our limit).
    pub incomplete: bool,
    /// Part of the block was not kept because the global budget was spent.
    pub over_budget: bool,
    /// `CNI_*` variables only; the first value of a key wins.
    pub vars: BTreeMap<String, String>,
}

impl Environment {
    fn start(&mut self, expected: u32, budget: &mut Budget) {
        self.finish(budget);
        self.expected = expected;
    }

    fn push(&mut self, env: &Env<'_>, limits: &Limits, budget: &mut Budget, stats: &mut Stats) {
        if env.offset != self.next_off {
            self.incomplete = true;
            // Keep the strings on either side of the gap apart.
            self.keep(&[0], limits, budget, stats);
        }
        self.next_off = env.offset.saturating_add(env.data.len() as u32);
        self.keep(env.data, limits, budget, stats);
    }

    /// Appends what the per-process limit and the global budget allow of `data`.
    fn keep(&mut self, mut data: &[u8], limits: &Limits, budget: &mut Budget, stats: &mut Stats) {
        let room = limits.max_env_bytes.saturating_sub(self.block.len());
        if data.len() > room {
            self.incomplete = true;
            data = &data[..room];
        }
        let granted = budget.take(data.len(), limits.max_buffered);
        if granted < data.len() {
            self.incomplete = true;
            self.over_budget = true;
            stats.budget_bytes_cut += (data.len() - granted) as u64;
            data = &data[..granted];
        }
        self.block.extend_from_slice(data);
    }

    /// Reads the `CNI_*` variables of the current block and forgets the rest of it, giving
    /// its bytes back to the budget.
    fn finish(&mut self, budget: &mut Budget) {
        if self.next_off < self.expected {
            self.incomplete = true;
        }
        crate::proc::read_cni_vars(&self.block, &mut self.vars);
        budget.give_back(self.block.len());
        // Dropped, not cleared: a re-exec'd process keeps nothing of its old block's size.
        self.block = Vec::new();
        self.next_off = 0;
        self.expected = 0;
    }
}

/// What the netns records of a process say.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NetnsSeen {
    /// setns/unshare calls on the network namespace.
    pub calls: u32,
    /// The last namespace it entered other than its own at exec.
    pub entered_ino: Option<u32>,
}

/// One tracked process, from its EXEC.
#[derive(Debug)]
pub(crate) struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// The open parent this process was delegated by.
    parent: Option<u32>,
    start_ns: u64,
    /// Its first exec, in both clocks.
    pub exec_ns: u64,
    pub exec_at: Timestamp,
    /// When the transaction expires (top-level only).
    deadline: Option<Timestamp>,
    pub comm: String,
    pub path: String,
    pub path_truncated: bool,
    /// Its binary is in a plugin directory: a CNI plugin, not a tool a plugin runs.
    pub plugin: bool,
    pub netns_ino: u32,
    pub env: Environment,
    pub stdin: Stream,
    pub stdout: Stream,
    pub stderr: Stream,
    pub netns: NetnsSeen,
    /// Delegated children that have ended, in the order they ended.
    pub chain: Vec<ChainEntry>,
    open_children: Vec<u32>,
}

impl Proc {
    /// The exec'd binary's name.
    pub fn binary(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn operation(&self) -> Option<Operation> {
        self.env
            .vars
            .get("CNI_COMMAND")
            .and_then(|c| Operation::from_word(c))
    }
}

/// How a top-level transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Exited {
        ts_ns: u64,
        status: ExitStatus,
    },
    /// No EXIT came before the deadline (or the pid was reused by a new process).
    Expired,
    /// The collector stopped while the process was still running.
    Stopped,
}

/// A top-level plugin execution, complete.
#[derive(Debug)]
pub(crate) struct Finished {
    pub proc: Proc,
    pub end: End,
}

/// The open processes.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    procs: BTreeMap<u32, Proc>,
    /// Deadlines of the open top-level processes.
    deadlines: BTreeSet<(Timestamp, u32)>,
    finished: VecDeque<Finished>,
    budget: Budget,
}

impl Transactions {
    pub fn open(&self) -> usize {
        self.procs.len()
    }

    /// Stream and environment bytes held by the open processes.
    pub fn buffered(&self) -> usize {
        self.budget.used
    }

    pub fn handle(
        &mut self,
        now: Timestamp,
        clock: MonoClock,
        record: &Record<'_>,
        limits: &Limits,
        stats: &mut Stats,
    ) {
        match record {
            Record::Exec(e) => self.exec(now, clock, e, limits, stats),
            Record::Env(e) => match self.procs.get_mut(&e.header.pid) {
                Some(p) => p.env.push(e, limits, &mut self.budget, stats),
                None => stats.orphan_records += 1,
            },
            Record::Data(d) => self.data(d, limits, stats),
            Record::Netns(n) => self.netns(n, stats),
            Record::Exit(x) => self.exit(x, limits, stats),
        }
    }

    /// The next finished top-level transaction.
    pub fn poll_finished(&mut self) -> Option<Finished> {
        self.finished.pop_front()
    }

    /// The earliest deadline of an open transaction.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|&(t, _)| t)
    }

    /// Closes every transaction whose deadline is at or before `now`, oldest first.
    pub fn expire(&mut self, now: Timestamp, limits: &Limits, stats: &mut Stats) {
        while let Some(&(deadline, pid)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.close(pid, End::Expired, limits, stats);
        }
    }

    /// Closes every open transaction, its exit unknown: the collector is stopping.
    pub fn shutdown(&mut self, limits: &Limits, stats: &mut Stats) {
        // Every top-level process has a deadline, oldest first; each takes its open
        // children (every other open process) with it.
        while let Some(&(_, pid)) = self.deadlines.first() {
            self.close(pid, End::Stopped, limits, stats);
        }
    }

    fn exec(
        &mut self,
        now: Timestamp,
        clock: MonoClock,
        e: &Exec<'_>,
        limits: &Limits,
        stats: &mut Stats,
    ) {
        let pid = e.header.pid;
        if let Some(p) = self.procs.get_mut(&pid) {
            if p.start_ns == e.start_ns {
                // The same process exec'd again (a wrapper script exec'ing the real plugin):
                // one transaction, new environment, streams counted from 0 again.
                p.env.start(e.env_len, &mut self.budget);
                p.stdin.next_off = 0;
                p.stdout.next_off = 0;
                p.stderr.next_off = 0;
                p.comm = String::from_utf8_lossy(e.comm).into_owned();
                p.plugin = e.path_matched();
                return;
            }
            // Another process with the pid of one whose EXIT never came.
            self.close(pid, End::Expired, limits, stats);
        }
        if self.procs.len() >= limits.max_open {
            stats.transactions_dropped += 1;
            return;
        }
        let parent = Some(e.header.ppid).filter(|pp| self.procs.contains_key(pp));
        let deadline = match parent {
            Some(pp) => {
                if let Some(p) = self.procs.get_mut(&pp) {
                    p.open_children.push(pid);
                }
                None
            }
            None => {
                let ms = i64::try_from(limits.timeout_ms).unwrap_or(i64::MAX / MILLI);
                let deadline = now.add_nanos(ms.saturating_mul(MILLI));
                self.deadlines.insert((deadline, pid));
                Some(deadline)
            }
        };
        let mut env = Environment::default();
        env.start(e.env_len, &mut self.budget);
        self.procs.insert(
            pid,
            Proc {
                pid,
                ppid: e.header.ppid,
                parent,
                start_ns: e.start_ns,
                exec_ns: e.header.ts_ns,
                exec_at: clock.to_wall(e.header.ts_ns),
                deadline,
                comm: String::from_utf8_lossy(e.comm).into_owned(),
                path: String::from_utf8_lossy(e.path).into_owned(),
                path_truncated: e.path_truncated(),
                plugin: e.path_matched(),
                netns_ino: e.netns_ino,
                env,
                stdin: Stream::default(),
                stdout: Stream::default(),
                stderr: Stream::default(),
                netns: NetnsSeen::default(),
                chain: Vec::new(),
                open_children: Vec::new(),
            },
        );
    }

    fn data(&mut self, d: &Data<'_>, limits: &Limits, stats: &mut Stats) {
        let Some(p) = self.procs.get_mut(&d.header.pid) else {
            stats.orphan_records += 1;
            return;
        };
        let stream = match d.fd {
            0 => &mut p.stdin,
            1 => &mut p.stdout,
            2 => &mut p.stderr,
            // The kernel reports only the standard streams.
            _ => return,
        };
        stream.push(d.stream_off, d.data, limits, &mut self.budget, stats);
    }

    fn netns(&mut self, n: &Netns, stats: &mut Stats) {
        let Some(p) = self.procs.get_mut(&n.header.pid) else {
            stats.orphan_records += 1;
            return;
        };
        p.netns.calls += 1;
        if n.ret == 0 && n.netns_ino != p.netns_ino {
            p.netns.entered_ino = Some(n.netns_ino);
        }
    }

    fn exit(&mut self, x: &Exit, limits: &Limits, stats: &mut Stats) {
        if !self.procs.contains_key(&x.header.pid) {
            // A forked child that never exec'd, or a process whose EXEC was lost or refused.
            stats.orphan_records += 1;
            return;
        }
        let end = End::Exited {
            ts_ns: x.header.ts_ns,
            status: x.status(),
        };
        self.close(x.header.pid, end, limits, stats);
    }

    /// Ends `pid`: a delegated child joins its parent's chain, a top-level process is finished.
    /// Children still open end with it, their exit unknown.
    fn close(&mut self, pid: u32, end: End, limits: &Limits, stats: &mut Stats) {
        let Some(mut proc) = self.remove(pid) else {
            return;
        };
        self.wind_up(&mut proc, limits, stats);
        if let Some(p) = proc.parent.and_then(|pp| self.procs.get_mut(&pp)) {
            p.open_children.retain(|&c| c != pid);
            push_chain(&mut p.chain, entry_of(&mut proc, end), limits, stats);
            return;
        }
        match end {
            End::Exited { .. } => stats.transactions += 1,
            End::Expired => stats.transactions_expired += 1,
            End::Stopped => stats.transactions_stopped += 1,
        }
        self.finished.push_back(Finished { proc, end });
    }

    /// What every ending process goes through, top-level or child: its environment is
    /// complete (or counted as not) and its own open children end with it.
    fn wind_up(&mut self, proc: &mut Proc, limits: &Limits, stats: &mut Stats) {
        proc.env.finish(&mut self.budget);
        if proc.env.incomplete {
            stats.env_incomplete += 1;
        }
        self.close_children(proc, limits, stats);
    }

    fn remove(&mut self, pid: u32) -> Option<Proc> {
        let mut proc = self.procs.remove(&pid)?;
        if let Some(deadline) = proc.deadline {
            self.deadlines.remove(&(deadline, pid));
        }
        // The bytes leave the table with it: the finished transaction is built into its event
        // right away, and a child's streams are dropped once it is a chain entry.
        for stream in [&mut proc.stdin, &mut proc.stdout, &mut proc.stderr] {
            stream.release(&mut self.budget);
        }
        Some(proc)
    }

    /// Turns the still-open children of `proc` (and theirs) into chain entries of unknown exit.
    fn close_children(&mut self, proc: &mut Proc, limits: &Limits, stats: &mut Stats) {
        for child in std::mem::take(&mut proc.open_children) {
            let Some(mut c) = self.remove(child) else {
                continue;
            };
            self.wind_up(&mut c, limits, stats);
            push_chain(
                &mut proc.chain,
                entry_of(&mut c, End::Expired),
                limits,
                stats,
            );
        }
    }
}

fn push_chain(chain: &mut Vec<ChainEntry>, entry: ChainEntry, limits: &Limits, stats: &mut Stats) {
    if chain.len() < limits.max_chain {
        chain.push(entry);
    } else {
        stats.chain_entries_cut += 1;
    }
}

/// A delegated child as a chain entry; its exit status only when it exited (not when a signal
/// killed it or its end was not seen); its operation only when it is a plugin (iptables run by
/// portmap inherits `CNI_COMMAND` with the rest of the environment, but was asked nothing).
fn entry_of(proc: &mut Proc, end: End) -> ChainEntry {
    let (duration_ms, exit_code) = match end {
        End::Exited { ts_ns, status } => (
            Some(ts_ns.saturating_sub(proc.exec_ns) as f64 / 1e6),
            match status {
                ExitStatus::Exited(code) => Some(code),
                ExitStatus::Signaled(_) => None,
            },
        ),
        End::Expired | End::Stopped => (None, None),
    };
    ChainEntry {
        plugin_type: proc.binary().to_owned(),
        operation: proc.operation().filter(|_| proc.plugin),
        duration_ms,
        exit_code,
        children: std::mem::take(&mut proc.chain),
    }
}

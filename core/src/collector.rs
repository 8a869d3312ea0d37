//! The [`Collector`] state machine.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::assemble::{Offer, Pending};
use crate::bpf::record::Record;
use crate::bpf::transaction::{Limits, Transactions};
use crate::bpf::{self, MonoClock};
use crate::build;
use crate::conf::{self, FileChange, Files};
use crate::correlate::{self, Correlator};
use crate::event::{Format, Monitor, Origin, UnifiedEvent};
use crate::formats::parse_record;
use crate::proc;
use crate::time::Timestamp;

const MILLI: i64 = 1_000_000;

/// Limits and settings of the core. Every limit bounds memory whatever the input holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// A longer line is cut to this many bytes before it is parsed (and counted).
    pub max_line_bytes: usize,
    /// A multi-line record ends after this many lines.
    pub multiline_max_lines: usize,
    /// A multi-line record ends at this many bytes.
    pub multiline_max_bytes: usize,
    /// A multi-line record with no new line for this long is complete.
    pub multiline_timeout_ms: u64,
    /// Events not yet drained by `poll_event` beyond this many are dropped (and counted).
    pub max_queued_events: usize,
    /// The node this collector runs on, stamped into events when known.
    pub node_name: Option<String>,
    /// The collector's own process id. The runtime runs plugins itself (`CNI_COMMAND=VERSION`
    /// when a plugin binary changes), and the eBPF monitor sees those executions like any
    /// other: executions whose parent is this pid are dropped (and counted), not reported as
    /// CNI operations.
    pub own_pid: Option<u32>,
    /// Config files tracked at once. Each keeps its last good version: `max_config_keys` keys
    /// of at most 0.5 KiB and a summary of at most ~150 KiB, so ~300 KiB at worst with the
    /// defaults (a real config is a few KiB).
    pub max_config_files: usize,
    /// Plugin binaries tracked at once (a few hundred bytes each).
    pub max_plugin_files: usize,
    /// Flattened keys kept of one config file for its key-by-key diff.
    pub max_config_keys: usize,
    /// A plugin execution whose EXIT has not arrived this long after its EXEC was handled is
    /// emitted without it (the process vanished or its records were lost).
    pub transaction_timeout_ms: u64,
    /// Tracked processes (plugins and their children) open at once; more are not tracked.
    pub max_open_transactions: usize,
    /// Bytes kept of each of a process's stdin, stdout and stderr; more is cut.
    pub max_stream_bytes: usize,
    /// Bytes kept of a process's environment block (only `CNI_*` variables are read from it).
    pub max_env_bytes: usize,
    /// Delegated executions kept in one process's chain.
    pub max_chain_entries: usize,
    /// Stream and environment bytes kept over all open processes together; beyond, bytes are
    /// cut (counted in [`bpf::Stats::budget_bytes_cut`], and the event says so). Without it
    /// the eBPF input could hold `max_open_transactions * (3 * max_stream_bytes +
    /// max_env_bytes)`, about 230 MB at the defaults.
    pub max_buffered_bytes: usize,
    /// Join log events to the eBPF transaction they are about (trace ids, `plugin_log`
    /// events, facts added to the transaction's event). Off: events are as without it.
    pub enable_trace_correlation: bool,
    /// A log event joins a transaction whose run is at most this far from the log's time, and
    /// a transaction is kept for matching this long after it finished.
    pub correlation_timeout_ms: u64,
    /// Once the collector reads logs, a finished transaction's event is held this long for log
    /// lines read just after the plugin exited to add their facts to it; a log event naming a
    /// container that no transaction matches yet is held as long (or while a plugin that was
    /// running when it was read still runs, up to `correlation_timeout_ms`) for its transaction
    /// to finish.
    pub correlation_hold_ms: u64,
    /// Transactions kept for matching at once; the oldest is forgotten beyond it.
    pub max_correlated_transactions: usize,
    /// Log events held for their transaction at once; beyond it they are emitted at once.
    pub max_held_log_events: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_line_bytes: 1 << 20,
            multiline_max_lines: 256,
            multiline_max_bytes: 256 << 10,
            multiline_timeout_ms: 1000,
            max_queued_events: 1 << 16,
            node_name: None,
            own_pid: None,
            max_config_files: 256,
            max_plugin_files: 1024,
            max_config_keys: 256,
            transaction_timeout_ms: 5 * 60 * 1000,
            max_open_transactions: 1024,
            max_stream_bytes: 64 << 10,
            max_env_bytes: 32 << 10,
            max_chain_entries: 64,
            max_buffered_bytes: 16 << 20,
            enable_trace_correlation: true,
            correlation_timeout_ms: 30_000,
            correlation_hold_ms: 1000,
            max_correlated_transactions: 4096,
            max_held_log_events: 4096,
        }
    }
}

/// One physical line of a log, without its line terminator.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// The file it came from (`-` for standard input).
    pub source: &'a str,
    /// 1-based line number within the source.
    pub line_no: u64,
    /// Byte offset of the line's first byte within the source.
    pub offset: u64,
    pub bytes: &'a [u8],
    /// Parse only as this format instead of auto-detecting.
    pub format: Option<Format>,
}

/// A request from the core to its runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Every line of `source` before `offset` has been fully handled: a restart may resume
    /// reading there without losing or repeating a record (a multi-line record still pending
    /// holds the checkpoint back at its first line).
    Checkpoint { source: Arc<str>, offset: u64 },
}

/// Why the collector wants to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// A multi-line record has seen no new line for `multiline_timeout_ms`.
    MultilineFlush,
    /// A plugin execution has not exited `transaction_timeout_ms` after its exec.
    TransactionExpired,
    /// An event held for correlation has waited `correlation_hold_ms`.
    CorrelationWindow,
}

/// Counters of everything the collector saw, parsed, skipped or dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub lines: u64,
    /// Records (single or multi-line) handed to the parsers.
    pub records: u64,
    pub events: u64,
    /// Records no parser recognised as CNI-relevant.
    pub ignored: u64,
    pub invalid_utf8_lines: u64,
    pub oversize_lines: u64,
    pub multiline_cut: u64,
    pub events_dropped_queue_full: u64,
    pub events_by_format: BTreeMap<Format, u64>,
    /// Plugin executions of the collector itself (see [`Config::own_pid`]), not reported.
    pub own_executions: u64,
    /// The config and plugin-binary input.
    pub files: conf::Stats,
    /// The eBPF ring-buffer input.
    pub bpf: bpf::Stats,
    /// Joining log events to transactions.
    pub correlation: correlate::Stats,
    /// The /proc scan input.
    pub proc: proc::Stats,
}

#[derive(Debug, Default)]
struct SourceState {
    pending: Option<Pending>,
    format: Option<Format>,
    /// Offset just after the last line received.
    next_offset: u64,
    /// Offset of the pending record's first line.
    pending_offset: u64,
}

/// The Sans-IO collector: inputs through `handle_*`, outputs through `poll_*`.
///
/// After every `handle_*` call, drain in this order until each returns `None`:
/// [`poll_event`](Self::poll_event), [`poll_request`](Self::poll_request), then read
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout) when
/// that time comes. Time is always an argument: the collector never reads a clock.
#[derive(Debug)]
pub struct Collector {
    config: Config,
    // Looked up on every line: a few string comparisons cost less than hashing the name.
    sources: BTreeMap<String, SourceState>,
    events: VecDeque<UnifiedEvent>,
    checkpoints: Checkpoints,
    stats: Stats,
    seq: u64,
    files: Files,
    transactions: Transactions,
    correlator: Correlator,
    procs: proc::track::Tracker,
}

impl Collector {
    pub fn new(config: Config) -> Collector {
        let correlator = Correlator::new(correlate::Settings {
            enabled: config.enable_trace_correlation,
            timeout_ms: config.correlation_timeout_ms,
            hold_ms: config.correlation_hold_ms,
            max_transactions: config.max_correlated_transactions,
            max_held_lines: config.max_held_log_events,
        });
        Collector {
            config,
            sources: BTreeMap::new(),
            events: VecDeque::new(),
            checkpoints: Checkpoints::default(),
            stats: Stats::default(),
            seq: 0,
            files: Files::default(),
            transactions: Transactions::default(),
            correlator,
            procs: proc::track::Tracker::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Events waiting to be drained by [`poll_event`](Self::poll_event).
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// One line of a plugin, kubelet or runtime log.
    pub fn handle_log_line(&mut self, now: Timestamp, line: LogLine<'_>) {
        self.stats.lines += 1;
        self.correlator.reads_logs();
        let mut bytes = line.bytes;
        if let Some(stripped) = bytes.strip_suffix(b"\r") {
            bytes = stripped;
        }
        if bytes.len() > self.config.max_line_bytes {
            self.stats.oversize_lines += 1;
            bytes = &bytes[..self.config.max_line_bytes];
        }
        // `from_utf8` checks valid text faster than `from_utf8_lossy`, which is only needed
        // for the rare invalid line.
        let text = match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                self.stats.invalid_utf8_lines += 1;
                String::from_utf8_lossy(bytes)
            }
        };
        let next_offset = line.offset + line.bytes.len() as u64 + 1;

        // The source's state is looked up in place: taking it out and putting it back would
        // hash twice and copy the source name on every line.
        let state = match self.sources.get_mut(line.source) {
            Some(state) => state,
            None => self.sources.entry(line.source.to_owned()).or_default(),
        };
        state.format = line.format;
        state.next_offset = next_offset;
        let format = state.format;
        let pending_offset = state.pending_offset;
        if let Some(mut pending) = state.pending.take() {
            match pending.offer(
                &text,
                now,
                self.config.multiline_max_lines,
                self.config.multiline_max_bytes,
            ) {
                Offer::Absorbed => {
                    state.pending = Some(pending);
                    return;
                }
                Offer::Completed => {
                    let at = (line.source, pending.first_line, pending_offset);
                    self.emit_record(pending.first_at, at, &pending.text, format);
                    self.checkpoint(line.source, next_offset);
                    return;
                }
                Offer::Rejected => {
                    self.flush(line.source, pending_offset, pending, format);
                    self.checkpoint(line.source, line.offset);
                }
            }
        }
        match Pending::start(&text, line.line_no, now) {
            Some(p) => {
                if let Some(state) = self.sources.get_mut(line.source) {
                    state.pending = Some(p);
                    state.pending_offset = line.offset;
                }
            }
            None => {
                let at = (line.source, line.line_no, line.offset);
                self.emit_record(now, at, &text, format);
                self.checkpoint(line.source, next_offset);
            }
        }
    }

    /// One record of the eBPF probes' ring buffer, as the ring buffer handed it out.
    ///
    /// `now` is the wall-clock time it is handled (deadlines count from it); `clock` turns the
    /// record's `CLOCK_MONOTONIC` time into wall-clock time (see [`MonoClock`]). Records of one
    /// process are assembled until its EXIT; a top-level plugin execution then comes out of
    /// [`poll_event`](Self::poll_event) as one event, with its delegated plugins as its chain.
    ///
    /// # Errors
    /// Bytes that are not a valid record; they are counted in [`bpf::Stats::invalid_records`]
    /// and skipped, and the error says what is wrong with them.
    pub fn handle_bpf_record(
        &mut self,
        now: Timestamp,
        clock: MonoClock,
        bytes: &[u8],
    ) -> Result<(), bpf::record::Error> {
        self.stats.bpf.records += 1;
        self.correlator.reads_bpf();
        let record = Record::parse(bytes).inspect_err(|_| self.stats.bpf.invalid_records += 1)?;
        let limits = self.limits();
        self.transactions
            .handle(now, clock, &record, &limits, &mut self.stats.bpf);
        self.emit_transactions(now);
        if self.correlator.enabled() {
            // An exit may end the wait of log lines read while that plugin ran.
            self.correlator.expire(now, self.oldest_open());
            self.drain_correlator();
        }
        Ok(())
    }

    /// Processes being assembled from the eBPF input, or tracked by the /proc scans, that have
    /// not been reported yet (top-level plugins and their children).
    pub fn open_transactions(&self) -> usize {
        self.transactions.open() + self.procs.open()
    }

    /// One scan of /proc: the CNI plugin processes running at `now` (the fallback of the eBPF
    /// input, see [`proc`]).
    ///
    /// Consecutive snapshots are diffed: a process that appears is tracked, one that vanishes
    /// has ended, and a top-level plugin execution then comes out of
    /// [`poll_event`](Self::poll_event) as one event with `origin.monitor = "proc"`, with the
    /// delegated plugins seen under it as its chain. One still running
    /// `transaction_timeout_ms` after it started is reported then, once.
    pub fn handle_proc_snapshot(&mut self, now: Timestamp, snapshot: &proc::Snapshot) {
        let limits = proc::track::Limits {
            max_open: self.config.max_open_transactions,
            max_chain: self.config.max_chain_entries,
            timeout_ms: self.config.transaction_timeout_ms,
        };
        self.procs
            .handle(now, snapshot, &limits, &mut self.stats.proc);
        while let Some(finished) = self.procs.poll_finished() {
            if self.is_own(finished.proc.ppid) {
                continue;
            }
            self.seq += 1;
            let event = proc::build::event(
                finished,
                self.config.node_name.as_deref(),
                self.config.transaction_timeout_ms,
                self.seq,
            );
            self.transaction_event(now, event);
        }
    }

    /// Stream and environment bytes the open processes hold, within `max_buffered_bytes`.
    pub fn buffered_bytes(&self) -> usize {
        self.transactions.buffered()
    }

    /// The runtime is stopping: whatever is due at `now` is handled as by
    /// [`handle_timeout`](Self::handle_timeout), then every pending multi-line record is
    /// emitted and every plugin execution still open is closed with an event saying the
    /// collector stopped before its exit. Drain [`poll_event`](Self::poll_event) and
    /// [`poll_request`](Self::poll_request) afterwards: nothing the core holds is lost.
    pub fn handle_shutdown(&mut self, now: Timestamp) {
        self.handle_timeout(now);
        let mut pending: Vec<String> = self
            .sources
            .iter()
            .filter(|(_, s)| s.pending.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        // In a fixed order: the core's output never depends on a hash map's.
        pending.sort_unstable();
        for source in pending {
            self.handle_log_end(&source);
        }
        let limits = self.limits();
        self.transactions.shutdown(&limits, &mut self.stats.bpf);
        self.emit_transactions(now);
        self.release_held();
    }

    fn limits(&self) -> Limits {
        Limits {
            max_open: self.config.max_open_transactions,
            max_stream_bytes: self.config.max_stream_bytes,
            max_env_bytes: self.config.max_env_bytes,
            max_chain: self.config.max_chain_entries,
            timeout_ms: self.config.transaction_timeout_ms,
            max_buffered: self.config.max_buffered_bytes,
        }
    }

    fn emit_transactions(&mut self, now: Timestamp) {
        while let Some(finished) = self.transactions.poll_finished() {
            if self.is_own(finished.proc.ppid) {
                continue;
            }
            self.seq += 1;
            let event = bpf::build::event(
                finished,
                self.config.node_name.as_deref(),
                self.config.transaction_timeout_ms,
                self.seq,
            );
            self.transaction_event(now, event);
        }
    }

    /// Whether a plugin execution is the runtime's own `VERSION` probe of a changed plugin
    /// binary (its parent is the collector): not a CNI operation of the node, counted only.
    fn is_own(&mut self, ppid: u32) -> bool {
        let own = self.config.own_pid == Some(ppid);
        if own {
            self.stats.own_executions += 1;
        }
        own
    }

    /// A plugin execution's event, from the probes or the /proc scans: held for the log lines
    /// about it when correlation is on.
    fn transaction_event(&mut self, now: Timestamp, event: UnifiedEvent) {
        if self.correlator.enabled() {
            self.correlator.transaction(now, event);
            self.drain_correlator();
        } else {
            self.push_event(event);
        }
    }

    /// When the oldest plugin execution still open was handled (its deadline is that plus the
    /// transaction timeout).
    fn oldest_open(&self) -> Option<Timestamp> {
        let ms = i64::try_from(self.config.transaction_timeout_ms).unwrap_or(i64::MAX / MILLI);
        let deadline = self.transactions.next_deadline()?;
        Some(deadline.add_nanos(-ms.saturating_mul(MILLI)))
    }

    /// Emits every event held for correlation now, without waiting for its window: the
    /// collector stops, or a replay has no further input.
    pub fn release_held(&mut self) {
        self.correlator.release_all();
        self.drain_correlator();
    }

    /// Moves what the correlator released into the event queue and the checkpoints.
    fn drain_correlator(&mut self) {
        while let Some(event) = self.correlator.poll_released() {
            self.push_event(event);
        }
        while let Some((source, offset)) = self.correlator.poll_checkpoint() {
            self.checkpoints.insert(&source, offset);
        }
        self.stats.correlation.clone_from(&self.correlator.stats);
    }

    /// A CNI config file or plugin binary changed on disk, as the runtime saw it.
    ///
    /// A change that leaves the content as it was gives no event; a config that does not parse
    /// gives an `error` event and its last good version is kept; a change of the directory's
    /// active config (libcni order) gives an event of its own. See [`conf`].
    pub fn handle_file_change(&mut self, now: Timestamp, change: FileChange) {
        let limits = conf::Limits {
            max_configs: self.config.max_config_files,
            max_plugins: self.config.max_plugin_files,
            max_leaves: self.config.max_config_keys,
        };
        let events = self.files.handle(
            now,
            change,
            limits,
            &mut self.seq,
            self.config.node_name.as_deref(),
            &mut self.stats.files,
        );
        for event in events {
            self.push_event(event);
        }
    }

    /// The active config of a config directory: the file a container runtime would load.
    pub fn active_config(&self, dir: &str) -> Option<&str> {
        self.files.active(dir)
    }

    /// Paths of the plugin binaries the file monitor reported present (health's
    /// `cni_plugins_detected`).
    pub fn plugins_detected(&self) -> impl Iterator<Item = &str> {
        self.files.plugins()
    }

    /// The source ended (end of file, or the runtime stops reading it): a pending multi-line
    /// record is complete.
    pub fn handle_log_end(&mut self, source: &str) {
        if let Some(mut state) = self.sources.remove(source) {
            if let Some(p) = state.pending.take() {
                self.flush(source, state.pending_offset, p, state.format);
                self.checkpoint(source, state.next_offset);
            }
        }
    }

    /// Time has reached a deadline given by [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let due: Vec<String> = self
            .sources
            .iter()
            .filter(|(_, s)| {
                s.pending
                    .as_ref()
                    .is_some_and(|p| self.flush_deadline(p) <= now)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for source in due {
            self.handle_log_end(&source);
        }
        let limits = self.limits();
        self.transactions.expire(now, &limits, &mut self.stats.bpf);
        self.emit_transactions(now);
        self.correlator.expire(now, self.oldest_open());
        self.drain_correlator();
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<UnifiedEvent> {
        self.events.pop_front()
    }

    /// The next request to the runtime.
    pub fn poll_request(&mut self) -> Option<Request> {
        let (source, offset) = self.checkpoints.pop_first()?;
        Some(Request::Checkpoint { source, offset })
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, and why.
    pub fn poll_timeout(&self) -> Option<(Timestamp, TimeoutReason)> {
        let expiry = self
            .transactions
            .next_deadline()
            .map(|t| (t, TimeoutReason::TransactionExpired));
        let held = self
            .correlator
            .next_deadline(self.oldest_open())
            .map(|t| (t, TimeoutReason::CorrelationWindow));
        self.sources
            .values()
            .filter_map(|s| s.pending.as_ref())
            .map(|p| (self.flush_deadline(p), TimeoutReason::MultilineFlush))
            .chain(expiry)
            .chain(held)
            .min_by_key(|(t, _)| *t)
    }

    fn flush_deadline(&self, p: &Pending) -> Timestamp {
        let ms = i64::try_from(self.config.multiline_timeout_ms).unwrap_or(i64::MAX / MILLI);
        p.last_at.add_nanos(ms.saturating_mul(MILLI))
    }

    /// Emits a pending record, dated (when it states no time) by its first line's arrival.
    fn flush(&mut self, source: &str, offset: u64, p: Pending, format: Option<Format>) {
        if p.cut {
            self.stats.multiline_cut += 1;
        }
        self.emit_record(p.first_at, (source, p.first_line, offset), &p.text, format);
    }

    fn checkpoint(&mut self, source: &str, offset: u64) {
        // A log event held for its transaction keeps the checkpoint at its first byte.
        let offset = self.correlator.checkpoint(source, offset);
        self.checkpoints.insert(source, offset);
    }

    /// Parses and emits one record that starts at `(source, line number, byte offset)`.
    fn emit_record(
        &mut self,
        now: Timestamp,
        (source, line, offset): (&str, u64, u64),
        text: &str,
        only: Option<Format>,
    ) {
        self.stats.records += 1;
        // The facts are used where the parser returned them: moved out of the `Option` into a
        // binding of their own, they were copied whole (744 bytes).
        let mut parsed = parse_record(text, only);
        let Some(facts) = parsed.as_mut() else {
            self.stats.ignored += 1;
            return;
        };
        if facts.node_name.is_none() {
            facts.node_name.clone_from(&self.config.node_name);
        }
        let format = facts.format;
        if let Some(f) = format {
            *self.stats.events_by_format.entry(f).or_default() += 1;
        }
        let origin = Origin {
            monitor: Monitor::Log,
            file: Some(self.checkpoints.name(source)),
            line: Some(line),
            format,
        };
        self.seq += 1;
        let correlate = self.correlator.enabled();
        if correlate {
            // What the correlator releases by now (transactions it forgets) comes first.
            self.correlator.forget_old(now);
            self.drain_correlator();
        }
        // Built straight into the queue, and joined there: moving the event in afterwards
        // copied its 1.3 KB.
        let event = build::event_from(facts, origin, Some(text), now, self.seq);
        self.events.push_back(event);
        if correlate {
            let hold = self
                .events
                .back_mut()
                .and_then(|e| self.correlator.log_event(now, e));
            self.stats.correlation.clone_from(&self.correlator.stats);
            if let Some(index) = hold {
                if let Some(event) = self.events.pop_back() {
                    self.correlator
                        .hold_line(now, event, (source, offset), index);
                }
                return;
            }
        }
        self.admit_last();
    }

    fn push_event(&mut self, event: UnifiedEvent) {
        self.events.push_back(event);
        self.admit_last();
    }

    /// Counts the event just queued, dropping the oldest one before it when the queue was
    /// full (a bound of 0 keeps only the newest, and counts it as a drop, as it always did).
    fn admit_last(&mut self) {
        let before = self.events.len().saturating_sub(1);
        if before >= self.config.max_queued_events {
            if before > 0 {
                self.events.pop_front();
            }
            self.stats.events_dropped_queue_full += 1;
        }
        self.stats.events += 1;
    }
}

/// Most source names remembered for reuse; past it they are forgotten and named afresh.
const MAX_SOURCE_NAMES: usize = 1024;

/// Checkpoints not yet requested, at most one per source, taken in source name order. A
/// request shares its source's name, so a line of a known source allocates nothing (a copy of
/// the name per line cost more than parsing some lines).
#[derive(Debug, Default)]
struct Checkpoints {
    /// `(source, offset)`, sorted by source from last to first, so that the first is taken
    /// without moving the others: a handful of sources at most.
    pending: Vec<(Arc<str>, u64)>,
    /// Names already made, sorted; bounded by [`MAX_SOURCE_NAMES`].
    names: Vec<Arc<str>>,
    /// The name made or found last: lines come in runs from one source, and each line asks
    /// for its name twice (the event's origin, the checkpoint).
    last: Option<Arc<str>>,
}

impl Checkpoints {
    /// Sets the checkpoint of `source`, replacing one not yet taken.
    fn insert(&mut self, source: &str, offset: u64) {
        match self.pending.binary_search_by(|(s, _)| source.cmp(s)) {
            Ok(i) => self.pending[i].1 = offset,
            Err(i) => {
                let name = self.name(source);
                self.pending.insert(i, (name, offset));
            }
        }
    }

    /// The checkpoint of the first source by name.
    fn pop_first(&mut self) -> Option<(Arc<str>, u64)> {
        self.pending.pop()
    }

    /// The shared name of `source`, made once.
    fn name(&mut self, source: &str) -> Arc<str> {
        if let Some(last) = self.last.as_ref().filter(|l| ***l == *source) {
            return Arc::clone(last);
        }
        let name = match self.names.binary_search_by(|s| (**s).cmp(source)) {
            Ok(i) => Arc::clone(&self.names[i]),
            Err(i) => {
                let name: Arc<str> = Arc::from(source);
                if self.names.len() >= MAX_SOURCE_NAMES {
                    self.names.clear();
                    self.names.push(Arc::clone(&name));
                } else {
                    self.names.insert(i, Arc::clone(&name));
                }
                name
            }
        };
        self.last = Some(Arc::clone(&name));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::{Checkpoints, MAX_SOURCE_NAMES};

    #[test]
    fn checkpoints_come_once_per_source_in_name_order_with_the_latest_offset() {
        let mut c = Checkpoints::default();
        c.insert("b.log", 1);
        c.insert("a.log", 5);
        c.insert("b.log", 9);
        assert_eq!(c.pop_first(), Some(("a.log".into(), 5)));
        assert_eq!(c.pop_first(), Some(("b.log".into(), 9)));
        assert_eq!(c.pop_first(), None);
        c.insert("a.log", 7);
        assert_eq!(c.pop_first(), Some(("a.log".into(), 7)));
    }

    #[test]
    fn remembered_names_stay_bounded_and_right() {
        let mut c = Checkpoints::default();
        for i in 0..MAX_SOURCE_NAMES * 3 {
            let name = format!("{i:05}.log");
            c.insert(&name, i as u64);
            assert_eq!(c.pop_first(), Some((name.as_str().into(), i as u64)));
            assert!(c.names.len() <= MAX_SOURCE_NAMES);
        }
        c.insert("00001.log", 3);
        assert_eq!(c.pop_first(), Some(("00001.log".into(), 3)));
    }
}

//! Joins the events of one CNI transaction under one deterministic W3C trace id.
//!
//! The eBPF event of a top-level plugin execution is the authoritative record of a transaction.
//! Its trace id is a hash of (container id, operation, start time), so the same inputs always give
//! the same id. A log event that names the transaction's container id (in full, or a truncated
//! prefix of at least [`MIN_PREFIX`] hex digits as Calico and the AWS VPC CNI print it), with a
//! compatible operation and a time within `correlation_timeout` of the transaction, joins it: it
//! takes the trace id, becomes a `plugin_log` event (its parsed category kept in
//! `attributes["parsed_category"]`, so that a log line about a setup is not counted as a second
//! setup) and points at the transaction's event in `attributes["transaction_event_id"]`.
//!
//! Once the collector reads logs, a finished transaction's event is held for
//! `correlation_hold_ms` so that log lines read just after the plugin exited still add their
//! facts to it (Cilium endpoint id, Calico workload endpoint, IPAM block, the plugin's own error
//! text, addresses); a line read later still joins it, but its event has left. Once the collector
//! reads eBPF records, a log line naming a container that no known transaction matches is held
//! too, because a transaction's event only exists once the plugin has exited, while the plugin
//! logs as it runs: for `correlation_hold_ms`, or longer while a plugin execution that was already
//! running when the line was read still runs (at most `correlation_timeout` after the line was
//! read). When its transaction finishes meanwhile, the line joins it; otherwise it leaves
//! unchanged. While a line is held, the checkpoint of its source stays at the line's first byte,
//! so a restart repeats the line rather than losing it. When the input ends,
//! [`Collector::release_held`](crate::Collector::release_held) lets everything held leave.
//!
//! Memory is bounded: at most `max_correlated_transactions` transactions are kept for matching,
//! each for at most `correlation_timeout`, and at most `max_held_log_events` log events are
//! held; what goes over is forgotten (its event, if held, leaves at once) or emitted at once, and
//! counted. Nothing depends on anything but the inputs and their order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::event::{Category, Monitor, Operation, TraceContext, UnifiedEvent};
use crate::time::Timestamp;

/// The shortest truncated container id that is matched as a prefix of a full one.
pub const MIN_PREFIX: usize = 12;

const MILLI: i64 = 1_000_000;

/// Attributes of a log line that describe its transaction (rather than the line, as `caller`
/// or `subsys` do), and so are added to the transaction's event.
const TRANSACTION_ATTRIBUTES: [&str; 23] = [
    "bridge",
    "calico_namespace",
    "chained_plugin",
    "cilium_endpoint_name",
    "container_veth",
    "delegate_network",
    "device_number",
    "endpoint_id",
    "eni_mac",
    "identity",
    "identity_labels",
    "ipam_block",
    "ipam_handle",
    "ipam_pool",
    "mtu",
    "network_attachment",
    "network_card",
    "pod_sandbox_id",
    "route_table",
    "teardown_error",
    "vlan_id",
    "workload",
    "workload_endpoint",
];

/// What correlation does, from the core's [`Config`](crate::Config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub enabled: bool,
    pub timeout_ms: u64,
    pub hold_ms: u64,
    pub max_transactions: usize,
    pub max_held_lines: usize,
}

/// Counters of the correlation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Log events joined to a transaction.
    pub correlated_lines: u64,
    /// Of them, those whose facts were added to the transaction's event (it was still held).
    pub enriching_lines: u64,
    /// Log events that could belong to more than one transaction: joined to none.
    pub ambiguous_lines: u64,
    /// Transactions forgotten for matching `correlation_timeout` after they finished.
    pub expired: u64,
    /// Transactions forgotten early because `max_correlated_transactions` were kept.
    pub evicted: u64,
    /// Log events emitted without waiting for their transaction because
    /// `max_held_log_events` were already held.
    pub held_lines_overflow: u64,
}

/// A finished transaction, kept for matching.
#[derive(Debug)]
struct Known {
    key: u64,
    container_id: String,
    operation: Option<Operation>,
    start: Timestamp,
    end: Timestamp,
    trace_id: String,
    event_id: String,
    seen_at: Timestamp,
    /// The id of its event's [`Held`] entry while that is held.
    held: Option<u64>,
}

#[derive(Debug)]
enum Waiting {
    /// The event of [`Known`] `key`, waiting for log lines to enrich it.
    Transaction { key: u64 },
    /// A log event waiting for its transaction; `resume` is the offset of its first byte.
    Line { source: String, resume: u64 },
}

#[derive(Debug)]
struct Held {
    /// Increasing along its hold queue.
    id: u64,
    deadline: Timestamp,
    event: UnifiedEvent,
    waiting: Waiting,
}

/// The checkpoint of a source that has held lines.
#[derive(Debug, Default)]
struct Deferred {
    /// The offset the collector last asked for.
    wanted: Option<u64>,
    /// First-byte offsets of the source's held lines, with how many start there.
    held: BTreeMap<u64, usize>,
}

impl Deferred {
    /// Where a restart must resume: the first held line, else what the collector asked for;
    /// nothing while the collector has asked for no checkpoint.
    fn offset(&self) -> Option<u64> {
        let wanted = self.wanted?;
        let first = self.held.first_key_value().map(|(&at, _)| at);
        Some(first.map_or(wanted, |f| f.min(wanted)))
    }
}

/// Which known transaction a log event belongs to.
#[derive(Debug, PartialEq, Eq)]
enum Match {
    None,
    One(usize),
    Ambiguous,
}

/// The correlation state of a [`Collector`](crate::Collector).
#[derive(Debug)]
pub(crate) struct Correlator {
    settings: Settings,
    /// Oldest first, so keys increase along it.
    known: VecDeque<Known>,
    /// Keys of the known transactions by [`index_key`] of their container id: a log line is
    /// matched against a few candidates, not the whole table.
    by_container: HashMap<String, Vec<u64>>,
    /// Held transaction events, oldest first, so ids increase along it.
    txns: VecDeque<Held>,
    /// Held log events, oldest first, so ids increase along it.
    lines: VecDeque<Held>,
    /// Ids of the held lines by [`index_key`] of the container they name: a finished
    /// transaction looks only at the lines that may be its own.
    lines_by_container: HashMap<String, Vec<u64>>,
    /// Sources with held lines.
    deferred: HashMap<String, Deferred>,
    /// Events that left the hold, for the collector to emit.
    released: VecDeque<UnifiedEvent>,
    /// Checkpoints the collector may now publish, in order.
    checkpoints: VecDeque<(String, u64)>,
    /// The last key of a known transaction or id of a held entry (one counter for both).
    next_key: u64,
    /// Set once a log line has been handled: only then can a held transaction gain anything.
    reads_logs: bool,
    /// Set once a ring-buffer record has been handled: only then can a held line's transaction
    /// come (a collector of logs alone never delays a line).
    reads_bpf: bool,
    pub stats: Stats,
}

impl Correlator {
    pub fn new(settings: Settings) -> Correlator {
        Correlator {
            settings,
            known: VecDeque::new(),
            by_container: HashMap::new(),
            txns: VecDeque::new(),
            lines: VecDeque::new(),
            lines_by_container: HashMap::new(),
            deferred: HashMap::new(),
            released: VecDeque::new(),
            checkpoints: VecDeque::new(),
            next_key: 0,
            reads_logs: false,
            reads_bpf: false,
            stats: Stats::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// The collector handles log input: transaction events are held from now on.
    pub fn reads_logs(&mut self) {
        self.reads_logs = true;
    }

    /// The collector handles eBPF input: lines naming an unknown container are held from now on.
    pub fn reads_bpf(&mut self) {
        self.reads_bpf = true;
    }

    fn hold_ns(&self) -> i64 {
        ms_to_ns(self.settings.hold_ms)
    }

    /// A transaction's eBPF event: gets its trace id, and is held when logs may enrich it.
    pub fn transaction(&mut self, now: Timestamp, mut event: UnifiedEvent) {
        self.forget_old(now);
        let (container_id, operation) = match &event.cni {
            Some(cni) => (cni.container_id.clone().unwrap_or_default(), cni.operation),
            None => (String::new(), None),
        };
        let trace_id = trace_id(&container_id, operation, event.timestamp);
        event.trace_context = Some(Box::new(TraceContext {
            span_id: span_id(&trace_id, &event.id),
            trace_id: trace_id.clone(),
        }));
        // Nothing can name a transaction without a container id.
        if container_id.is_empty() || self.settings.max_transactions == 0 {
            self.released.push_back(event);
            return;
        }
        let latency_ns = event
            .performance
            .as_ref()
            .and_then(|p| p.latency_ms)
            .map_or(0, |ms| (ms * 1e6) as i64);
        if self.known.len() >= self.settings.max_transactions {
            self.stats.evicted += 1;
            self.forget_front();
        }
        self.next_key += 1;
        let key = self.next_key;
        self.by_container
            .entry(index_key(&container_id).into_owned())
            .or_default()
            .push(key);
        self.known.push_back(Known {
            key,
            container_id,
            operation,
            start: event.timestamp,
            end: event.timestamp.add_nanos(latency_ns),
            trace_id,
            event_id: event.id.clone(),
            seen_at: now,
            held: None,
        });
        if self.reads_logs && self.settings.hold_ms > 0 {
            let id = self.hold(now, event, Waiting::Transaction { key });
            if let Some(k) = self.known.back_mut() {
                k.held = Some(id);
            }
            self.adopt_waiting_lines();
        } else {
            self.released.push_back(event);
        }
    }

    /// Joins a log event to its transaction in place when it can. Returns the key to hold it
    /// under when it must wait for its transaction to finish: the caller then passes it to
    /// [`hold_line`](Self::hold_line). The event stays where the caller built it: moving its
    /// 1.3 KB in and out again cost more than deciding.
    pub fn log_event(&mut self, now: Timestamp, event: &mut UnifiedEvent) -> Option<String> {
        self.forget_old(now);
        let (cid, op) = joinable(event)?;
        match self.find(cid, op, event.timestamp) {
            Match::One(i) => self.join(i, event),
            Match::Ambiguous => self.stats.ambiguous_lines += 1,
            Match::None if self.settings.hold_ms == 0 || !self.reads_bpf => {}
            Match::None if self.lines.len() >= self.settings.max_held_lines => {
                self.stats.held_lines_overflow += 1;
            }
            Match::None => return Some(index_key(cid).into_owned()),
        }
        None
    }

    /// Holds a log event read from `source`, whose first byte is at `resume`, under the key
    /// [`log_event`](Self::log_event) gave.
    pub fn hold_line(
        &mut self,
        now: Timestamp,
        event: UnifiedEvent,
        (source, resume): (&str, u64),
        index: String,
    ) {
        let deferred = self.deferred.entry(source.to_owned()).or_default();
        *deferred.held.entry(resume).or_default() += 1;
        let waiting = Waiting::Line {
            source: source.to_owned(),
            resume,
        };
        let id = self.hold(now, event, waiting);
        self.lines_by_container.entry(index).or_default().push(id);
    }

    /// The offset to checkpoint `source` at when the collector asks for `offset`: held back at
    /// the first held line of the source, if any.
    pub fn checkpoint(&mut self, source: &str, offset: u64) -> u64 {
        if self.deferred.is_empty() {
            return offset;
        }
        let Some(d) = self.deferred.get_mut(source) else {
            return offset;
        };
        d.wanted = Some(offset);
        d.offset().unwrap_or(offset)
    }

    /// Releases every held event whose window ended by `now`. `oldest_open` is when the
    /// oldest plugin execution still running was seen to start: a line read while it ran waits
    /// for it to finish (it may be that run's), up to `correlation_timeout` after it was read.
    pub fn expire(&mut self, now: Timestamp, oldest_open: Option<Timestamp>) {
        while self.txns.front().is_some_and(|h| h.deadline <= now) {
            self.release_txn(0);
        }
        while let Some(line) = self.lines.front() {
            if line.deadline > now || now < self.line_wake(line, oldest_open) {
                break;
            }
            self.release_line(0);
        }
        self.forget_old(now);
    }

    /// Releases every held event at once (the collector stops, or a replay ends).
    pub fn release_all(&mut self) {
        while !self.txns.is_empty() {
            self.release_txn(0);
        }
        while !self.lines.is_empty() {
            self.release_line(0);
        }
    }

    /// When the next held event is due, given `oldest_open` as for [`expire`](Self::expire).
    pub fn next_deadline(&self, oldest_open: Option<Timestamp>) -> Option<Timestamp> {
        let txn = self.txns.front().map(|h| h.deadline);
        let line = self.lines.front().map(|l| self.line_wake(l, oldest_open));
        txn.into_iter().chain(line).min()
    }

    /// When held line `l` may leave: at its deadline, unless a plugin that was running when it
    /// was read still runs; then when the timeout since it was read ends (or earlier, when that
    /// plugin's exit is handled).
    fn line_wake(&self, l: &Held, oldest_open: Option<Timestamp>) -> Timestamp {
        let arrived = l.deadline.add_nanos(-self.hold_ns());
        if oldest_open.is_some_and(|o| o <= arrived) {
            l.deadline
                .max(arrived.add_nanos(ms_to_ns(self.settings.timeout_ms)))
        } else {
            l.deadline
        }
    }

    pub fn poll_released(&mut self) -> Option<UnifiedEvent> {
        self.released.pop_front()
    }

    pub fn poll_checkpoint(&mut self) -> Option<(String, u64)> {
        self.checkpoints.pop_front()
    }

    /// Holds `event` for the hold window; returns its entry's id.
    fn hold(&mut self, now: Timestamp, event: UnifiedEvent, waiting: Waiting) -> u64 {
        self.next_key += 1;
        let id = self.next_key;
        let queue = match waiting {
            Waiting::Transaction { .. } => &mut self.txns,
            Waiting::Line { .. } => &mut self.lines,
        };
        queue.push_back(Held {
            id,
            deadline: now.add_nanos(ms_to_ns(self.settings.hold_ms)),
            event,
            waiting,
        });
        id
    }

    /// Emits held transaction event `i`.
    fn release_txn(&mut self, i: usize) {
        let Some(held) = self.txns.remove(i) else {
            return;
        };
        if let Waiting::Transaction { key } = held.waiting {
            if let Some(k) = self.position(key) {
                self.known[k].held = None;
            }
        }
        self.released.push_back(held.event);
    }

    /// Emits held line `i`.
    fn release_line(&mut self, i: usize) {
        if let Some(held) = self.take_line(i) {
            self.released.push_back(held.event);
        }
    }

    /// Takes held line `i` out of the hold; its source may then checkpoint further.
    fn take_line(&mut self, i: usize) -> Option<Held> {
        let held = self.lines.remove(i)?;
        if let Waiting::Line { source, resume } = &held.waiting {
            self.publish(source, *resume);
        }
        if let Some((cid, _)) = joinable(&held.event) {
            let index = index_key(cid);
            if let Some(ids) = self.lines_by_container.get_mut(index.as_ref()) {
                ids.retain(|&id| id != held.id);
                if ids.is_empty() {
                    self.lines_by_container.remove(index.as_ref());
                }
            }
        }
        Some(held)
    }

    /// A held line of `source` starting at `resume` has left: the checkpoint may move on.
    fn publish(&mut self, source: &str, resume: u64) {
        let Some(d) = self.deferred.get_mut(source) else {
            return;
        };
        if let Some(n) = d.held.get_mut(&resume) {
            *n -= 1;
            if *n == 0 {
                d.held.remove(&resume);
            }
        }
        let offset = d.offset();
        if d.held.is_empty() {
            self.deferred.remove(source);
        }
        if let Some(offset) = offset {
            self.checkpoints.push_back((source.to_owned(), offset));
        }
    }

    /// Held lines that the newest transaction settles. Only lines naming its container can be,
    /// and for them it is the only candidate: no transaction known before matched them.
    fn adopt_waiting_lines(&mut self) {
        let Some(newest) = self.known.back() else {
            return;
        };
        let index = index_key(&newest.container_id);
        let Some(ids) = self.lines_by_container.get(index.as_ref()).cloned() else {
            return;
        };
        for id in ids {
            let Some(i) = position_of(&self.lines, id) else {
                continue;
            };
            let line = &self.lines[i].event;
            let found = joinable(line).map(|(cid, op)| self.find(cid, op, line.timestamp));
            if let Some(Match::One(k)) = found {
                let Some(mut held) = self.take_line(i) else {
                    continue;
                };
                self.join(k, &mut held.event);
                self.released.push_back(held.event);
            }
        }
    }

    /// Joins `line` to known transaction `i`, and adds its facts to the transaction's event
    /// while that is held.
    fn join(&mut self, i: usize, line: &mut UnifiedEvent) {
        let k = &self.known[i];
        let held = k.held;
        let pointer = TraceContext {
            trace_id: k.trace_id.clone(),
            span_id: span_id(&k.trace_id, &line.id),
        };
        let event_id = k.event_id.clone();
        self.stats.correlated_lines += 1;
        if let Some(i) = held.and_then(|id| position_of(&self.txns, id)) {
            enrich(&mut self.txns[i].event, line);
            self.stats.enriching_lines += 1;
        }
        line.attributes
            .insert("parsed_category".into(), line.category.as_str().to_owned());
        line.attributes
            .insert("transaction_event_id".into(), event_id);
        line.category = Category::PluginLog;
        line.trace_context = Some(Box::new(pointer));
    }

    /// The known transaction a log event naming `cid` (and `op`, when it states one) at `at`
    /// belongs to: the one whose run is closest to `at`, within the timeout. Two transactions of
    /// different containers (a prefix both share), or two equally close, are ambiguous.
    fn find(&self, cid: &str, op: Option<Operation>, at: Timestamp) -> Match {
        let window = ms_to_ns(self.settings.timeout_ms);
        let mut best: Option<(usize, i64)> = None;
        let mut tie = false;
        let mut container: Option<&str> = None;
        if self.known.is_empty() {
            return Match::None;
        }
        let Some(keys) = self.by_container.get(index_key(cid).as_ref()) else {
            return Match::None;
        };
        for &key in keys {
            let Some(i) = self.position(key) else {
                continue;
            };
            let k = &self.known[i];
            if !names(cid, &k.container_id) || (op.is_some() && op != k.operation) {
                continue;
            }
            let distance = distance(at, k.start, k.end);
            if distance > window {
                continue;
            }
            match container {
                Some(c) if c != k.container_id => return Match::Ambiguous,
                _ => container = Some(&k.container_id),
            }
            match best {
                Some((_, d)) if d < distance => {}
                Some((_, d)) if d == distance => tie = true,
                _ => {
                    best = Some((i, distance));
                    tie = false;
                }
            }
        }
        match best {
            None => Match::None,
            Some(_) if tie => Match::Ambiguous,
            Some((i, _)) => Match::One(i),
        }
    }

    fn position(&self, key: u64) -> Option<usize> {
        self.known.binary_search_by_key(&key, |k| k.key).ok()
    }

    /// Forgets transactions older than the timeout.
    /// Forgets the transactions whose window ended by `now`, releasing their held events.
    pub fn forget_old(&mut self, now: Timestamp) {
        let window = ms_to_ns(self.settings.timeout_ms);
        while self
            .known
            .front()
            .is_some_and(|k| k.seen_at.add_nanos(window) <= now)
        {
            self.stats.expired += 1;
            self.forget_front();
        }
    }

    /// Forgets the oldest transaction; its event leaves now if it is still held.
    fn forget_front(&mut self) {
        let Some(k) = self.known.pop_front() else {
            return;
        };
        let index = index_key(&k.container_id);
        if let Some(keys) = self.by_container.get_mut(index.as_ref()) {
            keys.retain(|&key| key != k.key);
            if keys.is_empty() {
                self.by_container.remove(index.as_ref());
            }
        }
        if let Some(i) = k.held.and_then(|id| position_of(&self.txns, id)) {
            self.release_txn(i);
        }
    }
}

/// Where the entry `id` is in `queue`, whose ids increase along it.
fn position_of(queue: &VecDeque<Held>, id: u64) -> Option<usize> {
    queue.binary_search_by_key(&id, |h| h.id).ok()
}

/// The container id and operation of a log event that may join a transaction.
fn joinable(event: &UnifiedEvent) -> Option<(&str, Option<Operation>)> {
    if event.origin.monitor != Monitor::Log
        || matches!(event.category, Category::ConfigChange | Category::Collector)
    {
        return None;
    }
    let cni = event.cni.as_ref();
    let cid = cni
        .and_then(|c| c.container_id.as_deref())
        .or_else(|| event.kubernetes.as_ref()?.container_id.as_deref())?;
    Some((cid, cni.and_then(|c| c.operation)))
}

/// The part of a container id that every id naming it shares: its first [`MIN_PREFIX`] bytes,
/// in lower case (copied only when it is not already, which ids rarely are).
fn index_key(id: &str) -> Cow<'_, str> {
    let key = id.get(..MIN_PREFIX).unwrap_or(id);
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(key.to_ascii_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

/// Whether a log's container id `named` names the transaction's `full` id.
fn names(named: &str, full: &str) -> bool {
    if named == full {
        return true;
    }
    named.len() >= MIN_PREFIX
        && named.len() < full.len()
        && named.bytes().all(|b| b.is_ascii_hexdigit())
        && full.as_bytes()[..named.len()].eq_ignore_ascii_case(named.as_bytes())
}

/// Nanoseconds from `at` to the run `[start, end]`; 0 inside it.
fn distance(at: Timestamp, start: Timestamp, end: Timestamp) -> i64 {
    let (at, start, end) = (at.unix_nanos(), start.unix_nanos(), end.unix_nanos());
    if at < start {
        start.saturating_sub(at)
    } else if at > end {
        at.saturating_sub(end)
    } else {
        0
    }
}

/// Adds what `line` states and `txn` lacks; the kernel's facts always win.
fn enrich(txn: &mut UnifiedEvent, line: &UnifiedEvent) {
    for (k, v) in &line.attributes {
        if TRANSACTION_ATTRIBUTES.contains(&k.as_ref()) {
            txn.attributes.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(error) = line.cni.as_ref().and_then(|c| c.error.as_ref()) {
        let failed = txn.performance.as_ref().and_then(|p| p.success) == Some(false);
        match txn.cni.as_mut() {
            Some(cni) if failed && cni.error.is_none() => cni.error = Some(error.clone()),
            _ => {
                txn.attributes
                    .entry("log_error".into())
                    .or_insert_with(|| error.msg.clone());
            }
        }
    }
    if let Some(from) = &line.network {
        let to = txn.network.get_or_insert_with(Default::default);
        fill(&mut to.ip_address, &from.ip_address);
        fill(&mut to.subnet, &from.subnet);
        fill(&mut to.gateway, &from.gateway);
        fill(&mut to.mac, &from.mac);
        fill(&mut to.host_interface, &from.host_interface);
    }
    if let (Some(from), Some(to)) = (&line.kubernetes, txn.kubernetes.as_mut()) {
        fill(&mut to.pod_name, &from.pod_name);
        fill(&mut to.namespace, &from.namespace);
        fill(&mut to.pod_uid, &from.pod_uid);
    }
}

fn fill(slot: &mut Option<String>, from: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(from);
    }
}

fn ms_to_ns(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX / MILLI)
        .saturating_mul(MILLI)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// A second offset basis for the high half of a 128-bit id: the high 64 bits of the FNV-128
/// offset basis.
const FNV_OFFSET_HIGH: u64 = 0x6c62_272e_07bb_0142;

/// FNV-1a 64 over `parts`, each followed by a 0 byte so that ("ab","c") and ("a","bc") differ.
/// Written out because `DefaultHasher` may change between Rust versions and ids must not.
fn fnv1a(basis: u64, parts: &[&[u8]]) -> u64 {
    let mut h = basis;
    for part in parts {
        for &b in part.iter().chain(&[0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    h
}

/// The W3C trace id (32 lower-case hex digits, never all zero) of a transaction.
pub fn trace_id(container_id: &str, operation: Option<Operation>, start: Timestamp) -> String {
    let nanos = start.unix_nanos().to_le_bytes();
    let parts: [&[u8]; 3] = [
        container_id.as_bytes(),
        operation.map_or("", Operation::as_str).as_bytes(),
        &nanos,
    ];
    let high = fnv1a(FNV_OFFSET_HIGH, &parts);
    let low = fnv1a(FNV_OFFSET, &parts).max(1);
    format!("{high:016x}{low:016x}")
}

/// The W3C span id (16 lower-case hex digits, never all zero) of one event of a trace.
pub fn span_id(trace_id: &str, event_id: &str) -> String {
    let h = fnv1a(FNV_OFFSET, &[trace_id.as_bytes(), event_id.as_bytes()]).max(1);
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;

//! The probes feeding the core's `Collector` as a runtime's loop does, and the clocks it is
//! fed with.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proto::{Collector, Config, MonoClock, Timestamp, UnifiedEvent};
use tapio_cni_bpf::Probes;

use super::load_probes;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

fn clock_ns(clock: i32) -> i64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec (64-bit fields on the 64-bit Linux targets
    // these tests run on).
    let rc = unsafe { clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC`, as a runtime samples it.
pub fn sample_clock() -> MonoClock {
    const REALTIME: i32 = 0;
    const MONOTONIC: i32 = 1;
    let mono = clock_ns(MONOTONIC);
    MonoClock {
        realtime_minus_monotonic_ns: clock_ns(REALTIME) - mono,
    }
}

/// The wall clock now, as a runtime stamps what it hands the collector.
pub fn wall_now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    Timestamp::from_unix_nanos(i64::try_from(since.as_nanos()).expect("before 2262"))
}

/// The probes feeding a collector, as a runtime's loop does.
pub struct Live {
    pub probes: Probes,
    pub collector: Collector,
    pub clock: MonoClock,
    /// The events not taken yet.
    pub events: Vec<UnifiedEvent>,
    /// Every record, as the ring buffer handed it out.
    pub records: Vec<Vec<u8>>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            probes: load_probes(),
            collector: Collector::new(Config::default()),
            clock: sample_clock(),
            events: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Hands what the ring buffer holds to the collector, waiting up to `wait` for a record.
    pub fn poll(&mut self, wait: Duration) -> usize {
        let Live {
            probes,
            collector,
            clock,
            events,
            records,
        } = self;
        let n = probes
            .poll(wait, |record| {
                records.push(record.to_vec());
                collector
                    .handle_bpf_record(wall_now(), *clock, record)
                    .unwrap_or_else(|e| panic!("the kernel's record is invalid: {e}"));
            })
            .expect("polling the ring buffer");
        while let Some(e) = collector.poll_event() {
            events.push(e);
        }
        n
    }

    /// Polls until there is an event for each of `pids`, or fails after 20 s; returns them by
    /// pid (and leaves the others).
    pub fn events_of(&mut self, pids: &[u32]) -> BTreeMap<u32, UnifiedEvent> {
        let wanted: HashSet<u32> = pids.iter().copied().collect();
        let mut found = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut rest = Vec::new();
            for e in self.events.drain(..) {
                match pid_of(&e).filter(|p| wanted.contains(p)) {
                    Some(pid) => {
                        let before = found.insert(pid, e);
                        assert!(before.is_none(), "two events for pid {pid}: {before:#?}");
                    }
                    None => rest.push(e),
                }
            }
            self.events = rest;
            if found.len() == wanted.len() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no event for pids {:?}; stats: {:#?}",
                wanted
                    .iter()
                    .filter(|p| !found.contains_key(p))
                    .collect::<Vec<_>>(),
                self.collector.stats().bpf
            );
            self.poll(Duration::from_millis(100));
        }
    }

    /// Polls until there is an event for `pid`, or fails after 20 s.
    pub fn event_of(&mut self, pid: u32) -> UnifiedEvent {
        self.events_of(&[pid])
            .remove(&pid)
            .expect("events_of returns every pid")
    }

    /// Nothing lost between the kernel and the events.
    pub fn assert_nothing_lost(&mut self) {
        let stats = &self.collector.stats().bpf;
        assert_eq!(stats.invalid_records, 0, "{stats:#?}");
        assert_eq!(stats.stream_gaps, 0, "{stats:#?}");
        assert_eq!(stats.env_incomplete, 0, "{stats:#?}");
        assert_eq!(stats.transactions_dropped, 0, "{stats:#?}");
        assert_eq!(stats.stream_bytes_cut, 0, "{stats:#?}");
        assert_eq!(stats.budget_bytes_cut, 0, "{stats:#?}");
        assert_eq!(stats.chain_entries_cut, 0, "{stats:#?}");
        assert_eq!(self.probes.dropped().expect("reading drops"), 0);
    }
}

/// The pid of the plugin `e` is about.
pub fn pid_of(e: &UnifiedEvent) -> Option<u32> {
    e.system.as_ref().and_then(|s| s.pid)
}

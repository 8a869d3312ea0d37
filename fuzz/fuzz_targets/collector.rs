//! The collector fed an arbitrary sequence of inputs — log lines on several sources, BPF
//! ring-buffer records of every kind with a fuzzed header and body, and config file changes —
//! with time moving forward and
//! timeouts fired as a runtime would: never a panic, and memory stays bounded (the event queue and
//! the open transactions never exceed their limits).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use proto::bpf::{layout, MonoClock};
use proto::{Body, ChangeKind, Collector, Config, FileChange, Format, LogLine, Role, Timestamp};

/// Config files for the file changes: one that loads, one that does not, one never loaded.
const CONF_PATHS: [&str; 3] = [
    "/etc/cni/net.d/10-a.conflist",
    "/etc/cni/net.d/20-b.conf",
    "/etc/cni/net.d/30-c.conf.bak",
];
const CONF: &[u8] = include_bytes!("../../fixtures/conf/10-containerd-net.conflist");

#[derive(Debug, Arbitrary)]
enum Step {
    Line {
        source: u8,
        bytes: Vec<u8>,
        forced: Option<u8>,
    },
    End {
        source: u8,
    },
    /// A record of the size its kind requires (or of any size when `kind` is out of range), with
    /// a few pids so that processes meet, and the rest of the bytes from the fuzzer.
    Bpf {
        kind: u8,
        pid: u8,
        ppid: u8,
        ts_ms: u16,
        body: Vec<u8>,
    },
    /// A config file written (the real config with a byte changed, or arbitrary bytes),
    /// renamed or deleted.
    File {
        path: u8,
        kind: u8,
        edit: Option<(u16, u8)>,
        bytes: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    Timeout,
    Drain,
}

fuzz_target!(|steps: Vec<Step>| {
    let config = Config {
        max_line_bytes: 4096,
        multiline_max_lines: 8,
        multiline_max_bytes: 8192,
        max_queued_events: 64,
        max_open_transactions: 8,
        ..Config::default()
    };
    let max_queued = config.max_queued_events;
    let max_open = config.max_open_transactions;
    let clock = MonoClock {
        realtime_minus_monotonic_ns: 1_700_000_000_000_000_000,
    };
    let mut c = Collector::new(config);
    let mut now = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let sources = ["a.log", "b.log", "c.log"];
    let mut line_no = [0u64; 3];
    for step in steps {
        match step {
            Step::Line {
                source,
                bytes,
                forced,
            } => {
                let i = usize::from(source) % sources.len();
                line_no[i] += 1;
                let format = forced.map(|f| Format::ALL[usize::from(f) % Format::ALL.len()]);
                c.handle_log_line(
                    now,
                    LogLine {
                        source: sources[i],
                        line_no: line_no[i],
                        offset: 0,
                        bytes: &bytes,
                        format,
                    },
                );
            }
            Step::End { source } => c.handle_log_end(sources[usize::from(source) % sources.len()]),
            Step::Bpf {
                kind,
                pid,
                ppid,
                ts_ms,
                body,
            } => {
                // Mostly the five real kinds, sometimes an unknown one of any size.
                let kind = kind % 7;
                let size = match u32::from(kind) {
                    layout::kind::EXEC => layout::exec::SIZE,
                    layout::kind::ENV => layout::env::SIZE,
                    layout::kind::DATA => layout::data::SIZE,
                    layout::kind::NETNS => layout::netns::SIZE,
                    layout::kind::EXIT => layout::exit::SIZE,
                    _ => body.len(),
                };
                let mut record = vec![0u8; size.max(layout::header::SIZE)];
                record[..4].copy_from_slice(&u32::from(kind).to_ne_bytes());
                record[4..8].copy_from_slice(&u32::from(pid % 8 + 100).to_ne_bytes());
                record[8..12].copy_from_slice(&u32::from(pid % 8 + 100).to_ne_bytes());
                record[12..16].copy_from_slice(&u32::from(ppid % 8 + 100).to_ne_bytes());
                record[16..24].copy_from_slice(&(u64::from(ts_ms) * 1_000_000).to_ne_bytes());
                let room = record.len() - layout::header::SIZE;
                let n = body.len().min(room);
                record[layout::header::SIZE..layout::header::SIZE + n].copy_from_slice(&body[..n]);
                record.truncate(size);
                let _ = c.handle_bpf_record(now, clock, &record);
            }
            Step::File {
                path,
                kind,
                edit,
                bytes,
            } => c.handle_file_change(now, file_change(path, kind, edit, bytes)),
            Step::Advance { ms } => now = now.add_nanos(i64::from(ms) * 1_000_000),
            Step::Timeout => {
                if let Some((deadline, _)) = c.poll_timeout() {
                    if deadline <= now {
                        c.handle_timeout(now);
                    }
                }
            }
            Step::Drain => {
                while let Some(event) = c.poll_event() {
                    serde_json::to_string(&event).expect("events serialize");
                }
                while c.poll_request().is_some() {}
            }
        }
        assert!(c.queued_events() <= max_queued);
        assert!(c.open_transactions() <= max_open);
    }
});

fn file_change(path: u8, kind: u8, edit: Option<(u16, u8)>, bytes: Vec<u8>) -> FileChange {
    let path_of = |i: u8| CONF_PATHS[usize::from(i) % CONF_PATHS.len()].to_owned();
    let kind = match kind % 5 {
        0 => ChangeKind::Present,
        1 => ChangeKind::Created,
        2 => ChangeKind::Modified,
        3 => ChangeKind::Deleted,
        _ => ChangeKind::Renamed {
            from: path_of(path.wrapping_add(1)),
        },
    };
    let bytes = match edit {
        Some((at, byte)) => {
            let mut conf = CONF.to_vec();
            let at = usize::from(at) % conf.len();
            conf[at] = byte;
            conf
        }
        None => bytes,
    };
    let body = if kind == ChangeKind::Deleted {
        Body::None
    } else {
        Body::Bytes { bytes, cut: false }
    };
    FileChange {
        path: path_of(path),
        role: Role::Config,
        kind,
        body,
    }
}

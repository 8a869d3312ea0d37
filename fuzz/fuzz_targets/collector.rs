//! The collector fed an arbitrary sequence of inputs on several sources, with time moving
//! forward and timeouts fired as a runtime would: never a panic, and memory stays bounded (the
//! event queue never exceeds its limit).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use proto::{Collector, Config, Format, LogLine, Timestamp};

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
        ..Config::default()
    };
    let max_queued = config.max_queued_events;
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
    }
});

//! Any bytes as one log record, auto-detected: never a panic, and every event serializes and
//! reads back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::{Collector, Config, LogLine, Timestamp, UnifiedEvent};

fuzz_target!(|data: &[u8]| {
    let mut c = Collector::new(Config::default());
    c.handle_log_line(
        Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
        LogLine {
            source: "fuzz",
            line_no: 1,
            offset: 0,
            bytes: data,
            format: None,
        },
    );
    c.handle_log_end("fuzz");
    while let Some(event) = c.poll_event() {
        let json = serde_json::to_string(&event).expect("events serialize");
        let back: UnifiedEvent = serde_json::from_str(&json).expect("events deserialize");
        assert_eq!(back, event);
    }
});

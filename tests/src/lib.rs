//! Helpers shared by the snapshot and end-to-end tests.

use std::path::{Path, PathBuf};

use proto::scenario::Scenario;
use proto::{Collector, Config, LogLine, Timestamp, UnifiedEvent};

/// The time tests use as "now": 2026-01-15T12:00:00Z. Lines without a year are dated by it, so
/// snapshots do not change with the day they run.
pub const NOW: Timestamp = Timestamp::from_unix_nanos(1_768_478_400_000_000_000);

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Parses `text` as one log file the way `parse` does, at [`NOW`].
pub fn parse_text(source: &str, text: &[u8]) -> Vec<UnifiedEvent> {
    let mut c = Collector::new(Config::default());
    let mut events = Vec::new();
    let mut offset = 0u64;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if offset as usize == text.len() {
            break;
        }
        c.handle_log_line(
            NOW,
            LogLine {
                source,
                line_no: i as u64 + 1,
                offset,
                bytes: line,
                format: None,
            },
        );
        offset += line.len() as u64 + 1;
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
    }
    c.handle_log_end(source);
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    events
}

/// Replays a scenario fixture.
pub fn replay(text: &str) -> Vec<UnifiedEvent> {
    let scenario = Scenario::parse(text).expect("valid scenario");
    scenario.replay(&mut Collector::new(Config::default()))
}

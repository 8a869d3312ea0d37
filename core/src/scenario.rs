//! Recorded sessions: the inputs of a run with their times, replayed through the core for
//! offline analysis, bug reports and tests (the `replay` subcommand).
//!
//! A scenario is JSON Lines. The first line names the start time, each further line one input
//! at a number of milliseconds after it:
//! ```text
//! {"start":"2024-03-10T17:25:00Z"}
//! {"at_ms":0,"kind":"log_line","source":"/var/log/calico/cni/cni.log","line":"2024-03-10 ..."}
//! {"at_ms":5,"kind":"log_end","source":"/var/log/calico/cni/cni.log"}
//! ```
//! Line numbers and byte offsets of log lines are counted per source by the replay itself.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::collector::{Collector, LogLine};
use crate::event::{Format, UnifiedEvent};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub start: Timestamp,
}

/// One recorded input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Input {
    LogLine {
        at_ms: u64,
        source: String,
        line: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<Format>,
    },
    LogEnd {
        at_ms: u64,
        source: String,
    },
}

impl Input {
    fn at_ms(&self) -> u64 {
        match self {
            Input::LogLine { at_ms, .. } | Input::LogEnd { at_ms, .. } => *at_ms,
        }
    }
}

/// A scenario line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("scenario is empty: the first line must be {{\"start\": \"<RFC 3339 time>\"}}")]
    Empty,
    #[error("scenario line {line}: {message}")]
    BadLine { line: usize, message: String },
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub start: Timestamp,
    pub inputs: Vec<Input>,
}

impl Scenario {
    /// Reads the JSON Lines text of a scenario. Blank lines are allowed.
    ///
    /// # Errors
    /// [`Error::Empty`] without a header, [`Error::BadLine`] naming the first line that is not a
    /// valid header or input.
    pub fn parse(text: &str) -> Result<Scenario, Error> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or(Error::Empty)?;
        let header: Header = serde_json::from_str(first).map_err(|e| Error::BadLine {
            line: 1,
            message: e.to_string(),
        })?;
        let inputs = lines
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::BadLine {
                    line: i + 1,
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<Input>, Error>>()?;
        Ok(Scenario {
            start: header.start,
            inputs,
        })
    }

    /// Runs the scenario through `collector` on virtual time, firing every timeout that falls
    /// between inputs, and returns the events in the order they were emitted. Sources are ended
    /// after the last input, as a runtime does at shutdown.
    pub fn replay(&self, collector: &mut Collector) -> Vec<UnifiedEvent> {
        let mut events = Vec::new();
        let mut positions: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut inputs: Vec<&Input> = self.inputs.iter().collect();
        // Stable: inputs recorded at the same time keep their order.
        inputs.sort_by_key(|i| i.at_ms());
        let at = |ms: u64| {
            self.start.add_nanos(
                i64::try_from(ms)
                    .unwrap_or(i64::MAX / 1_000_000)
                    .saturating_mul(1_000_000),
            )
        };
        for input in inputs {
            let now = at(input.at_ms());
            fire_timeouts(collector, now, &mut events);
            match input {
                Input::LogLine {
                    source,
                    line,
                    format,
                    ..
                } => {
                    let pos = positions.entry(source).or_insert((0, 0));
                    pos.0 += 1;
                    collector.handle_log_line(
                        now,
                        LogLine {
                            source,
                            line_no: pos.0,
                            offset: pos.1,
                            bytes: line.as_bytes(),
                            format: *format,
                        },
                    );
                    pos.1 += line.len() as u64 + 1;
                }
                Input::LogEnd { source, .. } => collector.handle_log_end(source),
            }
            drain(collector, &mut events);
        }
        let mut sources: Vec<&str> = positions.into_keys().collect();
        sources.sort_unstable();
        for source in sources {
            collector.handle_log_end(source);
        }
        drain(collector, &mut events);
        events
    }
}

fn fire_timeouts(collector: &mut Collector, now: Timestamp, events: &mut Vec<UnifiedEvent>) {
    while let Some((deadline, _)) = collector.poll_timeout() {
        if deadline > now {
            break;
        }
        collector.handle_timeout(deadline);
        drain(collector, events);
    }
}

fn drain(collector: &mut Collector, events: &mut Vec<UnifiedEvent>) {
    while let Some(e) = collector.poll_event() {
        events.push(e);
    }
    // Checkpoints matter to a runtime that persists offsets; a replay has none to keep.
    while collector.poll_request().is_some() {}
}

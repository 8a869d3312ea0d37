//! Recorded sessions: the inputs of a run with their times, replayed through the core for
//! offline analysis, bug reports and tests (the `replay` subcommand).
//!
//! A scenario is JSON Lines. The first line names the start time, each further line one input
//! at a number of milliseconds after it:
//! ```text
//! {"start":"2024-03-10T17:25:00Z"}
//! {"at_ms":0,"kind":"log_line","source":"/var/log/calico/cni/cni.log","line":"2024-03-10 ..."}
//! {"at_ms":5,"kind":"log_end","source":"/var/log/calico/cni/cni.log"}
//! {"at_ms":6,"kind":"bpf_clock","realtime_minus_monotonic_ns":1710088500000000000}
//! {"at_ms":6,"kind":"bpf_record","size":40,"hex":"0500000039300000..."}
//! ```
//! Line numbers and byte offsets of log lines are counted per source by the replay itself.
//!
//! A `bpf_record` is one ring-buffer record as the probes handed it out, in hex; the bytes after
//! those given, up to `size`, are zero (a capture leaves out the unused tail of a 4 KiB chunk).
//! Its `CLOCK_MONOTONIC` times are turned into wall-clock time with the offset of the latest
//! `bpf_clock` input before it (0 before any).
//!
//! A `file_change` is one change the file monitor reported of a config file (`role` absent or
//! `"config"`) or plugin binary (`"plugin"`). `change` is `"present"`, `"created"`,
//! `"modified"`, `"deleted"` or `{"renamed":{"from":"<old path>"}}`; `body` is what was read:
//! absent (a deletion), `{"text":"<UTF-8 content>"}`, `{"hex":"<bytes>"}` (content that is not
//! text), `{"unreadable":"<why>"}` or `{"plugin":{...}}` with the binary's `size`, `mtime`
//! (RFC 3339), `mode` (permission bits as a number: 493 is 0o755), `sha256` or `sha256_error`,
//! and optionally `version` (its `VERSION` answer) or `version_error`. `"cut":true` says a text
//! or hex body stopped at the read limit:
//! ```text
//! {"at_ms":0,"kind":"file_change","path":"/etc/cni/net.d/10-a.conf","change":"created","body":{"text":"{}"}}
//! {"at_ms":1,"kind":"file_change","path":"/opt/cni/bin/bridge","role":"plugin","change":"modified",
//!  "body":{"plugin":{"size":4096,"mtime":"2026-01-15T12:00:00Z","mode":493,"sha256":"ab12"}}}
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::bpf::MonoClock;
use crate::collector::{Collector, LogLine};
use crate::conf::{Body, ChangeKind, FileChange, PluginInfo, Role};
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
    /// The runtime sampled `CLOCK_REALTIME - CLOCK_MONOTONIC`.
    BpfClock {
        at_ms: u64,
        realtime_minus_monotonic_ns: i64,
    },
    /// One ring-buffer record.
    BpfRecord {
        at_ms: u64,
        /// The record's size; bytes past `hex` are zero. Absent: exactly the bytes of `hex`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<usize>,
        hex: Hex,
    },
    /// The file monitor saw a config file or plugin binary change.
    FileChange {
        at_ms: u64,
        path: String,
        #[serde(default, skip_serializing_if = "FileRole::is_config")]
        role: FileRole,
        change: FileChangeKind,
        /// Absent: nothing was read (a deletion).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<FileBody>,
        /// A text or hex body stopped at the read limit.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cut: bool,
    },
}

/// [`Role`] in a scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    #[default]
    Config,
    Plugin,
}

impl FileRole {
    fn is_config(&self) -> bool {
        *self == FileRole::Config
    }
}

/// [`ChangeKind`] in a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FileChangeKind {
    Present,
    Created,
    Modified,
    Deleted,
    Renamed { from: String },
}

/// What the file monitor read, in a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FileBody {
    /// Content that is UTF-8 text, as it is.
    Text(String),
    /// Any content, in hex.
    Hex(Hex),
    Unreadable(String),
    Plugin(PluginFacts),
}

/// A plugin binary's [`PluginInfo`] in a scenario: exactly one of `sha256` and `sha256_error`,
/// at most one of `version` and `version_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PluginFields", into = "PluginFields")]
pub struct PluginFacts(pub PluginInfo);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginFields {
    size: u64,
    mtime: Timestamp,
    mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version_error: Option<String>,
}

impl TryFrom<PluginFields> for PluginFacts {
    type Error = String;

    fn try_from(f: PluginFields) -> Result<PluginFacts, String> {
        let sha256 = match (f.sha256, f.sha256_error) {
            (Some(h), None) => Ok(h),
            (None, Some(e)) => Err(e),
            _ => return Err("a plugin needs exactly one of sha256 and sha256_error".to_owned()),
        };
        let version = match (f.version, f.version_error) {
            (None, None) => None,
            (Some(v), None) => Some(Ok(v.into_bytes())),
            (None, Some(e)) => Some(Err(e)),
            (Some(_), Some(_)) => {
                return Err("a plugin has version or version_error, not both".to_owned())
            }
        };
        Ok(PluginFacts(PluginInfo {
            size: f.size,
            mtime: f.mtime,
            mode: f.mode,
            sha256,
            version,
        }))
    }
}

impl From<PluginFacts> for PluginFields {
    fn from(PluginFacts(p): PluginFacts) -> PluginFields {
        let (sha256, sha256_error) = match p.sha256 {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e)),
        };
        let (version, version_error) = match p.version {
            None => (None, None),
            Some(Ok(v)) => (Some(String::from_utf8_lossy(&v).into_owned()), None),
            Some(Err(e)) => (None, Some(e)),
        };
        PluginFields {
            size: p.size,
            mtime: p.mtime,
            mode: p.mode,
            sha256,
            sha256_error,
            version,
            version_error,
        }
    }
}

/// The [`FileChange`] a `file_change` input stands for.
fn file_change(
    path: &str,
    role: FileRole,
    change: &FileChangeKind,
    body: Option<&FileBody>,
    cut: bool,
) -> FileChange {
    let kind = match change {
        FileChangeKind::Present => ChangeKind::Present,
        FileChangeKind::Created => ChangeKind::Created,
        FileChangeKind::Modified => ChangeKind::Modified,
        FileChangeKind::Deleted => ChangeKind::Deleted,
        FileChangeKind::Renamed { from } => ChangeKind::Renamed { from: from.clone() },
    };
    let body = match body {
        None => Body::None,
        Some(FileBody::Text(t)) => Body::Bytes {
            bytes: t.as_bytes().to_vec(),
            cut,
        },
        Some(FileBody::Hex(h)) => Body::Bytes {
            bytes: h.0.clone(),
            cut,
        },
        Some(FileBody::Unreadable(why)) => Body::Unreadable(why.clone()),
        Some(FileBody::Plugin(p)) => Body::Plugin(p.0.clone()),
    };
    FileChange {
        path: path.to_owned(),
        role: match role {
            FileRole::Config => Role::Config,
            FileRole::Plugin => Role::Plugin,
        },
        kind,
        body,
    }
}

/// Bytes written as lower-case hex digits in JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// `bytes` without their trailing zeros, and the size to restore them to.
    pub fn trimmed(bytes: &[u8]) -> (Hex, usize) {
        let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        (Hex(bytes[..used].to_vec()), bytes.len())
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let text: String = self
            .0
            .iter()
            .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
            .map(char::from)
            .collect();
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("hex text of odd length"));
        }
        let digit = |c: u8| (c as char).to_digit(16);
        text.as_bytes()
            .chunks(2)
            .map(|pair| match (digit(pair[0]), digit(pair[1])) {
                // Two hex digits are at most 0xff.
                (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
                _ => Err(serde::de::Error::custom(format!(
                    "not a hex digit in {:?}",
                    String::from_utf8_lossy(pair)
                ))),
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(Hex)
    }
}

impl Input {
    fn at_ms(&self) -> u64 {
        match self {
            Input::LogLine { at_ms, .. }
            | Input::LogEnd { at_ms, .. }
            | Input::BpfClock { at_ms, .. }
            | Input::BpfRecord { at_ms, .. }
            | Input::FileChange { at_ms, .. } => *at_ms,
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
        let mut clock = MonoClock::default();
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
                Input::BpfClock {
                    realtime_minus_monotonic_ns,
                    ..
                } => {
                    clock = MonoClock {
                        realtime_minus_monotonic_ns: *realtime_minus_monotonic_ns,
                    }
                }
                Input::BpfRecord { size, hex, .. } => {
                    let mut bytes = hex.0.clone();
                    if let Some(size) = *size {
                        bytes.resize(size.max(bytes.len()), 0);
                    }
                    // An invalid record is counted in the collector's stats, as at run time.
                    let _ = collector.handle_bpf_record(now, clock, &bytes);
                }
                Input::FileChange {
                    path,
                    role,
                    change,
                    body,
                    cut,
                    ..
                } => collector
                    .handle_file_change(now, file_change(path, *role, change, body.as_ref(), *cut)),
            }
            drain(collector, &mut events);
        }
        let mut sources: Vec<&str> = positions.into_keys().collect();
        sources.sort_unstable();
        for source in sources {
            collector.handle_log_end(source);
        }
        // Nothing more can join an event held for correlation.
        collector.release_held();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_inputs_round_trip() {
        let text = r#"{"start":"2026-01-15T12:00:00Z"}
{"at_ms":0,"kind":"bpf_clock","realtime_minus_monotonic_ns":-5}
{"at_ms":1,"kind":"bpf_record","size":40,"hex":"05000000ff"}
{"at_ms":2,"kind":"bpf_record","hex":"00"}"#;
        let s = Scenario::parse(text).expect("valid");
        assert_eq!(
            s.inputs,
            [
                Input::BpfClock {
                    at_ms: 0,
                    realtime_minus_monotonic_ns: -5
                },
                Input::BpfRecord {
                    at_ms: 1,
                    size: Some(40),
                    hex: Hex(vec![5, 0, 0, 0, 255])
                },
                Input::BpfRecord {
                    at_ms: 2,
                    size: None,
                    hex: Hex(vec![0])
                },
            ]
        );
        let line = serde_json::to_string(&s.inputs[1]).expect("serializable");
        assert_eq!(
            line,
            r#"{"kind":"bpf_record","at_ms":1,"size":40,"hex":"05000000ff"}"#
        );
        assert_eq!(Hex::trimmed(&[1, 0, 2, 0, 0]), (Hex(vec![1, 0, 2]), 5));
        for bad in ["0", "zz", "0g"] {
            let line = format!(r#"{{"at_ms":0,"kind":"bpf_record","hex":"{bad}"}}"#);
            let err = Scenario::parse(&format!("{{\"start\":\"2026-01-15T12:00:00Z\"}}\n{line}"));
            assert!(
                matches!(err, Err(Error::BadLine { line: 2, .. })),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn file_change_inputs_round_trip() {
        let lines = [
            r#"{"kind":"file_change","at_ms":0,"path":"/etc/cni/net.d/10-a.conf","change":"created","body":{"text":"{}"}}"#,
            r#"{"kind":"file_change","at_ms":1,"path":"/etc/cni/net.d/10-a.conf","change":"modified","body":{"hex":"7b00"},"cut":true}"#,
            r#"{"kind":"file_change","at_ms":2,"path":"/etc/cni/net.d/20-b.conf","change":{"renamed":{"from":"/etc/cni/net.d/.b.tmp"}},"body":{"unreadable":"Permission denied"}}"#,
            r#"{"kind":"file_change","at_ms":3,"path":"/opt/cni/bin/bridge","role":"plugin","change":"present","body":{"plugin":{"size":7,"mtime":"2026-01-15T12:00:00.000000000Z","mode":493,"sha256_error":"Permission denied","version":"{\"cniVersion\":\"1.0.0\"}"}}}"#,
            r#"{"kind":"file_change","at_ms":4,"path":"/etc/cni/net.d/10-a.conf","change":"deleted"}"#,
        ];
        let text = format!(
            "{{\"start\":\"2026-01-15T12:00:00Z\"}}\n{}",
            lines.join("\n")
        );
        let s = Scenario::parse(&text).expect("valid");
        for (input, line) in s.inputs.iter().zip(lines) {
            assert_eq!(serde_json::to_string(input).expect("serializable"), line);
        }
        let Input::FileChange {
            path,
            role,
            change,
            body,
            cut,
            ..
        } = &s.inputs[3]
        else {
            panic!("a file change: {:?}", s.inputs[3]);
        };
        let change = file_change(path, *role, change, body.as_ref(), *cut);
        assert_eq!(change.role, Role::Plugin);
        let Body::Plugin(info) = change.body else {
            panic!("plugin facts: {change:?}");
        };
        assert_eq!(info.mode, 0o755);
        assert_eq!(info.sha256, Err("Permission denied".to_owned()));
        assert_eq!(
            info.version,
            Some(Ok(br#"{"cniVersion":"1.0.0"}"#.to_vec()))
        );

        for bad in [
            r#"{"kind":"file_change","at_ms":0,"path":"/p","change":"renamed"}"#,
            r#"{"kind":"file_change","at_ms":0,"path":"/p","change":"moved"}"#,
            r#"{"kind":"file_change","at_ms":0,"path":"/p","change":"created","body":{"text":"a","hex":"00"}}"#,
            r#"{"kind":"file_change","at_ms":0,"path":"/p","change":"created","body":{"plugin":{"size":1,"mtime":"2026-01-15T12:00:00Z","mode":493}}}"#,
            r#"{"kind":"file_change","at_ms":0,"path":"/p","change":"created","body":{"plugin":{"size":1,"mtime":"2026-01-15T12:00:00Z","mode":493,"sha256":"a","version":"x","version_error":"y"}}}"#,
            r#"{"kind":"file_change","at_ms":0,"path":"/p","change":"created","bytes":"x"}"#,
        ] {
            let err = Scenario::parse(&format!("{{\"start\":\"2026-01-15T12:00:00Z\"}}\n{bad}"));
            assert!(
                matches!(err, Err(Error::BadLine { line: 2, .. })),
                "{bad}: {err:?}"
            );
        }
    }
}

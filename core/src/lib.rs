//! The Sans-IO core of tapio-cni-collector.
//!
//! This crate is fully deterministic: it has no IO, reads no clock, environment or randomness,
//! starts no threads and runs no async code. Raw inputs — log lines, BPF ring-buffer records
//! (`handle_bpf_record`, see [`bpf`]), /proc snapshots (`handle_proc_snapshot`, the fallback
//! when the probes cannot load, see [`proc`]), CNI config and plugin-binary changes
//! (`handle_file_change`, see [`conf`]), and in later stages Kubernetes objects — go in through
//! `Collector::handle_*` with the current time as an argument; [`UnifiedEvent`]s, requests to
//! the runtime and the next deadline come out through `poll_*`. Both runtimes drive it with the
//! same small loop:
//!
//! ```no_run
//! # use tapio_cni_core::{Collector, Config, LogLine, Request, Timestamp};
//! # fn read_line() -> Option<(Timestamp, Vec<u8>)> { None }
//! # fn write(_: &tapio_cni_core::UnifiedEvent) {}
//! let mut collector = Collector::new(Config::default());
//! let mut line_no = 0;
//! while let Some((now, bytes)) = read_line() {
//!     line_no += 1;
//!     let line = LogLine { source: "/var/log/calico/cni/cni.log", line_no, offset: 0, bytes: &bytes, format: None };
//!     collector.handle_log_line(now, line);
//!     while let Some(event) = collector.poll_event() { write(&event); }
//!     while let Some(Request::Checkpoint { source, offset }) = collector.poll_request() { /* persist */ }
//!     if let Some((deadline, _why)) = collector.poll_timeout() { if deadline <= now { collector.handle_timeout(now); } }
//! }
//! ```

pub mod assemble;
pub mod bpf;
pub mod build;
pub mod collector;
pub mod conf;
pub mod correlate;
pub mod envelope;
pub mod event;
pub mod facts;
mod formats;
pub mod proc;
pub mod scenario;
pub mod text;
pub mod time;

pub use bpf::MonoClock;
pub use collector::{Collector, Config, LogLine, Request, Stats, TimeoutReason};
pub use conf::{Body, ChangeKind, FileChange, PluginInfo, Role};
pub use event::{Category, Format, Operation, Severity, UnifiedEvent};
pub use formats::parse_record;
pub use time::Timestamp;

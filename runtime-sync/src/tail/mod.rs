//! Tailing plugin log files: new lines as they are written, across rotation, truncation and
//! restarts, with bounded memory.
//!
//! [`LogTailer`] has no thread of its own and never blocks: the runtime waits on [`fd`]
//! (`poll(2)` in the threaded runtime, `AsyncFd` under tokio) and calls [`on_readable`], calls
//! [`poll`] every `poll_interval` (files that appeared, copytruncate, and the whole job when
//! there is no inotify), feeds each [`Batch`] to the core, and hands the core's checkpoints back
//! with [`checkpoint`]. [`persist`] writes them to the state directory; because the core only
//! checkpoints lines it has fully handled, a restart neither loses nor repeats a line.
//!
//! ```no_run
//! use proto::{Collector, Request};
//! use tapio_cni_collector_lite::offline::now;
//! use tapio_cni_collector_lite::tail::{Batch, Entry, LogTailer, TailSettings};
//!
//! fn feed(batch: &Batch, collector: &mut Collector, tailer: &mut LogTailer) {
//!     for entry in batch.entries() {
//!         match entry {
//!             Entry::Line(line) => collector.handle_log_line(now(), line),
//!             Entry::End(source) => collector.handle_log_end(source),
//!         }
//!     }
//!     while let Some(request) = collector.poll_request() {
//!         if let Request::Checkpoint { source, offset } = request {
//!             tailer.checkpoint(&source, offset);
//!         }
//!     }
//!     // ... and drain collector.poll_event() to the outputs.
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let paths = vec![("/var/log/calico/cni/cni.log".into(), None)];
//! let mut tailer = LogTailer::new(TailSettings::new(paths, "/var/lib/tapio-cni-collector".into()))?;
//! let mut collector = Collector::new(proto::Config::default());
//! loop {
//!     // Wait until tailer.fd() is readable or poll_interval has passed (poll(2) or AsyncFd).
//!     # let readable = true;
//!     let mut batch = if readable { tailer.on_readable() } else { tailer.poll() };
//!     feed(&batch, &mut collector, &mut tailer);
//!     // A file had more than the read budget, or one generation ended: go on at once.
//!     while batch.more() {
//!         batch = tailer.on_readable();
//!         feed(&batch, &mut collector, &mut tailer);
//!     }
//!     tailer.persist()?; // every few seconds, and at shutdown
//!     # break;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`fd`]: LogTailer::fd
//! [`on_readable`]: LogTailer::on_readable
//! [`poll`]: LogTailer::poll
//! [`checkpoint`]: LogTailer::checkpoint
//! [`persist`]: LogTailer::persist

mod file;
mod state;
mod watch;

use std::fs;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::Arc;

use proto::{Format, LogLine};
use serde::Serialize;

use crate::config::{Config, LogPath};
use file::{Cx, Tracked};
pub use state::STATE_FILE;
use watch::Watcher;

/// What to tail and within which limits.
#[derive(Debug, Clone, PartialEq)]
pub struct TailSettings {
    /// The files, each with the format its lines are parsed as (`None`: detected per line).
    pub paths: Vec<(PathBuf, Option<Format>)>,
    /// Where the read offsets are kept across restarts; created when missing.
    pub state_dir: PathBuf,
    /// Wake up on inotify events; without it, [`LogTailer::poll`] does all the work.
    pub use_inotify: bool,
    /// A longer line keeps its first `max_line_bytes` bytes; the rest is skipped (and counted).
    pub max_line_bytes: usize,
    /// Bytes read from one file per call, so that one busy file cannot starve the others (and
    /// at most 16384 lines).
    pub read_budget: u64,
}

impl TailSettings {
    /// `paths` with the default limits (lines of 1 MiB, 1 MiB per file and call) and inotify.
    pub fn new(paths: Vec<(PathBuf, Option<Format>)>, state_dir: PathBuf) -> TailSettings {
        TailSettings {
            paths,
            state_dir,
            use_inotify: true,
            max_line_bytes: 1 << 20,
            read_budget: 1 << 20,
        }
    }

    /// The settings of `run`'s configuration: `log_paths`, `state_dir` and `use_inotify`.
    pub fn from_config(config: &Config) -> TailSettings {
        let paths = config
            .log_paths
            .iter()
            .map(|p| match p {
                LogPath::Path(path) => (path.clone(), None),
                LogPath::WithFormat { path, format } => (path.clone(), *format),
            })
            .collect();
        TailSettings {
            use_inotify: config.use_inotify,
            ..TailSettings::new(paths, config.state_dir.clone())
        }
    }
}

/// Why the tailer cannot start, or could not save its state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the log offsets to {path}: {source}")]
    Persist {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Counters of the log monitor, for the summary and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TailStats {
    /// Lines handed out.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines longer than `max_line_bytes`, handed out cut.
    pub cut_lines: u64,
    /// Files rotated away (renamed, or replaced by a new file at the path).
    pub rotations: u64,
    /// Files read again from their start: truncated (copytruncate), rewritten, or their inode
    /// reused while the tailer was stopped.
    pub truncations: u64,
    /// Times a path was found not to exist (at start, or after its file was deleted).
    pub files_missing: u64,
    /// Failed attempts to open, stat or read a file (retried on the next call).
    pub read_errors: u64,
    /// inotify that could not be set up or read, or directories it could not watch: those paths
    /// are still read by [`LogTailer::poll`].
    pub watch_errors: u64,
    /// State files that could not be read at start-up (the tailer then starts without them).
    pub state_errors: u64,
    /// Files read before a restart that were gone after it (deleted, or rotated to another
    /// directory): lines written to them after the saved offset, if any, were not read.
    pub rotated_not_found: u64,
    /// Checkpoints that named no line handed out by the current generation (ignored).
    pub stale_checkpoints: u64,
    /// Lines whose checkpoint can no longer be applied because too many were waiting for one
    /// (the runtime does not hand checkpoints back): a restart may read them again.
    pub untracked_lines: u64,
}

/// The lines and ends read by one call, in order. A batch never holds two generations of one
/// path: after a file's [`Entry::End`] its successor comes in a later batch, so the checkpoints
/// the core makes while handling a batch always belong to the generation it read.
#[derive(Debug)]
pub struct Batch {
    sources: Arc<[Source]>,
    data: Vec<u8>,
    items: Vec<Item>,
    more: bool,
}

#[derive(Debug)]
struct Source {
    name: Arc<str>,
    format: Option<Format>,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Line {
        source: u32,
        line_no: u64,
        offset: u64,
        begin: usize,
        end: usize,
    },
    End {
        source: u32,
    },
}

/// One entry of a [`Batch`], ready for the core.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// Feed to `Collector::handle_log_line`.
    Line(LogLine<'a>),
    /// The file read for this source ended: feed to `Collector::handle_log_end`.
    End(&'a str),
}

impl Batch {
    fn new(sources: Arc<[Source]>) -> Batch {
        Batch {
            sources,
            data: Vec::new(),
            items: Vec::new(),
            more: false,
        }
    }

    /// The lines and ends, in the order they were read.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.items.iter().map(|item| match *item {
            Item::Line {
                source,
                line_no,
                offset,
                begin,
                end,
            } => {
                let source = &self.sources[source as usize];
                Entry::Line(LogLine {
                    source: &source.name,
                    line_no,
                    offset,
                    bytes: &self.data[begin..end],
                    format: source.format,
                })
            }
            Item::End { source } => Entry::End(&self.sources[source as usize].name),
        })
    }

    /// Whether there is more to read right now (a read budget ran out, or a file ended and its
    /// successor is to be opened): call [`LogTailer::on_readable`] again without waiting.
    pub fn more(&self) -> bool {
        self.more
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Tails the configured log files; see the [module documentation](self) for the loop.
#[derive(Debug)]
pub struct LogTailer {
    tracked: Vec<Tracked>,
    sources: Arc<[Source]>,
    watcher: Option<Watcher>,
    buf: Vec<u8>,
    state_dir: PathBuf,
    max_line: usize,
    budget: u64,
    stats: TailStats,
    persisted: Vec<u8>,
    /// The last batch said `more` (or no batch was read yet).
    more: bool,
}

impl LogTailer {
    /// Starts tailing: resumes every path from the state directory and writes the state file
    /// once, so that an unusable state directory shows at start-up. Without inotify (not
    /// wanted, or not available: logged and counted) [`poll`](Self::poll) does all the work.
    ///
    /// # Errors
    /// The state directory cannot be created or written.
    pub fn new(settings: TailSettings) -> Result<LogTailer, Error> {
        let state_dir = settings.state_dir;
        fs::create_dir_all(&state_dir).map_err(|source| Error::StateDir {
            path: state_dir.clone(),
            source,
        })?;
        let mut stats = TailStats::default();
        let saved = state::load(&state_dir).unwrap_or_else(|e| {
            stats.state_errors += 1;
            tracing::warn!(error = %e, "log offsets not restored: files are read from their start");
            Default::default()
        });
        let mut tracked: Vec<Tracked> = Vec::with_capacity(settings.paths.len());
        for (path, format) in settings.paths {
            if tracked.iter().any(|t| t.path == path) {
                continue;
            }
            let mut t = Tracked::new(path, format);
            if let Some(pos) = saved.get(&*t.source) {
                t.restore(*pos, &mut stats);
            }
            tracked.push(t);
        }
        let watcher = settings.use_inotify.then(Watcher::new).and_then(|w| {
            w.inspect_err(|e| {
                stats.watch_errors += 1;
                tracing::warn!(error = %e, "inotify unavailable: log files are polled");
            })
            .ok()
        });
        let sources = tracked
            .iter()
            .map(|t| Source {
                name: t.source.clone(),
                format: t.format,
            })
            .collect();
        let mut tailer = LogTailer {
            tracked,
            sources,
            watcher,
            buf: vec![0; 64 << 10],
            state_dir,
            max_line: settings.max_line_bytes,
            budget: settings.read_budget.max(1),
            stats,
            persisted: Vec::new(),
            // What the files hold already is read by the first call, whichever it is.
            more: true,
        };
        tailer.refresh_watches();
        tailer.persist().map_err(|e| match e {
            Error::Persist { path, source } | Error::StateDir { path, source } => {
                Error::StateDir { path, source }
            }
        })?;
        Ok(tailer)
    }

    /// The inotify descriptor to wait on; `None` when polling.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.watcher.as_ref().map(Watcher::fd)
    }

    /// [`fd`](Self::fd) is readable (or the previous batch said [`Batch::more`]): drains the
    /// inotify queue and reads what is new. Events about other files of a watched directory
    /// read nothing.
    pub fn on_readable(&mut self) -> Batch {
        let drained = match self.watcher.as_mut().map(Watcher::drain) {
            Some(Ok(drained)) => drained,
            Some(Err(e)) => {
                self.stats.watch_errors += 1;
                tracing::warn!(error = %e, "reading inotify events");
                watch::Drained {
                    structural: true,
                    written: true,
                }
            }
            // Polling: the caller only comes here to go on after a `more`.
            None => watch::Drained {
                structural: false,
                written: true,
            },
        };
        if drained.structural {
            self.refresh_watches();
        }
        if !(drained.structural || drained.written || self.more) {
            return Batch::new(self.sources.clone());
        }
        self.read_all()
    }

    /// The periodic look (every `poll_interval`): files that appeared or were rewritten in
    /// place, directories to watch anew, and everything when there is no inotify.
    pub fn poll(&mut self) -> Batch {
        self.refresh_watches();
        self.read_all()
    }

    /// Applies the core's `Request::Checkpoint`: every line of `source` before `offset` has been
    /// fully handled.
    pub fn checkpoint(&mut self, source: &str, offset: u64) {
        let applied = self
            .tracked
            .iter_mut()
            .find(|t| &*t.source == source)
            .and_then(|t| t.generation.as_mut())
            .is_some_and(|g| g.checkpoint(offset));
        if !applied {
            self.stats.stale_checkpoints += 1;
        }
    }

    /// Writes the checkpointed offsets to the state file (atomically; nothing is written when
    /// nothing changed). Call it every few seconds and at shutdown, after the checkpoints of
    /// the batches fed so far were applied.
    ///
    /// # Errors
    /// The state file cannot be written; the previous one is then left as it was.
    pub fn persist(&mut self) -> Result<(), Error> {
        // An ended generation is complete once its batch was fed: a restart starts the path's
        // next file from its beginning, which no entry says best.
        let files = self
            .tracked
            .iter()
            .filter_map(|t| {
                let g = t.generation.as_ref().filter(|g| !g.ended())?;
                Some((t.source.to_string(), g.position()))
            })
            .collect();
        let bytes = state::encode(files);
        if bytes == self.persisted {
            return Ok(());
        }
        state::store(&self.state_dir, &bytes).map_err(|source| Error::Persist {
            path: self.state_dir.join(state::STATE_FILE),
            source,
        })?;
        self.persisted = bytes;
        Ok(())
    }

    pub fn stats(&self) -> &TailStats {
        &self.stats
    }

    fn refresh_watches(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for (dir, e) in watcher.refresh(self.tracked.iter().map(|t| t.path.as_path())) {
            self.stats.watch_errors += 1;
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory: its log files are polled");
        }
    }

    fn read_all(&mut self) -> Batch {
        let mut batch = Batch::new(self.sources.clone());
        for (i, t) in self.tracked.iter_mut().enumerate() {
            let mut cx = Cx {
                batch: &mut batch,
                stats: &mut self.stats,
                buf: &mut self.buf,
                // Bounded by the number of configured paths.
                source: i as u32,
                max_line: self.max_line,
                budget: self.budget,
                lines_left: file::MAX_LINES_PER_CALL,
            };
            t.step(&mut cx);
        }
        self.more = batch.more;
        batch
    }
}

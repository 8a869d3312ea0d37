//! eBPF probes that observe CNI plugin executions, and their thin loader.
//!
//! The BPF side (`src/bpf/cni.bpf.c`) decides in the kernel which processes
//! are CNI plugins (their path starts with a plugin directory, or their parent
//! is one) and streams what they do into a ring buffer as fixed-size records
//! laid out in `src/bpf/cni.h` and mirrored in [`record`]. This crate only
//! loads, attaches and drains; parsing belongs to the core.
//!
//! ```no_run
//! use std::time::Duration;
//! use tapio_cni_bpf::{Options, Probes};
//!
//! let mut probes = Probes::load(&Options::default())?;
//! for missing in probes.missing() {
//!     eprintln!("degraded: {missing}");
//! }
//! loop {
//!     probes.poll(Duration::from_millis(100), |record| {
//!         // Hand the raw bytes to the core; see `record` for the layout.
//!         let _ = record;
//!     })?;
//!     let _lost = probes.dropped()?;
//! }
//! # Ok::<(), tapio_cni_bpf::Error>(())
//! ```
//!
//! Loading needs root (or `CAP_BPF` + `CAP_PERFMON`), kernel BTF at
//! `/sys/kernel/btf/vmlinux`, and tracefs (at `/sys/kernel/tracing` or
//! `/sys/kernel/debug/tracing`) for the syscall tracepoints.

pub mod record;
mod storage;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, ProgramMut, RingBuffer, RingBufferBuilder};

use crate::storage::ObjectStorage;

#[allow(clippy::all, clippy::pedantic, unused_imports)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/cni.skel.rs"));
}

/// Where the reference plugins and most distributions install CNI plugins.
pub const DEFAULT_PLUGIN_DIRS: [&str; 3] = ["/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni"];

/// 4 MiB: measured to lose nothing at ~2,400 exec/s of tracked processes.
pub const DEFAULT_RING_BUFFER_BYTES: usize = 4 << 20;

/// What to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Absolute directories whose executables are CNI plugins, with or
    /// without a trailing `/`; at most [`record::MAX_DIRS`].
    pub plugin_dirs: Vec<PathBuf>,
    /// Size of the BPF ring buffer: a power of two and a multiple of the
    /// page size.
    pub ring_buffer_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            plugin_dirs: DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect(),
            ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
        }
    }
}

/// Why the probes could not be loaded or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("plugin directory {0:?} is not absolute")]
    RelativePluginDir(PathBuf),
    #[error("plugin directory {0:?} is longer than {max} bytes", max = record::DIR_LEN - 1)]
    PluginDirTooLong(PathBuf),
    #[error("{0} plugin directories given, at most {max} are supported", max = record::MAX_DIRS)]
    TooManyPluginDirs(usize),
    #[error("ring buffer size {0} is not a power of two between 4 KiB and 2 GiB")]
    RingBufferSize(usize),
    #[error("opening the BPF object failed: {0}")]
    Open(#[source] libbpf_rs::Error),
    /// The kernel refused the object; `log` holds what libbpf reported
    /// (the verifier's complaint, the missing BTF, ...).
    #[error("loading the BPF programs failed: {source}\n{log}")]
    Load {
        source: libbpf_rs::Error,
        log: String,
    },
    #[error("attaching BPF program {program} to {section} failed: {source}{hint}")]
    Attach {
        program: &'static str,
        section: String,
        source: libbpf_rs::Error,
        hint: &'static str,
    },
    #[error("{action} failed: {source}")]
    Map {
        action: &'static str,
        source: libbpf_rs::Error,
    },
    #[error("polling the BPF ring buffer failed: {0}")]
    Poll(#[source] io::Error),
}

/// An optional program that is not running, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingProgram {
    pub program: &'static str,
    /// What the program would have reported.
    pub observes: &'static str,
    pub reason: String,
}

impl fmt::Display for MissingProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BPF program {} is not attached, so {} are not reported: {}",
            self.program, self.observes, self.reason
        )
    }
}

/// The loaded and attached probes, with their ring buffer.
///
/// Dropping it detaches every program.
pub struct Probes {
    // Fields drop in declaration order: the ring buffer and the links use
    // the object, which the skeleton owns and which lives in `storage`.
    ring: RingBuffer<'static>,
    links: Vec<Link>,
    skel: skel::CniSkel<'static>,
    _storage: ObjectStorage,
    batch: Arc<Mutex<Batch>>,
    missing: Vec<MissingProgram>,
}

impl fmt::Debug for Probes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probes")
            .field("attached", &self.links.len())
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

/// A program of cni.bpf.c and what losing it costs.
struct ProgramSpec {
    name: &'static str,
    get: for<'a, 'obj> fn(&'a skel::CniProgs<'obj>) -> &'a ProgramMut<'obj>,
    /// `None` for a program without which the probes are useless.
    optional: Option<&'static str>,
}

const NETNS: Option<&str> = Some("network namespace changes (NETNS records)");

const PROGRAMS: [ProgramSpec; 10] = [
    ProgramSpec {
        name: "handle_exec",
        get: |p| &p.handle_exec,
        optional: None,
    },
    ProgramSpec {
        name: "handle_fork",
        get: |p| &p.handle_fork,
        optional: None,
    },
    ProgramSpec {
        name: "handle_exit",
        get: |p| &p.handle_exit,
        optional: None,
    },
    ProgramSpec {
        name: "handle_enter_read",
        get: |p| &p.handle_enter_read,
        optional: None,
    },
    ProgramSpec {
        name: "handle_exit_read",
        get: |p| &p.handle_exit_read,
        optional: None,
    },
    ProgramSpec {
        name: "handle_enter_write",
        get: |p| &p.handle_enter_write,
        optional: None,
    },
    ProgramSpec {
        name: "handle_enter_setns",
        get: |p| &p.handle_enter_setns,
        optional: NETNS,
    },
    ProgramSpec {
        name: "handle_exit_setns",
        get: |p| &p.handle_exit_setns,
        optional: NETNS,
    },
    ProgramSpec {
        name: "handle_enter_unshare",
        get: |p| &p.handle_enter_unshare,
        optional: NETNS,
    },
    ProgramSpec {
        name: "handle_exit_unshare",
        get: |p| &p.handle_exit_unshare,
        optional: NETNS,
    },
];

impl Probes {
    /// Loads the BPF object, fills the plugin directories and attaches
    /// every program.
    ///
    /// # Errors
    ///
    /// Bad [`Options`]; a kernel that refuses the object (the error carries
    /// libbpf's log); a required program that cannot be attached (the error
    /// names it). Optional programs that cannot be attached are listed by
    /// [`Probes::missing`] instead.
    pub fn load(options: &Options) -> Result<Self, Error> {
        let dirs = encode_plugin_dirs(&options.plugin_dirs)?;
        let ring_bytes = u32::try_from(options.ring_buffer_bytes)
            .ok()
            .filter(|n| n.is_power_of_two() && *n >= 4096)
            .ok_or(Error::RingBufferSize(options.ring_buffer_bytes))?;

        let log = LibbpfLog::capture();
        let storage = ObjectStorage::new();
        let mut open = skel::CniSkelBuilder::default()
            // SAFETY: `storage` outlives the skeleton: both end up in the
            // returned `Probes`, where `skel` is declared (so dropped) first,
            // and on the error paths below `open`/`skel` are locals declared
            // after `storage`, so they are dropped before it.
            .open(unsafe { storage.object() })
            .map_err(Error::Open)?;
        open.maps
            .events
            .set_max_entries(ring_bytes)
            .map_err(|source| Error::Map {
                action: "sizing the ring buffer",
                source,
            })?;
        let skel = open.load().map_err(|source| Error::Load {
            source,
            log: log.take(),
        })?;

        for (index, dir) in dirs.iter().enumerate() {
            let key = u32::try_from(index).expect("at most MAX_DIRS entries, checked above");
            skel.maps
                .plugin_dirs
                .update(&key.to_ne_bytes(), dir, MapFlags::ANY)
                .map_err(|source| Error::Map {
                    action: "filling the plugin directories",
                    source,
                })?;
        }

        let (links, missing) = attach_all(&skel.progs)?;
        drop(log);

        let batch = Arc::new(Mutex::new(Batch::new(options.ring_buffer_bytes)));
        let ring = {
            let batch = Arc::clone(&batch);
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&skel.maps.events, move |record: &[u8]| {
                    batch
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(record)
                })
                .map_err(|source| Error::Map {
                    action: "opening the ring buffer",
                    source,
                })?;
            builder.build().map_err(|source| Error::Map {
                action: "opening the ring buffer",
                source,
            })?
        };

        Ok(Self {
            ring,
            links,
            skel,
            _storage: storage,
            batch,
            missing,
        })
    }

    /// Optional programs that could not be attached: the probes work
    /// without them, with less detail.
    pub fn missing(&self) -> &[MissingProgram] {
        &self.missing
    }

    /// Waits up to `timeout` for records, then hands each available one to
    /// `on_record` in ring-buffer order and returns how many there were.
    ///
    /// One call delivers at most about the ring buffer's size in records;
    /// the rest stay for the next call. A zero timeout never blocks (for use
    /// with [`Probes::ring_buffer_fd`] in an event loop).
    ///
    /// # Errors
    ///
    /// Only when waiting on the ring buffer itself fails; a signal
    /// interrupting the wait is not an error.
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut on_record: impl FnMut(&[u8]),
    ) -> Result<usize, Error> {
        let ret = self.ring.poll_raw(timeout);
        if ret < 0 && ret != Batch::FULL {
            let error = io::Error::from_raw_os_error(-ret);
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(Error::Poll(error));
            }
        }
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        let count = batch.ends.len();
        let mut start = 0;
        for &end in &batch.ends {
            on_record(&batch.bytes[start..end]);
            start = end;
        }
        batch.clear();
        Ok(count)
    }

    /// A file descriptor that is readable when records are waiting (an
    /// epoll instance over the ring buffer).
    pub fn ring_buffer_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the epoll fd belongs to `self.ring` and is closed only when
        // it drops, which the returned borrow of `self` prevents.
        unsafe { BorrowedFd::borrow_raw(self.ring.epoll_fd()) }
    }

    /// Records the kernel could not put in the ring buffer because it was
    /// full, since load, summed over CPUs.
    ///
    /// # Errors
    ///
    /// When the counter map cannot be read.
    pub fn dropped(&self) -> Result<u64, Error> {
        let per_cpu = self
            .skel
            .maps
            .dropped
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| Error::Map {
                action: "reading the drop counter",
                source,
            })?
            .unwrap_or_default();
        Ok(per_cpu
            .iter()
            .filter_map(|value| value.get(..8)?.try_into().ok())
            .map(u64::from_ne_bytes)
            .sum())
    }
}

impl AsFd for Probes {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring_buffer_fd()
    }
}

impl AsRawFd for Probes {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.epoll_fd()
    }
}

/// Attaches every program of [`PROGRAMS`], in order.
fn attach_all(progs: &skel::CniProgs<'_>) -> Result<(Vec<Link>, Vec<MissingProgram>), Error> {
    let mut links = Vec::with_capacity(PROGRAMS.len());
    let mut missing = Vec::new();
    for spec in &PROGRAMS {
        let program = (spec.get)(progs);
        let error = match program.attach() {
            Ok(link) => {
                links.push(link);
                continue;
            }
            Err(error) => error,
        };
        let section = program.section().to_string_lossy().into_owned();
        let hint = attach_hint(&section, &error);
        match spec.optional {
            Some(observes) => missing.push(MissingProgram {
                program: spec.name,
                observes,
                reason: format!("attaching to {section} failed: {error}{hint}"),
            }),
            None => {
                return Err(Error::Attach {
                    program: spec.name,
                    section,
                    source: error,
                    hint,
                })
            }
        }
    }
    Ok((links, missing))
}

/// The likely cause of a failed attach, when there is a usual one.
fn attach_hint(section: &str, error: &libbpf_rs::Error) -> &'static str {
    let classic_tracepoint = section.starts_with("tracepoint/") || section.starts_with("tp/");
    if classic_tracepoint && error.kind() == libbpf_rs::ErrorKind::NotFound {
        " (is tracefs mounted? `mount -t tracefs nodev /sys/kernel/tracing`)"
    } else {
        ""
    }
}

/// Turns plugin directories into `plugin_dirs` map values (`struct cni_dir`):
/// each ends in exactly one `/`, so `/usr/lib/cni` does not match
/// `/usr/lib/cni2/x`.
fn encode_plugin_dirs(dirs: &[PathBuf]) -> Result<Vec<Vec<u8>>, Error> {
    if dirs.len() > record::MAX_DIRS {
        return Err(Error::TooManyPluginDirs(dirs.len()));
    }
    dirs.iter().map(|dir| encode_plugin_dir(dir)).collect()
}

fn encode_plugin_dir(dir: &Path) -> Result<Vec<u8>, Error> {
    if !dir.is_absolute() {
        return Err(Error::RelativePluginDir(dir.to_owned()));
    }
    let trimmed = dir.as_os_str().as_bytes();
    let trimmed = &trimmed[..trimmed
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(0, |i| i + 1)];
    let len = trimmed.len() + 1;
    if len > record::DIR_LEN {
        return Err(Error::PluginDirTooLong(dir.to_owned()));
    }
    let mut value = Vec::with_capacity(4 + record::DIR_LEN);
    value.extend_from_slice(
        &u32::try_from(len)
            .expect("at most DIR_LEN, checked above")
            .to_ne_bytes(),
    );
    value.extend_from_slice(trimmed);
    value.push(b'/');
    value.resize(4 + record::DIR_LEN, 0);
    Ok(value)
}

/// Records taken from the ring buffer by libbpf's callback, waiting to be
/// handed to the caller of [`Probes::poll`] (whose closure cannot be given to
/// libbpf: its callback is fixed when the ring buffer is built).
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    limit: usize,
}

impl Batch {
    /// Returned by the callback to make libbpf stop consuming: the batch is
    /// full. libbpf passes it through as the result of the poll. E2BIG, which
    /// epoll_wait never returns.
    const FULL: i32 = -7;

    fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            ends: Vec::new(),
            limit,
        }
    }

    fn push(&mut self, record: &[u8]) -> i32 {
        self.bytes.extend_from_slice(record);
        self.ends.push(self.bytes.len());
        if self.bytes.len() >= self.limit {
            Self::FULL
        } else {
            0
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// libbpf's warnings, captured while loading so a failed load can say why
/// (libbpf only returns an errno; the verifier log goes to its print hook).
struct LibbpfLog {
    previous: Option<(libbpf_rs::PrintLevel, libbpf_rs::PrintCallback)>,
}

static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

/// Keep the tail of the log: a verifier log can run to megabytes, and its end
/// says what went wrong.
const LIBBPF_LOG_MAX: usize = 16 << 10;

impl LibbpfLog {
    fn capture() -> Self {
        LIBBPF_LOG
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let previous = libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, Self::append)));
        Self { previous }
    }

    fn append(_level: libbpf_rs::PrintLevel, message: String) {
        let mut log = LIBBPF_LOG.lock().unwrap_or_else(PoisonError::into_inner);
        log.push_str(&message);
        if log.len() > 2 * LIBBPF_LOG_MAX {
            let mut cut = log.len() - LIBBPF_LOG_MAX;
            while !log.is_char_boundary(cut) {
                cut += 1;
            }
            log.drain(..cut);
        }
    }

    fn take(&self) -> String {
        std::mem::take(&mut *LIBBPF_LOG.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for LibbpfLog {
    fn drop(&mut self) {
        libbpf_rs::set_print(self.previous.take());
    }
}

/// Test-only view of the C types the skeleton generates, for `tests/layout.rs`.
#[doc(hidden)]
pub mod c_types {
    pub use crate::skel::types::{
        cni_data, cni_env, cni_exec, cni_exit, cni_flag, cni_header, cni_netns, cni_ns_syscall,
        cni_record_kind,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_value(dir: &str) -> (u32, String) {
        let value = encode_plugin_dir(Path::new(dir)).unwrap();
        let len = u32::from_ne_bytes(value[..4].try_into().unwrap());
        let path = &value[4..4 + len as usize];
        assert_eq!(value.len(), 4 + record::DIR_LEN);
        assert!(value[4 + len as usize..].iter().all(|&b| b == 0));
        (len, String::from_utf8(path.to_vec()).unwrap())
    }

    #[test]
    fn plugin_dirs_end_in_exactly_one_slash() {
        assert_eq!(dir_value("/usr/lib/cni"), (13, "/usr/lib/cni/".into()));
        assert_eq!(dir_value("/usr/lib/cni/"), (13, "/usr/lib/cni/".into()));
        assert_eq!(dir_value("/usr/lib/cni//"), (13, "/usr/lib/cni/".into()));
        assert_eq!(dir_value("/"), (1, "/".into()));
    }

    #[test]
    fn bad_plugin_dirs_are_refused() {
        assert!(matches!(
            encode_plugin_dir(Path::new("opt/cni/bin")),
            Err(Error::RelativePluginDir(_))
        ));
        let long = format!("/{}", "a".repeat(record::DIR_LEN - 1));
        assert!(matches!(
            encode_plugin_dir(Path::new(&long)),
            Err(Error::PluginDirTooLong(_))
        ));
        let fits = format!("/{}", "a".repeat(record::DIR_LEN - 2));
        assert!(encode_plugin_dir(Path::new(&fits)).is_ok());
        let nine = vec![PathBuf::from("/x"); record::MAX_DIRS + 1];
        assert!(matches!(
            encode_plugin_dirs(&nine),
            Err(Error::TooManyPluginDirs(9))
        ));
    }

    #[test]
    fn probes_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Probes>();
    }

    #[test]
    fn batch_stops_libbpf_once_full() {
        let mut batch = Batch::new(8);
        assert_eq!(batch.push(b"abc"), 0);
        assert_eq!(batch.push(b"defgh"), Batch::FULL);
        assert_eq!(batch.ends, [3, 8]);
        batch.clear();
        assert!(batch.bytes.is_empty() && batch.ends.is_empty());
    }
}

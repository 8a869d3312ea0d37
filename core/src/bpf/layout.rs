//! The ring-buffer record layout, mirrored by hand from the bpf crate's `src/bpf/cni.h`.
//!
//! These numbers are a copy of `tapio_cni_bpf::record` (the core never depends on libbpf);
//! the bpf crate's `tests/core_mirror.rs` asserts that every one of them equals the original,
//! which its own `tests/layout.rs` checks against the C structs as compiled. `bpf/RECORDS.md`
//! documents the layout in prose. All integers are in the host's byte order; every record starts
//! with the [`header`] and has a fixed size per [`kind`].

/// Bytes of `comm` (the kernel's task name, NUL-padded).
pub const COMM_LEN: usize = 16;
/// Bytes of an exec'd path kept in [`exec`] records.
pub const PATH_LEN: usize = 256;
/// Payload bytes of one [`env`](mod@env) or [`data`] record.
pub const CHUNK_LEN: usize = 4096;
/// At most this many [`env`](mod@env) records per exec (so 32 KiB of environment).
pub const ENV_MAX_CHUNKS: usize = 8;
/// At most this many [`data`] records per read/write syscall (so 64 KiB).
pub const IO_MAX_CHUNKS: usize = 16;
/// At most this many plugin directories are matched in the kernel.
pub const MAX_DIRS: usize = 8;
/// Longest plugin directory, counting the trailing `/`.
pub const DIR_LEN: usize = 128;

/// Values of [`header::KIND`].
pub mod kind {
    pub const EXEC: u32 = 1;
    pub const ENV: u32 = 2;
    pub const DATA: u32 = 3;
    pub const NETNS: u32 = 4;
    pub const EXIT: u32 = 5;
}

/// Bits of [`exec::FLAGS`] and [`exit::FLAGS`].
pub mod flag {
    /// Tracked because its parent process was (a delegated plugin, or any
    /// other child of a plugin).
    pub const PARENT_TRACKED: u32 = 1;
    /// The exec'd path starts with a configured plugin directory.
    pub const PATH_MATCHED: u32 = 2;
    /// The path did not fit in [`super::PATH_LEN`] bytes.
    pub const PATH_TRUNCATED: u32 = 4;
}

/// Values of [`netns::SYSCALL`].
pub mod ns_syscall {
    pub const SETNS: u32 = 1;
    pub const UNSHARE: u32 = 2;
}

/// Byte offsets of the common header, at the start of every record.
pub mod header {
    pub const SIZE: usize = 24;
    /// u32, one of [`super::kind`].
    pub const KIND: usize = 0;
    /// u32, the tgid (what user space calls the pid), in the root pid namespace.
    pub const PID: usize = 4;
    /// u32, the thread id.
    pub const TID: usize = 8;
    /// u32, tgid of the real parent.
    pub const PPID: usize = 12;
    /// u64, `bpf_ktime_get_ns()`: `CLOCK_MONOTONIC` nanoseconds.
    pub const TS_NS: usize = 16;
}

/// A tracked process finished `execve`.
pub mod exec {
    pub const SIZE: usize = 328;
    /// u64, task start time (`CLOCK_MONOTONIC` ns, the fork).
    pub const START_NS: usize = 24;
    /// u64, cgroup v2 id.
    pub const CGROUP_ID: usize = 32;
    /// u32, inode of its network namespace.
    pub const NETNS_INO: usize = 40;
    /// u32, bits of [`super::flag`].
    pub const FLAGS: usize = 44;
    /// u32, bytes of [`PATH`] used, without the NUL.
    pub const PATH_LEN: usize = 48;
    /// u32, size of the whole environment block.
    pub const ENV_LEN: usize = 52;
    /// `[u8; COMM_LEN]`, NUL-padded.
    pub const COMM: usize = 56;
    /// `[u8; PATH_LEN]`, the path as passed to `execve`, NUL-terminated.
    pub const PATH: usize = 72;
}

/// A chunk of the environment block of the exec just reported.
pub mod env {
    pub const SIZE: usize = 4136;
    /// u32, size of the whole environment block.
    pub const ENV_LEN: usize = 24;
    /// u32, offset of [`DATA`] in the block.
    pub const OFFSET: usize = 28;
    /// u32, bytes of [`DATA`] used.
    pub const LEN: usize = 32;
    /// `[u8; CHUNK_LEN]`, NUL-separated `KEY=value` strings.
    pub const DATA: usize = 40;
}

/// Bytes read from stdin or written to stdout/stderr.
pub mod data {
    pub const SIZE: usize = 4144;
    /// u32, 0, 1 or 2.
    pub const FD: usize = 24;
    /// u32, bytes of [`DATA`] used.
    pub const LEN: usize = 28;
    /// u64, offset of [`DATA`] in the process's stream on this fd.
    pub const STREAM_OFF: usize = 32;
    /// u32, bytes of the whole syscall.
    pub const TOTAL_LEN: usize = 40;
    /// u32, offset of [`DATA`] within the syscall.
    pub const CHUNK_OFF: usize = 44;
    /// `[u8; CHUNK_LEN]`.
    pub const DATA: usize = 48;
}

/// A `setns(2)` or `unshare(2)` touching the network namespace.
pub mod netns {
    pub const SIZE: usize = 48;
    /// u32, one of [`super::ns_syscall`].
    pub const SYSCALL: usize = 24;
    /// u32, setns `nstype` or unshare flags (low 32 bits).
    pub const NS_FLAGS: usize = 28;
    /// i32, 0 or `-errno`.
    pub const RET: usize = 32;
    /// i32, the setns fd; -1 for unshare.
    pub const FD: usize = 36;
    /// u32, the thread's netns inode before the call.
    pub const PREV_NETNS_INO: usize = 40;
    /// u32, the thread's netns inode after the call.
    pub const NETNS_INO: usize = 44;
}

/// The last thread of a tracked process exited.
pub mod exit {
    pub const SIZE: usize = 40;
    /// i32, the wait(2) status: exit status << 8 | terminating signal.
    pub const EXIT_CODE: usize = 24;
    /// u32, bits of [`super::flag`].
    pub const FLAGS: usize = 28;
    /// u64, when tracking began or the last exec (`CLOCK_MONOTONIC` ns).
    pub const TRACKED_NS: usize = 32;
}

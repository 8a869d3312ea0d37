//! Ring-buffer records read from raw bytes, by hand, with the offsets of [`layout`].
//!
//! [`Record::parse`] borrows the bytes it is given: strings and payloads are slices of the
//! record. It checks the size against the kind and every length field against its array, so a
//! record it returns can be used without further checks; anything else is an [`Error`].

use std::fmt;

use crate::bpf::layout::{self, data, env, exec, exit, header, kind, netns};

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "a ring-buffer record of {len} bytes is shorter than the {} byte header",
        header::SIZE
    )]
    Short { len: usize },
    #[error("ring-buffer record kind {kind} is unknown")]
    UnknownKind { kind: u32 },
    #[error("{kind} record of {len} bytes, expected {expected}")]
    Size {
        kind: Kind,
        len: usize,
        expected: usize,
    },
    #[error("{kind} record states {field} {value}, more than the {max} bytes it holds")]
    Length {
        kind: Kind,
        field: &'static str,
        value: u32,
        max: usize,
    },
}

/// The kind of a record (`header.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    Exec,
    Env,
    Data,
    Netns,
    Exit,
}

impl Kind {
    pub fn from_raw(raw: u32) -> Option<Kind> {
        Some(match raw {
            kind::EXEC => Kind::Exec,
            kind::ENV => Kind::Env,
            kind::DATA => Kind::Data,
            kind::NETNS => Kind::Netns,
            kind::EXIT => Kind::Exit,
            _ => return None,
        })
    }

    /// Every record of this kind has exactly this many bytes.
    pub fn size(self) -> usize {
        match self {
            Kind::Exec => exec::SIZE,
            Kind::Env => env::SIZE,
            Kind::Data => data::SIZE,
            Kind::Netns => netns::SIZE,
            Kind::Exit => exit::SIZE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "EXEC",
            Kind::Env => "ENV",
            Kind::Data => "DATA",
            Kind::Netns => "NETNS",
            Kind::Exit => "EXIT",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header every record starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The process (tgid), in the root pid namespace.
    pub pid: u32,
    /// The thread that caused the record.
    pub tid: u32,
    /// The real parent's tgid when the record was made.
    pub ppid: u32,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub ts_ns: u64,
}

/// One ring-buffer record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record<'a> {
    Exec(Exec<'a>),
    Env(Env<'a>),
    Data(Data<'a>),
    Netns(Netns),
    Exit(Exit),
}

/// A tracked process finished `execve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exec<'a> {
    pub header: Header,
    /// Task start time (its fork), `CLOCK_MONOTONIC` ns: with the pid, it names the process.
    pub start_ns: u64,
    pub cgroup_id: u64,
    pub netns_ino: u32,
    /// Bits of [`layout::flag`].
    pub flags: u32,
    /// Size of the whole environment block (the ENV chunks may carry less).
    pub env_len: u32,
    /// Task name after exec, without its NUL padding.
    pub comm: &'a [u8],
    /// The path given to `execve`, `path_len` bytes.
    pub path: &'a [u8],
}

impl Exec<'_> {
    pub fn parent_tracked(&self) -> bool {
        self.flags & layout::flag::PARENT_TRACKED != 0
    }

    pub fn path_truncated(&self) -> bool {
        self.flags & layout::flag::PATH_TRUNCATED != 0
    }

    /// The exec'd binary is in a configured plugin directory.
    pub fn path_matched(&self) -> bool {
        self.flags & layout::flag::PATH_MATCHED != 0
    }
}

/// A piece of the environment block of the exec just reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env<'a> {
    pub header: Header,
    pub env_len: u32,
    /// Offset of `data[0]` in the block.
    pub offset: u32,
    /// NUL-terminated `KEY=value` strings, `len` bytes (empty when unreadable).
    pub data: &'a [u8],
}

/// Bytes read from stdin or written to stdout / stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    pub header: Header,
    /// 0 stdin, 1 stdout, 2 stderr.
    pub fd: u32,
    /// Offset of `data[0]` in everything the process moved on `fd` since its last exec.
    pub stream_off: u64,
    /// Bytes of the whole syscall.
    pub total_len: u32,
    /// Offset of `data[0]` within the syscall.
    pub chunk_off: u32,
    /// `len` bytes (empty when the buffer was unreadable).
    pub data: &'a [u8],
}

/// A `setns(2)` or `unshare(2)` on the network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Netns {
    pub header: Header,
    /// One of [`layout::ns_syscall`].
    pub syscall: u32,
    pub ns_flags: u32,
    /// 0 or `-errno`.
    pub ret: i32,
    /// The setns fd; -1 for unshare.
    pub fd: i32,
    /// The calling thread's netns inode before and after the call.
    pub prev_netns_ino: u32,
    pub netns_ino: u32,
}

/// The last thread of a tracked process exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub header: Header,
    /// The wait(2) status; see [`Exit::status`].
    pub exit_code: i32,
    pub flags: u32,
    /// When tracking began or of its last exec, `CLOCK_MONOTONIC` ns.
    pub tracked_ns: u64,
}

/// How a process ended, decoded from its wait(2) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this status (0..=255).
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl Exit {
    pub fn status(&self) -> ExitStatus {
        match self.exit_code & 0x7f {
            0 => ExitStatus::Exited((self.exit_code >> 8) & 0xff),
            signal => ExitStatus::Signaled(signal),
        }
    }
}

impl<'a> Record<'a> {
    /// Reads one record, exactly as the ring buffer handed it out.
    ///
    /// # Errors
    /// Bytes shorter than the header, an unknown kind, a size other than the kind's, or a length
    /// field larger than its array.
    pub fn parse(b: &'a [u8]) -> Result<Record<'a>, Error> {
        if b.len() < header::SIZE {
            return Err(Error::Short { len: b.len() });
        }
        let raw_kind = u32_at(b, header::KIND);
        let kind = Kind::from_raw(raw_kind).ok_or(Error::UnknownKind { kind: raw_kind })?;
        if b.len() != kind.size() {
            return Err(Error::Size {
                kind,
                len: b.len(),
                expected: kind.size(),
            });
        }
        let header = Header {
            pid: u32_at(b, header::PID),
            tid: u32_at(b, header::TID),
            ppid: u32_at(b, header::PPID),
            ts_ns: u64_at(b, header::TS_NS),
        };
        let bounded = |field: &'static str, at: usize, max: usize| {
            let value = u32_at(b, at);
            match usize::try_from(value) {
                Ok(n) if n <= max => Ok(n),
                _ => Err(Error::Length {
                    kind,
                    field,
                    value,
                    max,
                }),
            }
        };
        Ok(match kind {
            Kind::Exec => {
                let path_len = bounded("path_len", exec::PATH_LEN, layout::PATH_LEN - 1)?;
                let path = until_nul(&b[exec::PATH..exec::PATH + path_len]);
                Record::Exec(Exec {
                    header,
                    start_ns: u64_at(b, exec::START_NS),
                    cgroup_id: u64_at(b, exec::CGROUP_ID),
                    netns_ino: u32_at(b, exec::NETNS_INO),
                    flags: u32_at(b, exec::FLAGS),
                    env_len: u32_at(b, exec::ENV_LEN),
                    comm: until_nul(&b[exec::COMM..exec::COMM + layout::COMM_LEN]),
                    path,
                })
            }
            Kind::Env => {
                let len = bounded("len", env::LEN, layout::CHUNK_LEN)?;
                Record::Env(Env {
                    header,
                    env_len: u32_at(b, env::ENV_LEN),
                    offset: u32_at(b, env::OFFSET),
                    data: &b[env::DATA..env::DATA + len],
                })
            }
            Kind::Data => {
                let len = bounded("len", data::LEN, layout::CHUNK_LEN)?;
                Record::Data(Data {
                    header,
                    fd: u32_at(b, data::FD),
                    stream_off: u64_at(b, data::STREAM_OFF),
                    total_len: u32_at(b, data::TOTAL_LEN),
                    chunk_off: u32_at(b, data::CHUNK_OFF),
                    data: &b[data::DATA..data::DATA + len],
                })
            }
            Kind::Netns => Record::Netns(Netns {
                header,
                syscall: u32_at(b, netns::SYSCALL),
                ns_flags: u32_at(b, netns::NS_FLAGS),
                ret: i32_at(b, netns::RET),
                fd: i32_at(b, netns::FD),
                prev_netns_ino: u32_at(b, netns::PREV_NETNS_INO),
                netns_ino: u32_at(b, netns::NETNS_INO),
            }),
            Kind::Exit => Record::Exit(Exit {
                header,
                exit_code: i32_at(b, exit::EXIT_CODE),
                flags: u32_at(b, exit::FLAGS),
                tracked_ns: u64_at(b, exit::TRACKED_NS),
            }),
        })
    }

    pub fn header(&self) -> &Header {
        match self {
            Record::Exec(r) => &r.header,
            Record::Env(r) => &r.header,
            Record::Data(r) => &r.header,
            Record::Netns(r) => &r.header,
            Record::Exit(r) => &r.header,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Record::Exec(_) => Kind::Exec,
            Record::Env(_) => Kind::Env,
            Record::Data(_) => Kind::Data,
            Record::Netns(_) => Kind::Netns,
            Record::Exit(_) => Kind::Exit,
        }
    }
}

/// The bytes before the first NUL.
fn until_nul(b: &[u8]) -> &[u8] {
    memchr::memchr(0, b).map_or(b, |end| &b[..end])
}

/// Reads `N` bytes at `at`; the caller has checked the record's size, and a short slice would
/// read as zeros rather than panic.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(s) = b.get(at..at + N) {
        out.copy_from_slice(s);
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes_at(b, at))
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(bytes_at(b, at))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(bytes_at(b, at))
}

/// Builders of raw records, as the kernel lays them out, for tests.
#[cfg(test)]
pub(crate) mod raw {
    use super::*;

    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }

    pub(crate) fn header(kind: u32, size: usize, pid: u32, ppid: u32, ts_ns: u64) -> Vec<u8> {
        let mut b = vec![0; size];
        put(&mut b, header::KIND, &kind.to_ne_bytes());
        put(&mut b, header::PID, &pid.to_ne_bytes());
        put(&mut b, header::TID, &pid.to_ne_bytes());
        put(&mut b, header::PPID, &ppid.to_ne_bytes());
        put(&mut b, header::TS_NS, &ts_ns.to_ne_bytes());
        b
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn exec(
        pid: u32,
        ppid: u32,
        ts_ns: u64,
        start_ns: u64,
        flags: u32,
        env_len: u32,
        comm: &str,
        path: &str,
    ) -> Vec<u8> {
        let mut b = header(kind::EXEC, exec::SIZE, pid, ppid, ts_ns);
        put(&mut b, exec::START_NS, &start_ns.to_ne_bytes());
        put(&mut b, exec::CGROUP_ID, &77u64.to_ne_bytes());
        put(&mut b, exec::NETNS_INO, &4026531840u32.to_ne_bytes());
        put(&mut b, exec::FLAGS, &flags.to_ne_bytes());
        put(&mut b, exec::PATH_LEN, &(path.len() as u32).to_ne_bytes());
        put(&mut b, exec::ENV_LEN, &env_len.to_ne_bytes());
        put(&mut b, exec::COMM, comm.as_bytes());
        put(&mut b, exec::PATH, path.as_bytes());
        b
    }

    pub(crate) fn env(pid: u32, ts_ns: u64, env_len: u32, offset: u32, data: &[u8]) -> Vec<u8> {
        let mut b = header(kind::ENV, env::SIZE, pid, 1, ts_ns);
        put(&mut b, env::ENV_LEN, &env_len.to_ne_bytes());
        put(&mut b, env::OFFSET, &offset.to_ne_bytes());
        put(&mut b, env::LEN, &(data.len() as u32).to_ne_bytes());
        put(&mut b, env::DATA, data);
        b
    }

    pub(crate) fn data(pid: u32, ts_ns: u64, fd: u32, stream_off: u64, data: &[u8]) -> Vec<u8> {
        let mut b = header(kind::DATA, data::SIZE, pid, 1, ts_ns);
        put(&mut b, data::FD, &fd.to_ne_bytes());
        put(&mut b, data::LEN, &(data.len() as u32).to_ne_bytes());
        put(&mut b, data::STREAM_OFF, &stream_off.to_ne_bytes());
        put(&mut b, data::TOTAL_LEN, &(data.len() as u32).to_ne_bytes());
        put(&mut b, data::DATA, data);
        b
    }

    pub(crate) fn netns(pid: u32, ts_ns: u64, prev: u32, now: u32) -> Vec<u8> {
        let mut b = header(kind::NETNS, netns::SIZE, pid, 1, ts_ns);
        put(
            &mut b,
            netns::SYSCALL,
            &layout::ns_syscall::SETNS.to_ne_bytes(),
        );
        put(&mut b, netns::NS_FLAGS, &0x4000_0000u32.to_ne_bytes());
        put(&mut b, netns::FD, &7i32.to_ne_bytes());
        put(&mut b, netns::PREV_NETNS_INO, &prev.to_ne_bytes());
        put(&mut b, netns::NETNS_INO, &now.to_ne_bytes());
        b
    }

    pub(crate) fn exit(pid: u32, ppid: u32, ts_ns: u64, wait_status: i32) -> Vec<u8> {
        let mut b = header(kind::EXIT, exit::SIZE, pid, ppid, ts_ns);
        put(&mut b, exit::EXIT_CODE, &wait_status.to_ne_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::raw;
    use super::*;

    #[test]
    fn every_kind_reads_back() {
        let b = raw::exec(
            42,
            7,
            1_000,
            900,
            layout::flag::PATH_MATCHED,
            64,
            "bridge",
            "/usr/lib/cni/bridge",
        );
        let Ok(Record::Exec(e)) = Record::parse(&b) else {
            panic!("{:?}", Record::parse(&b));
        };
        assert_eq!(
            e.header,
            Header {
                pid: 42,
                tid: 42,
                ppid: 7,
                ts_ns: 1_000
            }
        );
        assert_eq!(
            (e.start_ns, e.cgroup_id, e.netns_ino),
            (900, 77, 4026531840)
        );
        assert_eq!((e.flags, e.env_len), (layout::flag::PATH_MATCHED, 64));
        assert_eq!(
            (e.comm, e.path),
            (&b"bridge"[..], &b"/usr/lib/cni/bridge"[..])
        );
        assert!(!e.parent_tracked());

        let b = raw::env(42, 1_001, 20, 0, b"CNI_COMMAND=ADD\0");
        let Ok(Record::Env(v)) = Record::parse(&b) else {
            panic!()
        };
        assert_eq!(
            (v.env_len, v.offset, v.data),
            (20, 0, &b"CNI_COMMAND=ADD\0"[..])
        );

        let b = raw::data(42, 1_002, 1, 10, b"{}");
        let Ok(Record::Data(d)) = Record::parse(&b) else {
            panic!()
        };
        assert_eq!(
            (d.fd, d.stream_off, d.total_len, d.chunk_off),
            (1, 10, 2, 0)
        );
        assert_eq!(d.data, b"{}");

        let b = raw::netns(42, 1_003, 1, 2);
        let Ok(Record::Netns(n)) = Record::parse(&b) else {
            panic!()
        };
        assert_eq!(
            (n.syscall, n.ret, n.fd, n.prev_netns_ino, n.netns_ino),
            (1, 0, 7, 1, 2)
        );

        let b = raw::exit(42, 7, 1_004, 1 << 8);
        let Ok(Record::Exit(x)) = Record::parse(&b) else {
            panic!()
        };
        assert_eq!(x.status(), ExitStatus::Exited(1));
        assert_eq!(Record::parse(&b).map(|r| r.kind()), Ok(Kind::Exit));
        assert_eq!(Record::parse(&b).map(|r| r.header().ts_ns), Ok(1_004));
    }

    #[test]
    fn wait_status_tells_exit_from_signal() {
        let status = |code| {
            let b = raw::exit(1, 0, 0, code);
            match Record::parse(&b) {
                Ok(Record::Exit(x)) => x.status(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(status(0), ExitStatus::Exited(0));
        assert_eq!(status(7 << 8), ExitStatus::Exited(7));
        assert_eq!(status(9), ExitStatus::Signaled(9));
        // SIGSEGV with a core dump.
        assert_eq!(status(0x80 | 11), ExitStatus::Signaled(11));
    }

    #[test]
    fn malformed_records_are_errors() {
        assert_eq!(Record::parse(&[]), Err(Error::Short { len: 0 }));
        assert_eq!(Record::parse(&[1; 23]), Err(Error::Short { len: 23 }));
        let mut b = raw::exit(1, 0, 0, 0);
        b[0..4].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(Record::parse(&b), Err(Error::UnknownKind { kind: 9 }));
        let mut b = raw::exit(1, 0, 0, 0);
        b.push(0);
        assert_eq!(
            Record::parse(&b),
            Err(Error::Size {
                kind: Kind::Exit,
                len: 41,
                expected: 40
            })
        );
        let mut b = raw::data(1, 0, 1, 0, b"x");
        b[data::LEN..data::LEN + 4].copy_from_slice(&4097u32.to_ne_bytes());
        assert_eq!(
            Record::parse(&b),
            Err(Error::Length {
                kind: Kind::Data,
                field: "len",
                value: 4097,
                max: 4096
            })
        );
        let mut b = raw::exec(1, 0, 0, 0, 0, 0, "x", "/x");
        b[exec::PATH_LEN..exec::PATH_LEN + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            Record::parse(&b),
            Err(Error::Length {
                field: "path_len",
                ..
            })
        ));
        assert_eq!(
            Error::Size {
                kind: Kind::Env,
                len: 3,
                expected: 4136
            }
            .to_string(),
            "ENV record of 3 bytes, expected 4136"
        );
    }

    #[test]
    fn a_path_without_its_nul_is_cut_at_path_len() {
        let mut b = raw::exec(1, 0, 0, 0, 0, 0, "x", "/opt/cni/bin/abc");
        b[exec::PATH_LEN..exec::PATH_LEN + 4].copy_from_slice(&13u32.to_ne_bytes());
        let Ok(Record::Exec(e)) = Record::parse(&b) else {
            panic!()
        };
        assert_eq!(e.path, b"/opt/cni/bin/");
    }
}

//! The text of /proc files, read by hand: `stat`, `environ`, `cmdline` and the `ns/net` link.
//!
//! Everything here comes from outside the collector and may be cut, garbled or of another
//! kernel's layout: a malformed file is an [`Error`], never a panic.

use std::collections::BTreeMap;

/// What was wrong with a `/proc/PID/stat` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No `(comm)` between the pid and the fields after it.
    #[error("no (comm) in the stat line")]
    NoComm,
    /// The line ends before this field.
    #[error("stat line ends before field {field}")]
    Missing { field: &'static str },
    /// This field is not a number.
    #[error("stat field {field} is not a number")]
    NotANumber { field: &'static str },
}

/// The fields of `/proc/PID/stat` the collector uses (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// The process name, at most 15 bytes; may hold spaces and parentheses.
    pub comm: String,
    /// `R`, `S`, `D`, `Z` (exited, not yet reaped), `X`, ...
    pub state: char,
    pub ppid: u32,
    /// The kernel's `PF_*` flags of the process.
    pub flags: u32,
    /// User and system CPU time, in clock ticks.
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    /// When the process started, in clock ticks after boot: with the pid, it names one process
    /// across scans (a reused pid has a later start).
    pub start_ticks: u64,
    /// The wait(2) status of an exited process (field 52, Linux 3.5+); meaningful only in
    /// state `Z` or `X`.
    pub exit_status: Option<i32>,
}

/// `PF_FORKNOEXEC`: forked and not exec'd since.
const PF_FORKNOEXEC: u32 = 0x40;

impl Stat {
    /// Forked and not exec'd since: still a copy of its parent, not an execution of its own
    /// (a plugin about to exec its delegate).
    pub fn is_fork_without_exec(&self) -> bool {
        self.flags & PF_FORKNOEXEC != 0
    }

    /// Exited, not yet reaped by its parent: its exit status is known.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Field numbers of proc(5), 1-based; the fields after `(comm)` start at 3.
const STATE: usize = 3;
const PPID: usize = 4;
const FLAGS: usize = 9;
const UTIME: usize = 14;
const STIME: usize = 15;
const STARTTIME: usize = 22;
const EXIT_CODE: usize = 52;

/// Reads a `/proc/PID/stat` line.
///
/// The name sits between the first `(` and the **last** `)`: a process may name itself
/// `a) (b`, and no later field holds a parenthesis.
///
/// # Errors
/// No `(comm)`, a field missing before `starttime`, or a field that is not a number.
pub fn parse_stat(line: &[u8]) -> Result<Stat, Error> {
    let open = memchr::memchr(b'(', line).ok_or(Error::NoComm)?;
    let close = memchr::memrchr(b')', line)
        .filter(|&c| c > open)
        .ok_or(Error::NoComm)?;
    let pid = number(&line[..open], "pid")?;
    let comm = String::from_utf8_lossy(&line[open + 1..close]).into_owned();
    let rest: Vec<&[u8]> = line[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty())
        .collect();
    let field = |n: usize, name: &'static str| {
        rest.get(n - STATE)
            .copied()
            .ok_or(Error::Missing { field: name })
    };
    let state = match field(STATE, "state")? {
        [c] if c.is_ascii_alphabetic() => char::from(*c),
        _ => return Err(Error::NotANumber { field: "state" }),
    };
    let exit_status = match rest.get(EXIT_CODE - STATE) {
        Some(f) => Some(number::<i32>(f, "exit_code")?),
        None => None,
    };
    Ok(Stat {
        pid,
        comm,
        state,
        ppid: number(field(PPID, "ppid")?, "ppid")?,
        flags: number(field(FLAGS, "flags")?, "flags")?,
        utime_ticks: number(field(UTIME, "utime")?, "utime")?,
        stime_ticks: number(field(STIME, "stime")?, "stime")?,
        start_ticks: number(field(STARTTIME, "starttime")?, "starttime")?,
        exit_status,
    })
}

fn number<T: std::str::FromStr>(bytes: &[u8], field: &'static str) -> Result<T, Error> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(Error::NotANumber { field })
}

/// Adds the `CNI_*` variables of an environment block (`KEY=value` strings separated by NUL
/// bytes, as `/proc/PID/environ` and the probes' ENV records hold it) to `vars`; the first value
/// of a key wins. Nothing else of the block is kept: only `CNI_*` variables leave the collector.
pub fn read_cni_vars(block: &[u8], vars: &mut BTreeMap<String, String>) {
    for var in block.split(|&b| b == 0) {
        let Some(var) = var.strip_prefix(b"CNI_") else {
            continue;
        };
        let Some(eq) = memchr::memchr(b'=', var) else {
            continue;
        };
        let key = format!("CNI_{}", String::from_utf8_lossy(&var[..eq]));
        let value = String::from_utf8_lossy(&var[eq + 1..]).into_owned();
        vars.entry(key).or_insert(value);
    }
}

/// The `CNI_*` variables of a `/proc/PID/environ` block.
pub fn parse_environ(block: &[u8]) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    read_cni_vars(block, &mut vars);
    vars
}

/// The first `n` arguments of a `/proc/PID/cmdline` block (arguments separated by NUL bytes);
/// none when it is empty (a zombie, a kernel thread).
pub fn parse_args(block: &[u8], n: usize) -> Vec<String> {
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    if block.is_empty() {
        return Vec::new();
    }
    block
        .split(|&b| b == 0)
        .take(n)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The inode of a namespace link's target: `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(target: &str) -> Option<u64> {
    let (_, rest) = target.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

/// The target of a `/proc/PID/exe` link without the ` (deleted)` the kernel adds when the
/// binary was replaced while it ran (a plugin upgraded in place).
pub fn exe_path(target: &str) -> &str {
    target.strip_suffix(" (deleted)").unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line of this kernel (`cat /proc/self/stat`), with `comm` and `state` replaced.
    fn stat_line(comm: &str, state: char) -> String {
        format!(
            "4242 ({comm}) {state} 4200 4242 4200 34816 4242 4194304 98 0 0 0 7 3 0 0 20 0 1 0 \
             123456 8704000 160 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 \
             0 0 0 0 0 256"
        )
    }

    #[test]
    fn a_stat_line_gives_its_fields() {
        let stat = parse_stat(stat_line("bridge", 'S').as_bytes()).unwrap();
        assert_eq!(
            stat,
            Stat {
                pid: 4242,
                comm: "bridge".to_owned(),
                state: 'S',
                ppid: 4200,
                flags: 4_194_304,
                utime_ticks: 7,
                stime_ticks: 3,
                start_ticks: 123_456,
                exit_status: Some(256),
            }
        );
        assert!(!stat.is_zombie());
        assert!(!stat.is_fork_without_exec());
        let forked = stat_line("bridge", 'S').replace(" 4194304 ", " 4194368 ");
        assert!(parse_stat(forked.as_bytes())
            .unwrap()
            .is_fork_without_exec());
        assert!(parse_stat(stat_line("bridge", 'Z').as_bytes())
            .unwrap()
            .is_zombie());
    }

    #[test]
    fn comm_may_hold_spaces_and_parentheses() {
        for comm in ["a b", "x) (y", ") S 1 2 (", "((", "))", ""] {
            let stat = parse_stat(stat_line(comm, 'R').as_bytes()).unwrap();
            assert_eq!(stat.comm, comm);
            assert_eq!((stat.ppid, stat.start_ticks), (4200, 123_456));
        }
    }

    #[test]
    fn an_old_kernel_without_exit_code_is_read() {
        // Fields up to 44 only (before Linux 3.5).
        let line = stat_line("old", 'R');
        let cut: Vec<&str> = line.split(' ').take(44).collect();
        let stat = parse_stat(cut.join(" ").as_bytes()).unwrap();
        assert_eq!(stat.exit_status, None);
        assert_eq!(stat.start_ticks, 123_456);
    }

    #[test]
    fn malformed_stat_lines_are_errors() {
        let full = stat_line("ok", 'S');
        assert_eq!(parse_stat(b""), Err(Error::NoComm));
        assert_eq!(parse_stat(b"12 bridge S 1"), Err(Error::NoComm));
        assert_eq!(parse_stat(b"12 )bridge( S 1"), Err(Error::NoComm));
        assert_eq!(
            parse_stat(b"12 (bridge) S 1 2 3"),
            Err(Error::Missing { field: "flags" })
        );
        assert_eq!(
            parse_stat(b"12 (bridge)"),
            Err(Error::Missing { field: "state" })
        );
        assert_eq!(
            parse_stat(full.replace("4242 (", "x (").as_bytes()),
            Err(Error::NotANumber { field: "pid" })
        );
        assert_eq!(
            parse_stat(full.replace(" 4200 4242", " -3 4242").as_bytes()),
            Err(Error::NotANumber { field: "ppid" })
        );
        assert_eq!(
            parse_stat(full.replace(") S", ") 9").as_bytes()),
            Err(Error::NotANumber { field: "state" })
        );
        assert_eq!(
            parse_stat(full.replace("123456", "12x").as_bytes()),
            Err(Error::NotANumber { field: "starttime" })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let full = stat_line("ok", 'S').into_bytes();
        for cut in 0..full.len() {
            let _ = parse_stat(&full[..cut]);
        }
        let _ = parse_stat(&[0xff, b'(', 0xfe, b')', 0x80]);
        let _ = parse_environ(&[0xff, 0, b'C', b'N', b'I', b'_', 0xfe, b'=', 0x80]);
        let _ = parse_args(&[0xff, 0], 3);
    }

    #[test]
    fn only_cni_variables_are_kept_from_environ() {
        let block =
            b"PATH=/usr/bin\0CNI_COMMAND=ADD\0SECRET_TOKEN=hunter2\0CNI_ARGS=K8S_POD_NAME=a;X=1\0\
                      CNI_NOVALUE\0CNI_COMMAND=DEL\0XCNI_IFNAME=eth9\0CNI_IFNAME=eth0";
        let vars = parse_environ(block);
        let expected: Vec<(&str, &str)> = vec![
            ("CNI_ARGS", "K8S_POD_NAME=a;X=1"),
            ("CNI_COMMAND", "ADD"),
            ("CNI_IFNAME", "eth0"),
        ];
        assert_eq!(
            vars.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            expected
        );
        assert!(parse_environ(b"").is_empty());
        assert!(parse_environ(b"\0\0\0").is_empty());
    }

    #[test]
    fn cmdline_gives_the_first_arguments() {
        assert_eq!(
            parse_args(b"/bin/sh\0/opt/cni/bin/script\0--x\0", 2),
            ["/bin/sh", "/opt/cni/bin/script"]
        );
        assert_eq!(parse_args(b"bridge\0", 3), ["bridge"]);
        assert!(parse_args(b"", 3).is_empty());
        assert_eq!(parse_args(b"\0x", 3), ["", "x"]);
    }

    #[test]
    fn namespace_links_give_their_inode() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4_026_531_840));
        assert_eq!(parse_ns_link("net:[]"), None);
        assert_eq!(parse_ns_link("net:[12"), None);
        assert_eq!(parse_ns_link("4026531840"), None);
        assert_eq!(
            exe_path("/usr/lib/cni/bridge (deleted)"),
            "/usr/lib/cni/bridge"
        );
        assert_eq!(exe_path("/usr/lib/cni/bridge"), "/usr/lib/cni/bridge");
    }
}

//! The core's hand-written copy of the record layout (`proto::bpf::layout`,
//! which the core parses records with) equals this crate's
//! `tapio_cni_bpf::record`, which `tests/layout.rs` checks against the C
//! structs as compiled. Needs no privileges.

use proto::bpf::layout as core;
use tapio_cni_bpf::record as bpf;

#[test]
fn sizes_and_limits() {
    assert_eq!(core::COMM_LEN, bpf::COMM_LEN);
    assert_eq!(core::PATH_LEN, bpf::PATH_LEN);
    assert_eq!(core::CHUNK_LEN, bpf::CHUNK_LEN);
    assert_eq!(core::ENV_MAX_CHUNKS, bpf::ENV_MAX_CHUNKS);
    assert_eq!(core::IO_MAX_CHUNKS, bpf::IO_MAX_CHUNKS);
    assert_eq!(core::MAX_DIRS, bpf::MAX_DIRS);
    assert_eq!(core::DIR_LEN, bpf::DIR_LEN);
}

#[test]
fn kinds_flags_and_syscalls() {
    assert_eq!(
        [
            core::kind::EXEC,
            core::kind::ENV,
            core::kind::DATA,
            core::kind::NETNS,
            core::kind::EXIT
        ],
        [
            bpf::kind::EXEC,
            bpf::kind::ENV,
            bpf::kind::DATA,
            bpf::kind::NETNS,
            bpf::kind::EXIT
        ]
    );
    assert_eq!(
        [
            core::flag::PARENT_TRACKED,
            core::flag::PATH_MATCHED,
            core::flag::PATH_TRUNCATED
        ],
        [
            bpf::flag::PARENT_TRACKED,
            bpf::flag::PATH_MATCHED,
            bpf::flag::PATH_TRUNCATED
        ]
    );
    assert_eq!(core::ns_syscall::SETNS, bpf::ns_syscall::SETNS);
    assert_eq!(core::ns_syscall::UNSHARE, bpf::ns_syscall::UNSHARE);
}

#[test]
fn header() {
    assert_eq!(core::header::SIZE, bpf::header::SIZE);
    assert_eq!(core::header::KIND, bpf::header::KIND);
    assert_eq!(core::header::PID, bpf::header::PID);
    assert_eq!(core::header::TID, bpf::header::TID);
    assert_eq!(core::header::PPID, bpf::header::PPID);
    assert_eq!(core::header::TS_NS, bpf::header::TS_NS);
}

#[test]
fn exec() {
    assert_eq!(core::exec::SIZE, bpf::exec::SIZE);
    assert_eq!(core::exec::START_NS, bpf::exec::START_NS);
    assert_eq!(core::exec::CGROUP_ID, bpf::exec::CGROUP_ID);
    assert_eq!(core::exec::NETNS_INO, bpf::exec::NETNS_INO);
    assert_eq!(core::exec::FLAGS, bpf::exec::FLAGS);
    assert_eq!(core::exec::PATH_LEN, bpf::exec::PATH_LEN);
    assert_eq!(core::exec::ENV_LEN, bpf::exec::ENV_LEN);
    assert_eq!(core::exec::COMM, bpf::exec::COMM);
    assert_eq!(core::exec::PATH, bpf::exec::PATH);
}

#[test]
fn env() {
    assert_eq!(core::env::SIZE, bpf::env::SIZE);
    assert_eq!(core::env::ENV_LEN, bpf::env::ENV_LEN);
    assert_eq!(core::env::OFFSET, bpf::env::OFFSET);
    assert_eq!(core::env::LEN, bpf::env::LEN);
    assert_eq!(core::env::DATA, bpf::env::DATA);
}

#[test]
fn data() {
    assert_eq!(core::data::SIZE, bpf::data::SIZE);
    assert_eq!(core::data::FD, bpf::data::FD);
    assert_eq!(core::data::LEN, bpf::data::LEN);
    assert_eq!(core::data::STREAM_OFF, bpf::data::STREAM_OFF);
    assert_eq!(core::data::TOTAL_LEN, bpf::data::TOTAL_LEN);
    assert_eq!(core::data::CHUNK_OFF, bpf::data::CHUNK_OFF);
    assert_eq!(core::data::DATA, bpf::data::DATA);
}

#[test]
fn netns() {
    assert_eq!(core::netns::SIZE, bpf::netns::SIZE);
    assert_eq!(core::netns::SYSCALL, bpf::netns::SYSCALL);
    assert_eq!(core::netns::NS_FLAGS, bpf::netns::NS_FLAGS);
    assert_eq!(core::netns::RET, bpf::netns::RET);
    assert_eq!(core::netns::FD, bpf::netns::FD);
    assert_eq!(core::netns::PREV_NETNS_INO, bpf::netns::PREV_NETNS_INO);
    assert_eq!(core::netns::NETNS_INO, bpf::netns::NETNS_INO);
}

#[test]
fn exit() {
    assert_eq!(core::exit::SIZE, bpf::exit::SIZE);
    assert_eq!(core::exit::EXIT_CODE, bpf::exit::EXIT_CODE);
    assert_eq!(core::exit::FLAGS, bpf::exit::FLAGS);
    assert_eq!(core::exit::TRACKED_NS, bpf::exit::TRACKED_NS);
}

/// Every kind's size, as the core's parser enforces it.
#[test]
fn the_core_parser_expects_each_kinds_size() {
    use proto::bpf::record::Kind;
    for (kind, size) in [
        (bpf::kind::EXEC, bpf::exec::SIZE),
        (bpf::kind::ENV, bpf::env::SIZE),
        (bpf::kind::DATA, bpf::data::SIZE),
        (bpf::kind::NETNS, bpf::netns::SIZE),
        (bpf::kind::EXIT, bpf::exit::SIZE),
    ] {
        assert_eq!(Kind::from_raw(kind).map(Kind::size), Some(size));
    }
}

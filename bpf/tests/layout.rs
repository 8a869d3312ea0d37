//! The hand-written layout in `tapio_cni_bpf::record` (which the core mirrors)
//! equals the C structs of `src/bpf/cni.h`, as the skeleton generated them from
//! the BPF object's BTF. Needs no privileges.

use std::mem::{offset_of, size_of};

use tapio_cni_bpf::c_types as c;
use tapio_cni_bpf::record::{self, data, env, exec, exit, flag, header, kind, netns, ns_syscall};

#[test]
fn header_layout() {
    assert_eq!(size_of::<c::cni_header>(), header::SIZE);
    assert_eq!(offset_of!(c::cni_header, kind), header::KIND);
    assert_eq!(offset_of!(c::cni_header, pid), header::PID);
    assert_eq!(offset_of!(c::cni_header, tid), header::TID);
    assert_eq!(offset_of!(c::cni_header, ppid), header::PPID);
    assert_eq!(offset_of!(c::cni_header, ts_ns), header::TS_NS);
}

#[test]
fn every_record_starts_with_the_header() {
    assert_eq!(offset_of!(c::cni_exec, hdr), 0);
    assert_eq!(offset_of!(c::cni_env, hdr), 0);
    assert_eq!(offset_of!(c::cni_data, hdr), 0);
    assert_eq!(offset_of!(c::cni_netns, hdr), 0);
    assert_eq!(offset_of!(c::cni_exit, hdr), 0);
}

#[test]
fn exec_layout() {
    assert_eq!(size_of::<c::cni_exec>(), exec::SIZE);
    assert_eq!(offset_of!(c::cni_exec, start_ns), exec::START_NS);
    assert_eq!(offset_of!(c::cni_exec, cgroup_id), exec::CGROUP_ID);
    assert_eq!(offset_of!(c::cni_exec, netns_ino), exec::NETNS_INO);
    assert_eq!(offset_of!(c::cni_exec, flags), exec::FLAGS);
    assert_eq!(offset_of!(c::cni_exec, path_len), exec::PATH_LEN);
    assert_eq!(offset_of!(c::cni_exec, env_len), exec::ENV_LEN);
    assert_eq!(offset_of!(c::cni_exec, comm), exec::COMM);
    assert_eq!(offset_of!(c::cni_exec, path), exec::PATH);
    assert_eq!(size_of::<[i8; record::COMM_LEN]>(), exec::PATH - exec::COMM);
    assert_eq!(exec::PATH + record::PATH_LEN, exec::SIZE);
}

#[test]
fn env_layout() {
    assert_eq!(size_of::<c::cni_env>(), env::SIZE);
    assert_eq!(offset_of!(c::cni_env, env_len), env::ENV_LEN);
    assert_eq!(offset_of!(c::cni_env, offset), env::OFFSET);
    assert_eq!(offset_of!(c::cni_env, len), env::LEN);
    assert_eq!(offset_of!(c::cni_env, data), env::DATA);
    assert_eq!(env::DATA + record::CHUNK_LEN, env::SIZE);
}

#[test]
fn data_layout() {
    assert_eq!(size_of::<c::cni_data>(), data::SIZE);
    assert_eq!(offset_of!(c::cni_data, fd), data::FD);
    assert_eq!(offset_of!(c::cni_data, len), data::LEN);
    assert_eq!(offset_of!(c::cni_data, stream_off), data::STREAM_OFF);
    assert_eq!(offset_of!(c::cni_data, total_len), data::TOTAL_LEN);
    assert_eq!(offset_of!(c::cni_data, chunk_off), data::CHUNK_OFF);
    assert_eq!(offset_of!(c::cni_data, data), data::DATA);
    assert_eq!(data::DATA + record::CHUNK_LEN, data::SIZE);
}

#[test]
fn netns_layout() {
    assert_eq!(size_of::<c::cni_netns>(), netns::SIZE);
    assert_eq!(offset_of!(c::cni_netns, syscall), netns::SYSCALL);
    assert_eq!(offset_of!(c::cni_netns, ns_flags), netns::NS_FLAGS);
    assert_eq!(offset_of!(c::cni_netns, ret), netns::RET);
    assert_eq!(offset_of!(c::cni_netns, fd), netns::FD);
    assert_eq!(
        offset_of!(c::cni_netns, prev_netns_ino),
        netns::PREV_NETNS_INO
    );
    assert_eq!(offset_of!(c::cni_netns, netns_ino), netns::NETNS_INO);
}

#[test]
fn exit_layout() {
    assert_eq!(size_of::<c::cni_exit>(), exit::SIZE);
    assert_eq!(offset_of!(c::cni_exit, exit_code), exit::EXIT_CODE);
    assert_eq!(offset_of!(c::cni_exit, flags), exit::FLAGS);
    assert_eq!(offset_of!(c::cni_exit, tracked_ns), exit::TRACKED_NS);
}

#[test]
fn enum_values() {
    assert_eq!(c::cni_record_kind::CNI_RECORD_EXEC.0, kind::EXEC);
    assert_eq!(c::cni_record_kind::CNI_RECORD_ENV.0, kind::ENV);
    assert_eq!(c::cni_record_kind::CNI_RECORD_DATA.0, kind::DATA);
    assert_eq!(c::cni_record_kind::CNI_RECORD_NETNS.0, kind::NETNS);
    assert_eq!(c::cni_record_kind::CNI_RECORD_EXIT.0, kind::EXIT);
    assert_eq!(c::cni_flag::CNI_FLAG_PARENT_TRACKED.0, flag::PARENT_TRACKED);
    assert_eq!(c::cni_flag::CNI_FLAG_PATH_MATCHED.0, flag::PATH_MATCHED);
    assert_eq!(c::cni_flag::CNI_FLAG_PATH_TRUNCATED.0, flag::PATH_TRUNCATED);
    assert_eq!(c::cni_ns_syscall::CNI_NS_SETNS.0, ns_syscall::SETNS);
    assert_eq!(c::cni_ns_syscall::CNI_NS_UNSHARE.0, ns_syscall::UNSHARE);
}

#[test]
fn array_lengths() {
    let exec = c::cni_exec::default();
    assert_eq!(exec.comm.len(), record::COMM_LEN);
    assert_eq!(exec.path.len(), record::PATH_LEN);
    assert_eq!(c::cni_env::default().data.len(), record::CHUNK_LEN);
    assert_eq!(c::cni_data::default().data.len(), record::CHUNK_LEN);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ring-buffer record layout shared by cni.bpf.c and user space.
 *
 * This is the only definition of the layout. The Rust side mirrors it by hand
 * (tapio_cni_bpf::record) because the core parses records from raw bytes
 * without depending on this crate; tests/layout.rs checks the mirror against
 * the types the skeleton generates from this header's BTF, and the
 * _Static_asserts below pin the numbers RECORDS.md documents.
 *
 * Every record starts with struct cni_header. Sizes are fixed per kind, all
 * fields are naturally aligned and every gap is an explicit padding field, so
 * the layout is the same for any C compiler and for a #[repr(C)] mirror.
 * Integers are in the host's byte order.
 */
#ifndef TAPIO_CNI_H
#define TAPIO_CNI_H

#define CNI_COMM_LEN 16
/* Bytes of an exec'd path kept; longer paths are cut and flagged. */
#define CNI_PATH_LEN 256
/* Configured plugin directories: at most this many, each at most this long
 * including the trailing '/' user space adds. */
#define CNI_MAX_DIRS 8
#define CNI_DIR_LEN 128
/* Payload bytes of one ENV or DATA record. A power of two so the verifier can
 * bound copy sizes with a mask. */
#define CNI_CHUNK_LEN 4096
/* Per exec, at most this many ENV chunks (32 KiB of environment). */
#define CNI_ENV_MAX_CHUNKS 8
/* Per read/write syscall, at most this many DATA chunks (64 KiB). */
#define CNI_IO_MAX_CHUNKS 16

enum cni_record_kind {
	CNI_RECORD_EXEC = 1,
	CNI_RECORD_ENV = 2,
	CNI_RECORD_DATA = 3,
	CNI_RECORD_NETNS = 4,
	CNI_RECORD_EXIT = 5,
};

/* cni_exec.flags and cni_exit.flags */
enum cni_flag {
	/* Tracked because its parent process was (a delegated plugin, or any
	 * other child of a plugin). */
	CNI_FLAG_PARENT_TRACKED = 1,
	/* The exec'd path starts with a configured plugin directory. */
	CNI_FLAG_PATH_MATCHED = 2,
	/* The path did not fit in CNI_PATH_LEN bytes. */
	CNI_FLAG_PATH_TRUNCATED = 4,
};

/* cni_netns.syscall */
enum cni_ns_syscall {
	CNI_NS_SETNS = 1,
	CNI_NS_UNSHARE = 2,
};

/*
 * ts_ns is bpf_ktime_get_ns(): CLOCK_MONOTONIC in nanoseconds (time since
 * boot, not counting suspend), the same clock as task start times.
 */
struct cni_header {
	__u32 kind;   /* enum cni_record_kind */
	__u32 pid;    /* tgid: the process id user space sees */
	__u32 tid;    /* the thread that caused the record */
	__u32 ppid;   /* tgid of the real parent at the time of the record */
	__u64 ts_ns;
};

/* A tracked process finished execve: one per exec, before its ENV chunks. */
struct cni_exec {
	struct cni_header hdr;
	__u64 start_ns;   /* task start time, CLOCK_MONOTONIC (fork time) */
	__u64 cgroup_id;  /* cgroup v2 id of the process */
	__u32 netns_ino;  /* inode of its network namespace at exec */
	__u32 flags;      /* enum cni_flag */
	__u32 path_len;   /* bytes of path used, without the NUL */
	__u32 env_len;    /* size of the whole environment block in bytes */
	char comm[CNI_COMM_LEN];
	char path[CNI_PATH_LEN]; /* as passed to execve, NUL-terminated */
};

/*
 * A piece of the environment block of the exec just reported: NUL-separated
 * "KEY=value" strings, exactly as in memory. Chunks are emitted in order;
 * offset + len > env_len never happens, and the block is cut after
 * CNI_ENV_MAX_CHUNKS chunks (user space sees that from env_len).
 */
struct cni_env {
	struct cni_header hdr;
	__u32 env_len;  /* same as cni_exec.env_len */
	__u32 offset;   /* offset of data[0] in the environment block */
	__u32 len;      /* bytes of data used */
	__u32 _pad0;
	char data[CNI_CHUNK_LEN];
};

/*
 * Bytes read from stdin (fd 0, at read(2)'s return, only what was read) or
 * written to stdout/stderr (fd 1/2, at write(2)'s entry: what was asked to be
 * written). One syscall gives up to CNI_IO_MAX_CHUNKS records.
 */
struct cni_data {
	struct cni_header hdr;
	__u32 fd;
	__u32 len;        /* bytes of data used */
	__u64 stream_off; /* offset of data[0] in everything this process read
			     from / wrote to this fd: a gap means lost data */
	__u32 total_len;  /* bytes of the whole syscall */
	__u32 chunk_off;  /* offset of data[0] within this syscall */
	char data[CNI_CHUNK_LEN];
};

/* A tracked process called setns(2) or unshare(2) on its network namespace. */
struct cni_netns {
	struct cni_header hdr;
	__u32 syscall;    /* enum cni_ns_syscall */
	__u32 ns_flags;   /* setns nstype / unshare flags (low 32 bits) */
	__s32 ret;        /* syscall return: 0 or -errno */
	__s32 fd;         /* setns fd; -1 for unshare */
	__u32 prev_netns_ino; /* thread's netns inode before the call */
	__u32 netns_ino;      /* thread's netns inode after the call */
};

/* The last thread of a tracked process exited. */
struct cni_exit {
	struct cni_header hdr;
	__s32 exit_code; /* wait(2) status: exit status << 8 | terminating signal */
	__u32 flags;     /* enum cni_flag, as when the process was tracked */
	__u64 tracked_ns; /* when tracking began (exec or fork), CLOCK_MONOTONIC */
};

/* Value of the plugin_dirs array map, filled by user space. */
struct cni_dir {
	__u32 len; /* 0: unused slot */
	char path[CNI_DIR_LEN]; /* ends with '/' */
};

_Static_assert(sizeof(struct cni_header) == 24, "cni_header layout");
_Static_assert(sizeof(struct cni_exec) == 328, "cni_exec layout");
_Static_assert(sizeof(struct cni_env) == 4136, "cni_env layout");
_Static_assert(sizeof(struct cni_data) == 4144, "cni_data layout");
_Static_assert(sizeof(struct cni_netns) == 48, "cni_netns layout");
_Static_assert(sizeof(struct cni_exit) == 40, "cni_exit layout");
_Static_assert(sizeof(struct cni_dir) == 132, "cni_dir layout");

#endif /* TAPIO_CNI_H */

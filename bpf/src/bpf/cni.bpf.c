// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Observes CNI plugin executions: which processes run a plugin binary (or
 * descend from one), their environment, stdin/stdout/stderr bytes, the
 * network namespaces they enter and their exit status. Every decision is
 * taken here, so an unrelated process pays one hash lookup per event (and an
 * exec additionally a bounded prefix compare of its path).
 *
 * Only tracepoints are used (sched tp_btf + classic syscall tracepoints):
 * kprobes and fentry are not available on every kernel we run on.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "cni.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What a tracked process carries between events. */
struct tracked {
	__u64 tracked_ns; /* tracking began, or last exec */
	__u32 flags;      /* CNI_FLAG_PARENT_TRACKED */
	__u32 _pad0;
	__u64 stream_off[3]; /* bytes seen so far on fd 0, 1, 2 */
};

enum pending_kind {
	PENDING_READ = 1,
	PENDING_SETNS = 2,
	PENDING_UNSHARE = 3,
};

/* State of an in-flight syscall between its enter and exit tracepoints. */
struct pending {
	__u64 buf; /* read(2) buffer */
	__u32 kind;
	__u32 ns_flags;
	__s32 fd;
	__u32 prev_netns_ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* Resized by user space before load; this is the default, 4 MiB. */
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Records lost because the ring buffer was full, per CPU; user space sums. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CNI_MAX_DIRS);
	__type(key, __u32);
	__type(value, struct cni_dir);
} plugin_dirs SEC(".maps");

/* tgid -> state. Entries go at the exit of the process's last thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct tracked);
} tracked SEC(".maps");

/* tid -> syscall in flight. LRU, because a thread killed inside a syscall
 * never reaches the exit tracepoint that would remove its entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

/* The exec'd path, read before deciding whether to report it: too big for
 * the 512-byte stack next to everything else. */
struct path_buf {
	char path[CNI_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} scratch SEC(".maps");

/*
 * Referencing each record type from a global puts it in the object's BTF, so
 * the skeleton generates a Rust mirror of it that tests/layout.rs compares
 * with the hand-written constants.
 */
struct cni_exec _layout_exec = {};
struct cni_env _layout_env = {};
struct cni_data _layout_data = {};
struct cni_netns _layout_netns = {};
struct cni_exit _layout_exit = {};
enum cni_record_kind _layout_kind = 0;
enum cni_flag _layout_flag = 0;
enum cni_ns_syscall _layout_ns_syscall = 0;

static __always_inline void count_drops(__u64 n)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&dropped, &zero);

	/* Per-CPU slot: no other writer, no atomic needed. */
	if (count)
		*count += n;
}

static __always_inline void fill_header(struct cni_header *hdr, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	hdr->kind = kind;
	hdr->pid = id >> 32;
	hdr->tid = (__u32)id;
	hdr->ppid = BPF_CORE_READ(task, real_parent, tgid);
	hdr->ts_ns = bpf_ktime_get_ns();
}

static __always_inline __u32 current_netns_ino(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
}

/* Does path start with one of the configured directories (each ending in
 * '/')? */
static __always_inline bool path_matches(const char *path)
{
	for (__u32 d = 0; d < CNI_MAX_DIRS; d++) {
		__u32 key = d;
		struct cni_dir *dir = bpf_map_lookup_elem(&plugin_dirs, &key);
		__u32 len, i;

		if (!dir)
			return false;
		len = dir->len;
		if (len == 0 || len > CNI_DIR_LEN)
			continue;
		for (i = 0; i < CNI_DIR_LEN; i++) {
			if (i == len || path[i] != dir->path[i])
				break;
		}
		if (i == len)
			return true;
	}
	return false;
}

/* Copies len bytes of user memory at src into DATA records for fd. */
static __always_inline void emit_data(__u32 fd, __u64 src, __u32 len,
				      __u64 stream_off)
{
	for (__u32 i = 0; i < CNI_IO_MAX_CHUNKS; i++) {
		/* 64-bit arithmetic: clang 14 bounds-checks a zero-extended copy
		 * of a 32-bit value but passes the original to the helper. */
		__u64 off = (__u64)i * CNI_CHUNK_LEN;
		struct cni_data *rec;
		__u64 n;

		if (off >= len)
			return;
		rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
		if (!rec) {
			count_drops(1);
			continue;
		}
		n = len - off;
		if (n > CNI_CHUNK_LEN)
			n = CNI_CHUNK_LEN;
		fill_header(&rec->hdr, CNI_RECORD_DATA);
		rec->fd = fd;
		rec->stream_off = stream_off + off;
		rec->total_len = len;
		rec->chunk_off = off;
		/* An unreadable buffer (paged out, bad pointer) still yields the
		 * record, empty, so the stream offsets show the gap. */
		if (bpf_probe_read_user(rec->data, n, (const void *)(src + off)))
			n = 0;
		rec->len = n;
		bpf_ringbuf_submit(rec, 0);
	}
}

/* The environment block of the current process, just exec'd. */
static __always_inline void emit_env(__u64 start, __u32 env_len)
{
	for (__u32 i = 0; i < CNI_ENV_MAX_CHUNKS; i++) {
		__u64 off = (__u64)i * CNI_CHUNK_LEN;
		struct cni_env *rec;
		__u64 n;

		if (off >= env_len)
			return;
		rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
		if (!rec) {
			count_drops(1);
			continue;
		}
		n = env_len - off;
		if (n > CNI_CHUNK_LEN)
			n = CNI_CHUNK_LEN;
		fill_header(&rec->hdr, CNI_RECORD_ENV);
		rec->env_len = env_len;
		rec->offset = off;
		rec->_pad0 = 0;
		if (bpf_probe_read_user(rec->data, n, (const void *)(start + off)))
			n = 0;
		rec->len = n;
		bpf_ringbuf_submit(rec, 0);
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tracked *known = bpf_map_lookup_elem(&tracked, &tgid);
	struct path_buf *buf;
	struct cni_exec *rec;
	struct tracked fresh = {};
	__u64 env_start, env_end;
	__u32 zero = 0, flags = 0, env_len;
	long path_len;

	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!buf)
		return 0;
	path_len = bpf_probe_read_kernel_str(buf->path, sizeof(buf->path),
					     BPF_CORE_READ(bprm, filename));
	if (path_len <= 0)
		return 0;
	if (path_matches(buf->path))
		flags |= CNI_FLAG_PATH_MATCHED;
	if (known)
		flags |= known->flags & CNI_FLAG_PARENT_TRACKED;
	else if (!flags)
		return 0;

	/* A new program image: its streams start again at offset 0. */
	fresh.tracked_ns = bpf_ktime_get_ns();
	fresh.flags = flags & CNI_FLAG_PARENT_TRACKED;
	bpf_map_update_elem(&tracked, &tgid, &fresh, BPF_ANY);

	if (path_len == sizeof(buf->path))
		flags |= CNI_FLAG_PATH_TRUNCATED;
	env_start = BPF_CORE_READ(task, mm, env_start);
	env_end = BPF_CORE_READ(task, mm, env_end);
	env_len = env_end > env_start ? (__u32)(env_end - env_start) : 0;

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drops(1);
	} else {
		fill_header(&rec->hdr, CNI_RECORD_EXEC);
		rec->start_ns = BPF_CORE_READ(task, start_time);
		rec->cgroup_id = bpf_get_current_cgroup_id();
		rec->netns_ino = current_netns_ino();
		rec->flags = flags;
		rec->path_len = path_len - 1;
		rec->env_len = env_len;
		bpf_get_current_comm(rec->comm, sizeof(rec->comm));
		__builtin_memcpy(rec->path, buf->path, sizeof(rec->path));
		bpf_ringbuf_submit(rec, 0);
	}
	emit_env(env_start, env_len);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tracked fresh = {};
	__u32 child_tgid;

	if (!bpf_map_lookup_elem(&tracked, &tgid))
		return 0;
	child_tgid = BPF_CORE_READ(child, tgid);
	/* A new thread of a tracked process is covered by its tgid already. */
	if (child_tgid == tgid)
		return 0;
	fresh.tracked_ns = bpf_ktime_get_ns();
	fresh.flags = CNI_FLAG_PARENT_TRACKED;
	bpf_map_update_elem(&tracked, &child_tgid, &fresh, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct tracked *known = bpf_map_lookup_elem(&tracked, &tgid);
	struct cni_exit *rec;

	if (!known)
		return 0;
	bpf_map_delete_elem(&pending, &tid);
	/*
	 * Report the process once, when its last thread goes: the main thread
	 * can exit first (or be replaced by an exec from another thread), and
	 * the last thread carries the status wait(2) reports.
	 */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drops(1);
	} else {
		fill_header(&rec->hdr, CNI_RECORD_EXIT);
		rec->exit_code = BPF_CORE_READ(task, exit_code);
		rec->flags = known->flags;
		rec->tracked_ns = known->tracked_ns;
		bpf_ringbuf_submit(rec, 0);
	}
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int handle_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct pending p = {};

	if (ctx->args[0] != 0)
		return 0;
	if (!bpf_map_lookup_elem(&tracked, &tgid))
		return 0;
	p.kind = PENDING_READ;
	p.buf = ctx->args[1];
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int handle_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	struct tracked *known;
	long ret = ctx->ret;
	__u64 buf, base;

	if (!p)
		return 0;
	buf = p->buf;
	if (p->kind != PENDING_READ) {
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	bpf_map_delete_elem(&pending, &tid);
	known = bpf_map_lookup_elem(&tracked, &tgid);
	if (!known || ret <= 0)
		return 0;
	base = __sync_fetch_and_add(&known->stream_off[0], ret);
	emit_data(0, buf, ret > 0x7fffffff ? 0x7fffffff : (__u32)ret, base);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int handle_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 fd = ctx->args[0], count = ctx->args[2];
	struct tracked *known;
	__u64 base;

	if (fd != 1 && fd != 2)
		return 0;
	known = bpf_map_lookup_elem(&tracked, &tgid);
	if (!known || count == 0)
		return 0;
	if (count > 0x7fffffff)
		count = 0x7fffffff;
	if (fd == 1)
		base = __sync_fetch_and_add(&known->stream_off[1], count);
	else
		base = __sync_fetch_and_add(&known->stream_off[2], count);
	emit_data(fd, ctx->args[1], count, base);
	return 0;
}

/* Remembers a namespace syscall of a tracked process until it returns. */
static __always_inline void enter_ns(__u32 kind, __u32 ns_flags, __s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct pending p = {};

	if (!bpf_map_lookup_elem(&tracked, &tgid))
		return;
	p.kind = kind;
	p.ns_flags = ns_flags;
	p.fd = fd;
	p.prev_netns_ino = current_netns_ino();
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
}

static __always_inline void exit_ns(__u32 kind, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	struct cni_netns *rec;

	if (!p)
		return;
	if (p->kind != kind) {
		bpf_map_delete_elem(&pending, &tid);
		return;
	}
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_drops(1);
	} else {
		fill_header(&rec->hdr, CNI_RECORD_NETNS);
		rec->syscall = kind == PENDING_SETNS ? CNI_NS_SETNS : CNI_NS_UNSHARE;
		rec->ns_flags = p->ns_flags;
		rec->ret = ret;
		rec->fd = p->fd;
		rec->prev_netns_ino = p->prev_netns_ino;
		/* setns/unshare change the calling thread's namespace: read it
		 * from this thread, not from the process's main thread. */
		rec->netns_ino = current_netns_ino();
		bpf_ringbuf_submit(rec, 0);
	}
	bpf_map_delete_elem(&pending, &tid);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int handle_enter_setns(struct trace_event_raw_sys_enter *ctx)
{
	__u32 nstype = ctx->args[1];

	/* nstype 0 lets the fd decide the kind: it may be a network one. */
	if (nstype != 0 && !(nstype & CLONE_NEWNET))
		return 0;
	enter_ns(PENDING_SETNS, nstype, ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_setns")
int handle_exit_setns(struct trace_event_raw_sys_exit *ctx)
{
	exit_ns(PENDING_SETNS, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int handle_enter_unshare(struct trace_event_raw_sys_enter *ctx)
{
	__u32 flags = ctx->args[0];

	if (!(flags & CLONE_NEWNET))
		return 0;
	enter_ns(PENDING_UNSHARE, flags, -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int handle_exit_unshare(struct trace_event_raw_sys_exit *ctx)
{
	exit_ns(PENDING_UNSHARE, ctx->ret);
	return 0;
}

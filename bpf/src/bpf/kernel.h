/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few kernel types cni.bpf.c touches, declared by hand instead of a
 * generated 3 MB vmlinux.h. Every struct is marked preserve_access_index, so
 * each field access is a CO-RE relocation that libbpf resolves against the
 * running kernel's BTF (/sys/kernel/btf/vmlinux): only the field *names*
 * (and their enclosing type names) have to match the kernel, never the
 * offsets or the members left out. Fields the kernel nests in anonymous
 * structs or unions (mm_struct's env_start, for one) are still found by name.
 */
#ifndef TAPIO_CNI_KERNEL_H
#define TAPIO_CNI_KERNEL_H

/* The integer types bpf_helper_defs.h is written with. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

typedef __u64 u64;
typedef int pid_t;

/* UAPI constants from <linux/bpf.h>: stable kernel ABI. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
};

/* From <linux/sched.h> (UAPI): the namespace flag setns/unshare take. */
#define CLONE_NEWNET 0x40000000

typedef struct {
	int counter;
} atomic_t;

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

struct mm_struct {
	unsigned long env_start;
	unsigned long env_end;
} __attribute__((preserve_access_index));

struct signal_struct {
	atomic_t live;
} __attribute__((preserve_access_index));

struct task_struct {
	pid_t tgid;
	int exit_code;
	u64 start_time;
	struct task_struct *real_parent;
	struct mm_struct *mm;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
} __attribute__((preserve_access_index));

struct linux_binprm {
	const char *filename;
} __attribute__((preserve_access_index));

/* Contexts of the classic syscall tracepoints (syscalls/sys_{enter,exit}_*). */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __attribute__((preserve_access_index));

struct trace_event_raw_sys_enter {
	struct trace_entry ent;
	long id;
	unsigned long args[6];
} __attribute__((preserve_access_index));

struct trace_event_raw_sys_exit {
	struct trace_entry ent;
	long id;
	long ret;
} __attribute__((preserve_access_index));

#endif /* TAPIO_CNI_KERNEL_H */

// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//
// Vigil's system call counter: counts system calls per (process, system
// call number) in kernel maps, so user space reads a fixed, small amount of
// data per active process per interval whatever the call rate.
//
// Counts go to the map that slot 0 of `active` points to. User space keeps
// two count maps and, at the end of each interval, points the slot at the
// other one; updating a map-in-map slot from user space returns only after
// an RCU grace period, so every program that could still be counting into
// the old map has finished, and the old map is then drained and emptied.
// Each count therefore lands in exactly one interval.
//
// A counter in a pid namespace other than the initial one (a container's,
// a lab host's) sets pidns_dev and pidns_inum to its namespace's: only the
// processes of that namespace are counted (not those of namespaces below
// it), each under the pid that namespace gives it, so that the pids are
// those the counter's /proc shows. The helper used needs Linux 5.7; the
// initial namespace's counter never calls it.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_SYSCALL_NR 1024
#define MAX_PATH 256
#define E2BIG 7
#define EEXIST 17

// The counter's pid namespace (its inode number) when only its processes
// are counted; 0 counts every process under its pid in the initial
// namespace. Set by user space before loading.
volatile const __u32 pidns_inum = 0;
// The device of the namespace file system that numbers it.
volatile const __u64 pidns_dev = 0;

// A process (thread group) and one of its system calls.
struct key {
	__u32 tgid;
	__u32 nr;
};

// A process's name as last seen, and whether it has exited.
struct name {
	char comm[16];
	__u32 exited;
	__u32 pad;
};

// The path a process executed, as given to execve.
struct exe {
	char path[MAX_PATH];
};

// Only the field read here; its offset is relocated against the running
// kernel's BTF when the program is loaded (CO-RE).
struct linux_binprm {
	const char *filename;
} __attribute__((preserve_access_index));

// Indexes of the per-CPU statistics.
enum stat {
	STAT_LOST = 0,      // counts not kept: the count map was full
	STAT_OUT_OF_RANGE,  // system call numbers over MAX_SYSCALL_NR
	STAT_NAMES_LOST,    // names not kept
	STAT_EXITS,         // thread-group leaders that exited
	STAT_MAX,
};

// The two count maps; user space may change their size before loading.
#define COUNT_MAP                                 \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_HASH);  \
		__uint(max_entries, 65536);       \
		__type(key, struct key);          \
		__type(value, __u64);             \
	}

COUNT_MAP counts_a SEC(".maps");
COUNT_MAP counts_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 65536);
		__uint(key_size, sizeof(struct key));
		__uint(value_size, sizeof(__u64));
	});
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct name);
} names SEC(".maps");

// Executables, written at exec: they name processes that end before user
// space could read /proc. Loaded only where the kernel has BTF.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct exe);
} exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		*v += 1;
}

// current_tgid is the current process's id as the counter sees it: in the
// initial pid namespace, or with pidns_inum set in that namespace, where 0
// means the process is outside it (not counted).
static __always_inline __u32 current_tgid(void)
{
	if (!pidns_inum)
		return bpf_get_current_pid_tgid() >> 32;
	struct bpf_pidns_info ns = {};
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_inum, &ns, sizeof(ns)))
		return 0;
	return ns.tgid;
}

static __always_inline void remember_name(__u32 tgid, __u32 exited)
{
	struct name n = {};
	bpf_get_current_comm(n.comm, sizeof(n.comm));
	n.exited = exited;
	if (bpf_map_update_elem(&names, &tgid, &n, BPF_ANY))
		stat_inc(STAT_NAMES_LOST);
}

SEC("raw_tracepoint/sys_enter")
int count_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	void *counts = bpf_map_lookup_elem(&active, &zero);
	if (!counts)
		return 0;

	long nr = (long)ctx->args[1];
	if (nr < 0 || nr >= MAX_SYSCALL_NR) {
		stat_inc(STAT_OUT_OF_RANGE);
		return 0;
	}
	struct key k = {
		.tgid = current_tgid(),
		.nr = (__u32)nr,
	};
	if (!k.tgid)
		return 0; // outside the counter's pid namespace
	__u64 *c = bpf_map_lookup_elem(counts, &k);
	if (c) {
		__sync_fetch_and_add(c, 1);
		return 0;
	}
	__u64 one = 1;
	long err = bpf_map_update_elem(counts, &k, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		// Another CPU added the key first.
		c = bpf_map_lookup_elem(counts, &k);
		if (c)
			__sync_fetch_and_add(c, 1);
		else
			stat_inc(STAT_LOST);
		return 0;
	}
	if (err) {
		stat_inc(STAT_LOST);
		return 0;
	}
	// First sight of this call of this process in the interval: keep the
	// process's name now, so a process that ends before the interval does
	// is still named.
	remember_name(k.tgid, 0);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int note_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid != (__u32)id)
		return 0; // a thread other than the leader
	tgid = current_tgid();
	if (!tgid)
		return 0;
	stat_inc(STAT_EXITS);
	remember_name(tgid, 1);
	return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int note_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	__u32 tgid = current_tgid();
	if (!tgid)
		return 0;
	struct exe e = {};
	if (bpf_probe_read_kernel_str(e.path, sizeof(e.path), filename) <= 0)
		return 0;
	bpf_map_update_elem(&exes, &tgid, &e, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

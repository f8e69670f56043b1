// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//
// Vigil's host security events: programs on the scheduler's raw tracepoints
// (exec, fork, exit) and on system call tracepoints that write one record
// per security-relevant action to a BPF ring buffer: exec, fork and exit of
// processes, opens and changes of watched files, privilege gains, ptrace,
// memfd_create, module and BPF program loads, outbound connections and
// accepted ones.
//
// Each system call handler is built twice. As a tracepoint program
// (NAME_tp), user space attaches it to the entry or return tracepoints of
// its own calls (syscalls/sys_enter_openat, ...): no program runs for any
// other call. As a raw tracepoint program it is reached, where those
// tracepoints are missing, through the dispatchers on sys_enter and
// sys_exit, which run for every system call, look its number up in a
// program array and tail-call the handler of the few calls watched (user
// space fills the arrays); where the kernel takes them, the dispatchers'
// tp_btf twins run instead.
//
// Every record starts with struct hdr (the process that acted); the body
// depends on the kind, and variable-length strings follow the body, their
// lengths in the body. Records that find the ring buffer full are counted
// per CPU (STAT_DROPPED) and reported by user space.
//
// File events are filtered here: the path is looked up in an LPM trie of
// watched path prefixes and a hash of watched file names that user space
// fills from its configuration. For a file reached through a descriptor
// (opens, ftruncate, fchmod, fchown) the path is built from the kernel's
// dentries: absolute, symbolic links resolved, mount points crossed. For a
// call naming a path (unlink, rename, chmod, chown, truncate) it is the
// path as given, made absolute with the process's working directory or the
// directory descriptor; symbolic links in it are not resolved. A path given
// with "." or ".." components or repeated slashes ("/etc/../etc/passwd")
// is not filtered here: it goes to user space flagged F_PATH_UNCLEAN, where
// it is cleaned lexically and filtered (the prefix trie would match it as
// written, not as the kernel resolves it). Cleaning in the kernel would
// need a stack of components per path, over the verifier's budget with
// the rest of each program.
//
// An exec record names the pipes on the new program's standard input and
// output (their inode numbers), so that user space can join the two ends
// of a pipeline such as "curl URL | sh".

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;
typedef unsigned char u8;

#define TASK_COMM_LEN 16
#define MAX_DEPTH 32        // path components walked
#define PATH_CAP 1024       // bytes of a path kept (power of two)
#define NAME_CHUNK 256      // NAME_MAX + 1
#define ARGS_CAP 4096       // bytes of argv kept at most (power of two)
#define STR_CAP 256         // other strings (memfd names, module params)
#define LPM_DATA 256
#define NAME_KEY 32
#define ANCESTORS 4
#define NR_MAX 512          // system call numbers watched are below
#define AT_FDCWD -100
#define PATH_MASK 1023      // PATH_CAP - 1
#define BASE_MASK 2047      // 2 * PATH_CAP - 1

// MASK(v, m) is v & m, computed where the verifier sees it: the compiler
// may not drop a mask it can prove redundant, which the verifier cannot.
#define STR_(x) #x
#define XSTR(x) STR_(x)
#define MASK(v, m) ({ u64 __x = (v); asm volatile("%0 &= " XSTR(m) : "+r"(__x)); __x; })

// Record kinds.
enum kind {
	K_EXEC = 1,
	K_EXIT,
	K_FORK,
	K_FILE,
	K_CRED,
	K_PTRACE,
	K_MEMFD,
	K_MODULE,
	K_BPF,
	K_CONNECT,
	K_ACCEPT,
};

// File operations (struct file_body.op).
enum op {
	OP_OPEN = 1, // open for reading
	OP_WRITE,    // open for writing
	OP_TRUNCATE,
	OP_RENAME,
	OP_UNLINK,
	OP_CHMOD,
	OP_CHOWN,
};

// Watch classes: the values of the prefix trie and the name hash.
#define CLASS_OPEN 1
#define CLASS_MODIFY 2
#define CLASS_PERM 4

// Record flags (struct hdr.flags).
#define F_PATH_TRUNC 1   // a path was longer than PATH_CAP or deeper than MAX_DEPTH
#define F_EXE_DELETED 2  // the executable has no link left
#define F_EXE_MEMFD 4    // the executable is a memfd
#define F_ARGS_TRUNC 8   // argv was longer than the bytes kept
#define F_VIA_EXEC 16    // a credential change made by exec
#define F_PATH2_TRUNC 32 // the second path was cut
#define F_CWD_TRUNC 64   // the working directory was cut
#define F_PATH_UNCLEAN 128 // a path given has "." or ".." components or "//": not filtered here

// Per-CPU statistics.
enum stat {
	STAT_DROPPED = 0, // records that found the ring buffer full
	STAT_MAX,
};

// Settings user space writes before loading.
volatile const u32 agent_tgid = 0;
// The agent's pid namespace (its inode number) when that is not the
// initial one: events of the processes in it only, with their pids as they
// are seen there, as the agent's /proc shows them. 0: every process, the
// initial namespace's pids.
volatile const u32 pidns_inum = 0;
volatile const u32 args_max = ARGS_CAP;
// prefilter: the first components of all watched prefixes are in roots.
volatile const u32 prefilter = 0;
// User space is woken when this many bytes wait in the ring buffer; below
// it reads on its own timer. 0: woken for every record.
volatile const u32 wakeup_bytes = 0;

// Settings user space changes while the programs run.
// wake_next: user space found the ring buffer empty and waits without a
// timer; the next record wakes it, whatever its size (and clears this).
volatile u32 wake_next = 0;

struct hdr {
	u32 kind;
	u32 flags;
	u64 ktime; // CLOCK_MONOTONIC ns
	u32 tgid;
	u32 tid;
	u32 ppid;
	u32 uid;
	u32 euid;
	u32 gid;
	u64 cgroup;
	char comm[TASK_COMM_LEN];
};

struct ancestor {
	u32 tgid;
	char comm[TASK_COMM_LEN];
};

struct exec_body {
	u32 path_len;
	u32 args_len;   // bytes of argv that follow the path
	u32 args_total; // bytes of argv the process has
	u32 stdin_mode; // i_mode of fd 0's inode, 0 when there is none
	u32 stdin_rdev;
	u32 nancestors;
	u32 cwd_len;    // the working directory, after the path
	u32 pad;
	u64 cgroups;    // a key naming the process's cgroups (cgroups_key)
	struct ancestor anc[ANCESTORS]; // parent first
	u64 boot_start; // the process's start, CLOCK_BOOTTIME ns (boot_start)
	u64 stdin_ino;  // fd 0's inode number when it is a pipe (S_IFIFO), else 0
	u64 stdout_ino; // fd 1's, likewise
	u32 stdout_mode; // i_mode of fd 1's inode, 0 when there is none
	u32 stdout_rdev;
};

struct exit_body {
	u32 exit_code;
	u32 pad;
	u64 start; // the process's start, CLOCK_MONOTONIC ns
	u64 boot_start; // the same, CLOCK_BOOTTIME ns (boot_start)
};

struct fork_body {
	u32 child;
	u32 pad;
	u64 boot_start; // the child's start, CLOCK_BOOTTIME ns (boot_start)
};

struct file_body {
	u32 op;
	u32 mode;  // open flags, or the mode given to chmod
	u32 owner; // chown's uid and gid
	u32 group;
	u32 path_len;
	u32 path2_len; // rename's new path, after the first
};

struct cred_body {
	u32 old_uid, old_euid, old_gid;
	u32 new_uid, new_euid, new_gid;
	u32 path_len; // via exec: the file executed
	u32 pad;
};

struct ptrace_body {
	u32 request;
	u32 target;
};

struct str_body {
	u32 a;        // memfd: flags; module: 1 init_module, 2 finit_module
	u32 b;        // module: length or fd
	u32 str_len;  // the name (memfd) or parameters (module)
	u32 path_len; // finit_module: the file, STR_CAP bytes into the data
};

struct bpf_body {
	u32 cmd;
	u32 prog_type;
	u32 insn_cnt;
	u32 pad;
	char prog_name[16];
};

struct net_body {
	u16 family;
	u16 protocol;
	u16 type;
	u16 lport;
	u16 rport;
	u16 pad;
	int result; // connect's return value
	u8 laddr[16];
	u8 raddr[16];
};

// The scratch a record is built in (one per CPU).
#define BODY_CAP 160
_Static_assert(sizeof(struct exec_body) <= BODY_CAP, "exec body over BODY_CAP");
struct scratch {
	struct hdr h;
	u8 body[BODY_CAP];
	u8 data[ARGS_CAP + 2 * PATH_CAP + 2 * NAME_CHUNK];
	u64 names[MAX_DEPTH]; // component name pointers, last first
	u32 depth;
	u32 pad;
};

struct lpm_key {
	u32 prefixlen;
	u8 data[LPM_DATA];
};

struct name_key {
	char name[NAME_KEY];
};

// Kernel structures, only the fields read; offsets relocated against the
// running kernel's BTF at load (CO-RE).
typedef struct {
	unsigned int val;
} kuid_t;
typedef struct {
	unsigned int val;
} kgid_t;
typedef struct {
	int counter;
} atomic_t;

struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));


struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	unsigned int i_nlink;
	unsigned int i_rdev;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
} __attribute__((preserve_access_index));

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	unsigned int f_mode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path pwd;
} __attribute__((preserve_access_index));

struct kernfs_node {
	u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct cgroup_subsys_state {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

// The array's size is the running kernel's (a CO-RE field size); 16 here
// only bounds the loop.
#define CG_SUBSYS_MAX 16
struct css_set {
	struct cgroup_subsys_state *subsys[CG_SUBSYS_MAX];
} __attribute__((preserve_access_index));

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct signal_struct {
	atomic_t live;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct pid_namespace {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct upid {
	int nr;
	struct pid_namespace *ns;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct upid numbers[];
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct pid *thread_pid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	char comm[TASK_COMM_LEN];
	const struct cred *cred;
	struct files_struct *files;
	struct fs_struct *fs;
	struct mm_struct *mm;
	struct signal_struct *signal;
	struct css_set *cgroups;
	u64 start_time;
	u64 start_boottime;
	int exit_code;
} __attribute__((preserve_access_index));

// Kernels before 5.5 call start_boottime real_start_time.
struct task_struct___pre55 {
	u64 real_start_time;
} __attribute__((preserve_access_index));

struct linux_binprm {
	struct file *file;
} __attribute__((preserve_access_index));

struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long r10;
	unsigned long r8;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct in6_addr {
	union {
		u8 u6_addr8[16];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	unsigned int skc_daddr;
	unsigned int skc_rcv_saddr;
	unsigned short skc_dport;
	unsigned short skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	unsigned short sk_protocol;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct sockaddr_in_ {
	u16 family;
	u16 port;
	u32 addr;
};

struct sockaddr_in6_ {
	u16 family;
	u16 port;
	u32 flowinfo;
	u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); // user space sets the size
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct lpm_key);
} lpm_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct lpm_key);
	__type(value, u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct name_key);
	__type(value, u32);
} names SEC(".maps");

// The first components of the watched prefixes ("etc", "var", ...).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct name_key);
	__type(value, u32);
} roots SEC(".maps");

// Credentials before a call that may change them (execve, setuid, ...), by
// thread.
struct creds {
	u32 uid, euid, gid, pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, struct creds);
} pending_cred SEC(".maps");

// Connections in progress, by thread: what connect was given.
struct conn {
	u32 fd;
	u16 family, port;
	u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, struct conn);
} pending_conn SEC(".maps");

// The handlers of watched system calls, by number.
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NR_MAX);
	__type(key, u32);
	__type(value, u32);
} enter_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NR_MAX);
	__type(key, u32);
	__type(value, u32);
} exit_calls SEC(".maps");

static __always_inline void stat_inc(u32 which)
{
	u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		__sync_fetch_and_add(v, 1);
}

// MAX_PIDNS_LEVEL bounds how deep below the initial pid namespace the
// agent's may be.
#define MAX_PIDNS_LEVEL 8

// ns_nr is the number of pid p in the agent's pid namespace; 0 when p has
// none there (the process is outside it).
static __always_inline u32 ns_nr(struct pid *p)
{
	if (!p)
		return 0;
	unsigned int level = BPF_CORE_READ(p, level);
	for (int i = 0; i < MAX_PIDNS_LEVEL; i++) {
		if (i > level)
			break;
		struct upid u = {};
		if (bpf_probe_read_kernel(&u, sizeof(u), &p->numbers[i]))
			return 0;
		if (u.ns && BPF_CORE_READ(u.ns, ns.inum) == pidns_inum)
			return u.nr;
	}
	return 0;
}

// vtgid and vtid are a task's process and thread ids as the agent sees
// them (0: outside its pid namespace).
// boot_start is when process t started, in CLOCK_BOOTTIME ns: what
// /proc/PID/stat's field 22 shows in clock ticks (the kernel divides it by
// NSEC_PER_SEC / USER_HZ). t is a thread group leader.
static __always_inline u64 boot_start(struct task_struct *t)
{
	if (bpf_core_field_exists(t->start_boottime))
		return BPF_CORE_READ(t, start_boottime);
	struct task_struct___pre55 *o = (void *)t;
	if (bpf_core_field_exists(o->real_start_time))
		return BPF_CORE_READ(o, real_start_time);
	return 0;
}

static __always_inline u32 vtgid(struct task_struct *t)
{
	if (!pidns_inum)
		return BPF_CORE_READ(t, tgid);
	return ns_nr(BPF_CORE_READ(t, group_leader, thread_pid));
}

static __always_inline u32 vtid(struct task_struct *t)
{
	if (!pidns_inum)
		return BPF_CORE_READ(t, pid);
	return ns_nr(BPF_CORE_READ(t, thread_pid));
}

static __always_inline struct scratch *begin(u32 kind)
{
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	u64 id = bpf_get_current_pid_tgid();
	s->h.kind = kind;
	s->h.flags = 0;
	s->h.ktime = bpf_ktime_get_ns();
	s->h.tgid = id >> 32;
	s->h.tid = (u32)id;
	if (pidns_inum) {
		// Only the agent's namespace, in its numbering.
		s->h.tgid = vtgid(t);
		if (!s->h.tgid)
			return 0;
		s->h.tid = vtid(t);
		s->h.ppid = vtgid(BPF_CORE_READ(t, real_parent));
	} else {
		s->h.ppid = BPF_CORE_READ(t, real_parent, tgid);
	}
	s->h.uid = BPF_CORE_READ(t, cred, uid.val);
	s->h.euid = BPF_CORE_READ(t, cred, euid.val);
	s->h.gid = BPF_CORE_READ(t, cred, gid.val);
	s->h.cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(s->h.comm, sizeof(s->h.comm));
	return s;
}

static __always_inline void submit(struct scratch *s, u64 size)
{
	if (size > sizeof(struct hdr) + BODY_CAP + sizeof(s->data))
		size = sizeof(struct hdr) + BODY_CAP + sizeof(s->data);
	// User space is woken only once wakeup_bytes wait to be read, or by
	// the first record after it found the ring buffer empty; while
	// records come it reads what is there every few milliseconds by
	// itself (wakeup_bytes 0: woken for every record).
	u64 flags = 0;
	if (wake_next) {
		wake_next = 0;
		flags = BPF_RB_FORCE_WAKEUP;
	} else if (wakeup_bytes) {
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	}
	if (bpf_ringbuf_output(&events, s, size, flags))
		stat_inc(STAT_DROPPED);
}

// cgroups_key names the set of cgroups task t is in, in every hierarchy
// (cgroup v1's controllers and v2): a hash of the cgroups' ids, which the
// kernel never reuses. User space caches what it learns of a cgroup set
// (its container) under this key.
static __always_inline u64 cgroups_key(struct task_struct *t)
{
	struct css_set *cs = BPF_CORE_READ(t, cgroups);
	if (!cs)
		return 0;
	u32 n = bpf_core_field_size(cs->subsys) / sizeof(void *);
	u64 h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < CG_SUBSYS_MAX; i++) {
		if (i >= n)
			break;
		struct cgroup_subsys_state *css = 0;
		bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[i]);
		u64 id = 0;
		if (css)
			id = BPF_CORE_READ(css, cgroup, kn, id);
		h = (h ^ id) * 0x100000001b3ULL;
	}
	return h | 1; // never 0, which means unknown
}

#define DATA_OFF (sizeof(struct hdr) + BODY_CAP)

static __always_inline struct mount *real_mount(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

// collect walks from dentry d (on mount vm) up to the root, leaving the
// components' name pointers in s->names, last first, and returns how many
// slots it used; *trunc is set when the root was not reached.
static __always_inline u32 collect(struct scratch *s, struct vfsmount *vm, struct dentry *d, u32 *trunc)
{
	struct mount *m = real_mount(vm);
	u32 n = MAX_DEPTH;
	// Up to the root: one slot per step, a mount crossing leaves its slot
	// empty (so every path to step i has the same n, and the verifier's
	// states stay few).
	for (int i = 0; i < MAX_DEPTH; i++) {
		struct dentry *root = BPF_CORE_READ(vm, mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d != root && d == parent) {
			// A dentry without a parent that is no mount's root: a pseudo
			// file (memfd, pipe, socket) or one cut off. Its own name.
			s->names[i] = (u64)BPF_CORE_READ(d, d_name.name);
			n = i + 1;
			break;
		}
		if (d == root) {
			struct mount *mp = BPF_CORE_READ(m, mnt_parent);
			if (mp && mp != m) {
				s->names[i] = 0;
				d = BPF_CORE_READ(m, mnt_mountpoint);
				m = mp;
				vm = (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt));
				continue;
			}
			n = i;
			break;
		}
		s->names[i] = (u64)BPF_CORE_READ(d, d_name.name);
		d = parent;
	}
	if (n == MAX_DEPTH)
		*trunc = 1;
	// Through memory, so the verifier checks what follows once, not once
	// for each depth.
	s->depth = n;
	n = *(volatile u32 *)&s->depth;
	return n;
}

// build writes the path of the n components collect left in s->names to
// s->data at base, NUL-terminated, and returns its length (at most
// PATH_CAP - 1); *trunc is set when the path was cut.
static __always_inline u32 build(struct scratch *s, u32 base, u32 n, u32 *trunc)
{
	u8 *out = s->data + MASK(base, BASE_MASK);
	u64 off = 0;
	for (int j = 0; j < MAX_DEPTH; j++) {
		if (j >= n)
			break;
		u32 idx = (n - 1 - j) & (MAX_DEPTH - 1);
		if (!s->names[idx])
			continue;
		if (off >= PATH_CAP - 1) {
			*trunc = 1;
			break;
		}
		out[MASK(off, PATH_MASK)] = '/';
		off++;
		long r = bpf_probe_read_kernel_str(out + MASK(off, PATH_MASK), NAME_CHUNK, (const void *)s->names[idx]);
		if (r > 1)
			off += r - 1;
	}
	if (off > PATH_CAP - 1) {
		off = PATH_CAP - 1;
		*trunc = 1;
	}
	if (off == 0) { // the root
		out[0] = '/';
		off = 1;
	}
	out[MASK(off, PATH_MASK)] = 0;
	return off;
}

// walk writes the absolute path of dentry d (on mount vm) to s->data at
// base and returns its length.
static __always_inline u32 walk(struct scratch *s, u32 base, struct vfsmount *vm, struct dentry *d, u32 *trunc)
{
	return build(s, base, collect(s, vm, d, trunc), trunc);
}

// quick_miss says, from the n components collect left, that a path cannot
// be watched: neither its first component is that of a watched prefix nor
// its last a watched name. It saves building the paths of the machine's
// other opens. Off (0) when a prefix's first component is partial.
static __always_inline int quick_miss(struct scratch *s, u32 n)
{
	if (!prefilter || n == 0 || n >= MAX_DEPTH)
		return 0;
	struct name_key k = {};
	if (s->names[0]) {
		long r = bpf_probe_read_kernel_str(k.name, sizeof(k.name), (const void *)s->names[0]);
		if (r > 1 && r < NAME_KEY && bpf_map_lookup_elem(&names, &k))
			return 0;
	}
	// The first component: the last slot used that is no mount crossing.
	u64 top = 0;
	for (int i = 1; i <= 4; i++) {
		if (i > n)
			break;
		top = s->names[MASK(n - i, 31)];
		if (top)
			break;
	}
	if (!top)
		return 0;
	__builtin_memset(&k, 0, sizeof(k));
	long r = bpf_probe_read_kernel_str(k.name, sizeof(k.name), (const void *)top);
	if (r > 1 && r < NAME_KEY && bpf_map_lookup_elem(&roots, &k))
		return 0;
	return 1;
}

// watched returns the classes that the path at s->data[base] (of length
// len), or its last component's name, is watched for.
static __always_inline u32 watched(struct scratch *s, u32 base, u32 len)
{
	u32 zero = 0, classes = 0;
	struct lpm_key *k = bpf_map_lookup_elem(&lpm_scratch, &zero);
	if (!k)
		return 0;
	if (bpf_probe_read_kernel(k->data, LPM_DATA, s->data + MASK(base, BASE_MASK)))
		return 0;
	k->prefixlen = (len > LPM_DATA ? LPM_DATA : len) * 8;
	u32 *v = bpf_map_lookup_elem(&prefixes, k);
	if (v)
		classes |= *v;
	// The last component: after the last '/' of the path's last NAME_KEY
	// bytes (watched names are shorter).
	if (len < 2 || len > PATH_CAP - 1)
		return classes;
	u8 *p = s->data + MASK(base, BASE_MASK);
	u64 start = 0;
	for (int i = 1; i <= NAME_KEY; i++) {
		if (i > len)
			break;
		if (p[MASK(len - i, PATH_MASK)] == '/') {
			start = len - i + 1;
			break;
		}
	}
	if (start == 0 || start >= len)
		return classes;
	struct name_key nk = {};
	long r = bpf_probe_read_kernel_str(nk.name, sizeof(nk.name), p + MASK(start, PATH_MASK));
	if (r > 1 && r < NAME_KEY) {
		v = bpf_map_lookup_elem(&names, &nk);
		if (v)
			classes |= *v;
	}
	return classes;
}

// self_tgid is the current process's id in the initial namespace (the
// key of per-process state).
static __always_inline u32 self_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

// is_agent says whether the current process is the agent itself.
static __always_inline int is_agent(void)
{
	if (!pidns_inum)
		return self_tgid() == agent_tgid;
	return vtgid((struct task_struct *)bpf_get_current_task()) == agent_tgid;
}

// --- processes ---

// exec_tail holds exec_cwd at 0: the exec record is finished in a program
// of its own, so that the verifier checks each path walk once.
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} exec_tail SEC(".maps");

// finish_exec writes argv after the path and the working directory
// (cwd_len bytes, 0 when it could not be read), sends the exec record, and
// then a credential record when the exec gained root.
static __always_inline int finish_exec(struct scratch *s)
{
	struct exec_body *b = (struct exec_body *)s->body;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	u32 plen = b->path_len;
	u64 coff = MASK(plen + 1, PATH_MASK);
	if (b->cwd_len == 0)
		s->data[MASK(coff, PATH_MASK)] = 0;
	u64 aoff = MASK(coff + b->cwd_len + 1, BASE_MASK);

	// argv, as the new program sees it.
	unsigned long as = BPF_CORE_READ(t, mm, arg_start);
	unsigned long ae = BPF_CORE_READ(t, mm, arg_end);
	u64 total = ae > as ? ae - as : 0;
	u64 want = total;
	u32 lim = args_max;
	if (lim > ARGS_CAP)
		lim = ARGS_CAP;
	if (want > lim) {
		want = lim;
		s->h.flags |= F_ARGS_TRUNC;
	}
	b->args_total = total > 0xffffffff ? 0xffffffff : total;
	b->args_len = 0;
	if (want > 0 && want <= ARGS_CAP) {
		if (bpf_probe_read_user(s->data + MASK(aoff, BASE_MASK), want, (void *)as) == 0)
			b->args_len = want;
	}
	submit(s, DATA_OFF + aoff + b->args_len);

	// A gain of root through the exec (a setuid program): compared with
	// the credentials noted when execve was called.
	u32 tgid = self_tgid();
	struct creds *old = bpf_map_lookup_elem(&pending_cred, &tgid);
	if (!old)
		return 0;
	struct creds o = *old;
	bpf_map_delete_elem(&pending_cred, &tgid);
	plen = MASK(plen, PATH_MASK);
	u32 nu = s->h.uid, ne = s->h.euid;
	if (!((o.uid != 0 && nu == 0) || (o.euid != 0 && ne == 0)))
		return 0;
	// The executable's path is still at the start of s->data.
	struct cred_body *cb = (struct cred_body *)s->body;
	s->h.kind = K_CRED;
	s->h.flags = (s->h.flags & F_PATH_TRUNC) | F_VIA_EXEC;
	cb->old_uid = o.uid;
	cb->old_euid = o.euid;
	cb->old_gid = o.gid;
	cb->new_uid = nu;
	cb->new_euid = ne;
	cb->new_gid = s->h.gid;
	cb->path_len = plen;
	cb->pad = 0;
	submit(s, DATA_OFF + plen);
	return 0;
}

// exec_cwd, reached from on_exec, adds the working directory.
SEC("raw_tracepoint")
int exec_cwd(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || s->h.kind != K_EXEC)
		return 0;
	struct exec_body *b = (struct exec_body *)s->body;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	u64 coff = MASK(b->path_len + 1, PATH_MASK);
	u32 trunc = 0;
	b->cwd_len = walk(s, coff, BPF_CORE_READ(t, fs, pwd.mnt), BPF_CORE_READ(t, fs, pwd.dentry), &trunc);
	if (trunc)
		s->h.flags |= F_CWD_TRUNC;
	return finish_exec(s);
}

SEC("raw_tracepoint/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	struct scratch *s = begin(K_EXEC);
	if (!s)
		return 0;
	struct exec_body *b = (struct exec_body *)s->body;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	// The executable.
	struct file *f = BPF_CORE_READ(bprm, file);
	u32 trunc = 0;
	u32 plen = walk(s, 0, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), &trunc);
	if (trunc)
		s->h.flags |= F_PATH_TRUNC;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (BPF_CORE_READ(ino, i_nlink) == 0) {
		s->h.flags |= F_EXE_DELETED;
		// A memfd is an unlinked file named memfd:NAME at the root of
		// the kernel's internal shmem mount.
		if (plen > 7 && s->data[1] == 'm' && s->data[2] == 'e' && s->data[3] == 'm' && s->data[4] == 'f' &&
		    s->data[5] == 'd' && s->data[6] == ':')
			s->h.flags |= F_EXE_MEMFD;
	}
	b->path_len = plen;

	b->cwd_len = 0;
	b->pad = 0;
	b->cgroups = cgroups_key(t);
	b->boot_start = boot_start(BPF_CORE_READ(t, group_leader));

	// Standard input and output; the inode numbers of pipes.
	b->stdin_mode = 0;
	b->stdin_rdev = 0;
	b->stdin_ino = 0;
	b->stdout_ino = 0;
	b->stdout_mode = 0;
	b->stdout_rdev = 0;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	u32 nfds = fdt ? BPF_CORE_READ(fdt, max_fds) : 0;
	if (nfds > 0) {
		struct file **fds = BPF_CORE_READ(fdt, fd);
		struct file *f0 = 0;
		bpf_probe_read_kernel(&f0, sizeof(f0), fds);
		if (f0) {
			struct inode *i0 = BPF_CORE_READ(f0, f_inode);
			b->stdin_mode = BPF_CORE_READ(i0, i_mode);
			b->stdin_rdev = BPF_CORE_READ(i0, i_rdev);
			if ((b->stdin_mode & 0170000) == 0010000) // S_IFIFO
				b->stdin_ino = BPF_CORE_READ(i0, i_ino);
		}
		struct file *f1 = 0;
		if (nfds > 1)
			bpf_probe_read_kernel(&f1, sizeof(f1), fds + 1);
		if (f1) {
			struct inode *i1 = BPF_CORE_READ(f1, f_inode);
			b->stdout_mode = BPF_CORE_READ(i1, i_mode);
			b->stdout_rdev = BPF_CORE_READ(i1, i_rdev);
			if ((b->stdout_mode & 0170000) == 0010000)
				b->stdout_ino = BPF_CORE_READ(i1, i_ino);
		}
	}

	// Ancestors, parent first.
	struct task_struct *p = t;
	b->nancestors = 0;
	for (int i = 0; i < ANCESTORS; i++) {
		p = BPF_CORE_READ(p, real_parent);
		if (!p)
			break;
		u32 pt = vtgid(p);
		if (!pt)
			break; // outside the agent's pid namespace
		b->anc[i].tgid = pt;
		BPF_CORE_READ_STR_INTO(&b->anc[i].comm, p, comm);
		b->nancestors = i + 1;
		if (pt <= 1)
			break;
	}
	bpf_tail_call(ctx, &exec_tail, 0);
	return finish_exec(s); // exec_cwd is not installed
}

SEC("raw_tracepoint/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0; // a thread
	struct scratch *s = begin(K_FORK);
	if (!s)
		return 0;
	struct fork_body *b = (struct fork_body *)s->body;
	b->child = vtgid(child);
	if (!b->child)
		return 0;
	b->pad = 0;
	b->boot_start = boot_start(child);
	submit(s, DATA_OFF);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	// Only the last thread of a process: the process ends.
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	struct scratch *s = begin(K_EXIT);
	if (!s)
		return 0;
	struct exit_body *b = (struct exit_body *)s->body;
	b->exit_code = BPF_CORE_READ(t, exit_code);
	b->pad = 0;
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	b->start = BPF_CORE_READ(leader, start_time);
	b->boot_start = boot_start(leader);
	submit(s, DATA_OFF);
	return 0;
}


// --- system calls ---

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = ctx->args[1];
	if (nr >= 0 && nr < NR_MAX)
		bpf_tail_call(ctx, &enter_calls, (u32)nr);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (nr >= 0 && nr < NR_MAX)
		bpf_tail_call(ctx, &exit_calls, (u32)nr);
	return 0;
}

// The same two dispatchers as BTF-enabled raw tracepoints (tp_btf, Linux
// 5.5), which user space loads in place of those above where the kernel
// takes them, with the handlers loaded as tp_btf programs too (a tail
// call needs caller and callee of one type). Their context is typed, so
// sys_exit_btf reads the call's number straight from the registers, where
// sys_exit needs a bpf_probe_read_kernel call at every system call's
// return.
SEC("tp_btf/sys_enter")
int sys_enter_btf(u64 *ctx)
{
	long nr = (long)ctx[1];
	if (nr >= 0 && nr < NR_MAX)
		bpf_tail_call(ctx, &enter_calls, (u32)nr);
	return 0;
}

SEC("tp_btf/sys_exit")
int sys_exit_btf(u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long nr = regs->orig_ax;
	if (nr >= 0 && nr < NR_MAX)
		bpf_tail_call(ctx, &exit_calls, (u32)nr);
	return 0;
}

#define REGS(ctx) ((struct pt_regs *)(ctx)->args[0])
#define ARG(regs, r) BPF_CORE_READ(regs, r)

// Each handler is built for two hooks. NAME is a raw tracepoint program,
// reached from a dispatcher (above) through its program array, its context
// the registers at ctx->args[0] and, at a call's return, the result at
// ctx->args[1]. NAME_tp is a tracepoint program that user space attaches
// to the call's own tracepoints (syscalls/sys_enter_CALL,
// syscalls/sys_exit_CALL), so that no other system call runs a program:
// it gives the handler the same two words, the registers from the task
// (bpf_task_pt_regs, Linux 5.15) and the result from the tracepoint's
// record. The handler never reads the call's number from ctx->args[1] at
// entry (it reads orig_ax), so NAME_tp leaves it 0.
struct sc_exit {
	u64 common; // the tracepoint's common fields: not readable
	u64 nr;
	long ret;
};

// TP_REGS is the current task's registers at its system call's entry.
#define TP_REGS() ((u64)bpf_task_pt_regs(bpf_get_current_task_btf()))

#define ENTER_HANDLER(name, fn)                                           \
	SEC("raw_tracepoint/sys_enter")                                   \
	int name(struct bpf_raw_tracepoint_args *ctx) { return fn(ctx); } \
	SEC("tracepoint")                                                 \
	int name##_tp(void *ctx)                                          \
	{                                                                 \
		u64 a[2] = {TP_REGS(), 0};                                \
		return fn((struct bpf_raw_tracepoint_args *)a);           \
	}

#define EXIT_HANDLER(name, fn)                                            \
	SEC("raw_tracepoint/sys_exit")                                    \
	int name(struct bpf_raw_tracepoint_args *ctx) { return fn(ctx); } \
	SEC("tracepoint")                                                 \
	int name##_tp(struct sc_exit *ctx)                                \
	{                                                                 \
		u64 a[2] = {TP_REGS(), ctx->ret};                         \
		return fn((struct bpf_raw_tracepoint_args *)a);           \
	}

// fd_file is the calling process's open file fd, or NULL.
static __always_inline struct file *fd_file(long fd)
{
	if (fd < 0)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), fds + fd);
	return f;
}

static __always_inline u32 file_path(struct scratch *s, u32 base, struct file *f, u32 *trunc)
{
	return walk(s, base, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), trunc);
}

// unclean_ctx is what unclean_at reads and sets.
struct unclean_ctx {
	u8 *p;
	u32 len;
	u32 found;
};

// unclean_at: whether the path has a "." or ".." component or "//" at
// byte i (bpf_loop's callback: checked once by the verifier).
static long unclean_at(u64 i, void *arg)
{
	struct unclean_ctx *c = arg;
	if (i + 1 >= c->len)
		return 1;
	u8 *p = c->p;
	if (p[MASK(i, PATH_MASK)] != '/')
		return 0;
	u8 a = p[MASK(i + 1, PATH_MASK)];
	if (a == '/') {
		c->found = 1;
		return 1;
	}
	if (a != '.')
		return 0;
	// p[len] is the NUL after the path.
	u8 b2 = i + 2 <= c->len ? p[MASK(i + 2, PATH_MASK)] : 0;
	if (b2 == '/' || b2 == 0) {
		c->found = 1;
		return 1;
	}
	if (b2 != '.')
		return 0;
	u8 b3 = i + 3 <= c->len ? p[MASK(i + 3, PATH_MASK)] : 0;
	if (b3 == '/' || b3 == 0) {
		c->found = 1;
		return 1;
	}
	return 0;
}

// unclean says whether the path at s->data[base] (len bytes) has "." or
// ".." components or repeated slashes.
static __always_inline u32 unclean(struct scratch *s, u32 base, u32 len)
{
	struct unclean_ctx c = {.p = s->data + MASK(base, BASE_MASK), .len = len, .found = 0};
	if (len < 2 || len > PATH_CAP - 1)
		return 0;
	bpf_loop(len, unclean_at, &c, 0);
	return c.found;
}

// upath writes the path a system call was given (user memory), made
// absolute with the working directory or directory descriptor dfd, to
// s->data at base, and returns its length.
static __always_inline u32 upath(struct scratch *s, u32 base, long dfd, const char *up, u32 *trunc)
{
	char c = 0;
	if (bpf_probe_read_user(&c, 1, up))
		return 0;
	u8 *out = s->data + MASK(base, BASE_MASK);
	u64 off = 0;
	if (c != '/') {
		struct vfsmount *vm;
		struct dentry *d;
		if ((int)dfd == AT_FDCWD) {
			struct task_struct *t = (struct task_struct *)bpf_get_current_task();
			vm = BPF_CORE_READ(t, fs, pwd.mnt);
			d = BPF_CORE_READ(t, fs, pwd.dentry);
		} else {
			struct file *f = fd_file((int)dfd);
			if (!f)
				return 0;
			vm = BPF_CORE_READ(f, f_path.mnt);
			d = BPF_CORE_READ(f, f_path.dentry);
		}
		off = walk(s, base, vm, d, trunc);
		if (off > 1) {
			out[MASK(off, PATH_MASK)] = '/';
			off++;
		}
	}
	long r = bpf_probe_read_user_str(out + MASK(off, PATH_MASK), PATH_CAP, up);
	if (r <= 0)
		return 0;
	if (r == PATH_CAP)
		*trunc = 1;
	off += r - 1;
	if (off > PATH_CAP - 1) {
		off = PATH_CAP - 1;
		*trunc = 1;
		out[MASK(off, PATH_MASK)] = 0;
	}
	return off;
}

// file_event submits the file record whose path s->data holds (len bytes)
// when the path is watched for one of the classes need.
// given: the path is one a system call was given (upath), not built from
// dentries.
static __always_inline int file_event(struct scratch *s, u32 op, u32 need, u32 len, u32 trunc, u32 mode, u32 owner, u32 group, u32 given)
{
	if (len == 0)
		return 0;
	u32 classes = watched(s, 0, len);
	if (op == OP_CHMOD && (mode & 06000))
		classes |= CLASS_PERM;
	// A path given with "." or ".." components is cleaned and filtered
	// in user space, whatever it matches as written.
	if (given && unclean(s, 0, len))
		s->h.flags |= F_PATH_UNCLEAN;
	else if (!(classes & need))
		return 0;
	if (trunc)
		s->h.flags |= F_PATH_TRUNC;
	struct file_body *b = (struct file_body *)s->body;
	b->op = op;
	b->mode = mode;
	b->owner = owner;
	b->group = group;
	b->path_len = len;
	b->path2_len = 0;
	submit(s, DATA_OFF + len);
	return 0;
}

// open, openat, openat2, creat: at their return, the file opened.
static __always_inline int do_x_open(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = ctx->args[1];
	if (ret < 0 || is_agent())
		return 0;
	struct pt_regs *regs = REGS(ctx);
	long nr = ARG(regs, orig_ax);
	u64 flags = 0;
	if (nr == 2) // open
		flags = ARG(regs, si);
	else if (nr == 257) // openat
		flags = ARG(regs, dx);
	else if (nr == 85) // creat
		flags = 01101;
	else if (nr == 437) // openat2: struct open_how's flags
		bpf_probe_read_user(&flags, sizeof(flags), (void *)ARG(regs, dx));
	if (flags & 020000000) // O_PATH
		return 0;
	struct file *f = fd_file(ret);
	if (!f)
		return 0;
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 trunc = 0;
	u32 n = collect(s, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), &trunc);
	if (quick_miss(s, n))
		return 0;
	u32 len = build(s, 0, n, &trunc);
	u32 writes = (flags & 3) != 0 || (flags & 01000);
	return file_event(s, writes ? OP_WRITE : OP_OPEN, writes ? CLASS_MODIFY : CLASS_OPEN, len, trunc, flags, 0, 0, 0);
}
EXIT_HANDLER(x_open, do_x_open)

// The handlers of calls given a path come in three builds: NAME and NAME_tp
// find "." and ".." components with bpf_loop (Linux 5.17), NAME_noloop,
// loaded behind the dispatchers where the kernel has no bpf_loop, filters
// paths as written.
#define PATH_HANDLER(name, fn)                                                    \
	SEC("raw_tracepoint/sys_enter")                                           \
	int name(struct bpf_raw_tracepoint_args *ctx) { return fn(ctx, 1); }      \
	SEC("raw_tracepoint/sys_enter")                                           \
	int name##_noloop(struct bpf_raw_tracepoint_args *ctx) { return fn(ctx, 0); } \
	SEC("tracepoint")                                                         \
	int name##_tp(void *ctx)                                                  \
	{                                                                         \
		u64 a[2] = {TP_REGS(), 0};                                        \
		return fn((struct bpf_raw_tracepoint_args *)a, 1);                \
	}

// truncate(path, length)
static __always_inline int do_truncate(struct bpf_raw_tracepoint_args *ctx, int loop)
{
	if (is_agent())
		return 0;
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 trunc = 0;
	u32 len = upath(s, 0, AT_FDCWD, (const char *)ARG(REGS(ctx), di), &trunc);
	return file_event(s, OP_TRUNCATE, CLASS_MODIFY, len, trunc, 0, 0, 0, loop);
}
PATH_HANDLER(e_truncate, do_truncate)

// ftruncate(fd, length)
static __always_inline int do_e_ftruncate(struct bpf_raw_tracepoint_args *ctx)
{
	if (is_agent())
		return 0;
	struct file *f = fd_file((int)ARG(REGS(ctx), di));
	if (!f)
		return 0;
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 trunc = 0;
	u32 len = file_path(s, 0, f, &trunc);
	return file_event(s, OP_TRUNCATE, CLASS_MODIFY, len, trunc, 0, 0, 0, 0);
}
ENTER_HANDLER(e_ftruncate, do_e_ftruncate)

// unlink(path), unlinkat(dfd, path, flags)
static __always_inline int do_unlink(struct bpf_raw_tracepoint_args *ctx, int loop)
{
	if (is_agent())
		return 0;
	struct pt_regs *regs = REGS(ctx);
	long dfd = AT_FDCWD;
	const char *p = (const char *)ARG(regs, di);
	if (ARG(regs, orig_ax) == 263) {
		dfd = ARG(regs, di);
		p = (const char *)ARG(regs, si);
	}
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 trunc = 0;
	u32 len = upath(s, 0, dfd, p, &trunc);
	return file_event(s, OP_UNLINK, CLASS_MODIFY, len, trunc, 0, 0, 0, loop);
}
PATH_HANDLER(e_unlink, do_unlink)

// rename(old, new), renameat(olddfd, old, newdfd, new), renameat2(..., flags)
static __always_inline int do_rename(struct bpf_raw_tracepoint_args *ctx, int loop)
{
	if (is_agent())
		return 0;
	struct pt_regs *regs = REGS(ctx);
	long od = AT_FDCWD, nd = AT_FDCWD;
	const char *op = (const char *)ARG(regs, di), *np = (const char *)ARG(regs, si);
	if (ARG(regs, orig_ax) != 82) {
		od = ARG(regs, di);
		op = (const char *)ARG(regs, si);
		nd = ARG(regs, dx);
		np = (const char *)ARG(regs, r10);
	}
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 t1 = 0, t2 = 0;
	u32 len = upath(s, 0, od, op, &t1);
	if (len == 0)
		return 0;
	u32 classes = watched(s, 0, len);
	u32 base2 = (len + 1) & PATH_MASK;
	u32 len2 = upath(s, base2, nd, np, &t2);
	classes |= watched(s, base2, len2);
	if (loop && (unclean(s, 0, len) || unclean(s, base2, len2)))
		s->h.flags |= F_PATH_UNCLEAN;
	else if (!(classes & CLASS_MODIFY))
		return 0;
	if (t1)
		s->h.flags |= F_PATH_TRUNC;
	if (t2)
		s->h.flags |= F_PATH2_TRUNC;
	struct file_body *b = (struct file_body *)s->body;
	b->op = OP_RENAME;
	b->mode = 0;
	b->owner = 0;
	b->group = 0;
	b->path_len = len;
	b->path2_len = len2;
	submit(s, DATA_OFF + base2 + len2);
	return 0;
}
PATH_HANDLER(e_rename, do_rename)

// chmod(path, mode), fchmodat(dfd, path, mode), fchmodat2(dfd, path, mode,
// flags), fchmod(fd, mode)
static __always_inline int do_chmod(struct bpf_raw_tracepoint_args *ctx, int loop)
{
	if (is_agent())
		return 0;
	struct pt_regs *regs = REGS(ctx);
	long nr = ARG(regs, orig_ax);
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 trunc = 0, len = 0, mode;
	if (nr == 91) {
		struct file *f = fd_file((int)ARG(regs, di));
		if (!f)
			return 0;
		len = file_path(s, 0, f, &trunc);
		mode = ARG(regs, si);
	} else if (nr == 90) {
		len = upath(s, 0, AT_FDCWD, (const char *)ARG(regs, di), &trunc);
		mode = ARG(regs, si);
	} else {
		len = upath(s, 0, ARG(regs, di), (const char *)ARG(regs, si), &trunc);
		mode = ARG(regs, dx);
	}
	return file_event(s, OP_CHMOD, CLASS_PERM | CLASS_MODIFY, len, trunc, mode, 0, 0, loop && nr != 91);
}
PATH_HANDLER(e_chmod, do_chmod)

// chown(path, uid, gid), lchown, fchownat(dfd, path, uid, gid, flags),
// fchown(fd, uid, gid)
static __always_inline int do_chown(struct bpf_raw_tracepoint_args *ctx, int loop)
{
	if (is_agent())
		return 0;
	struct pt_regs *regs = REGS(ctx);
	long nr = ARG(regs, orig_ax);
	struct scratch *s = begin(K_FILE);
	if (!s)
		return 0;
	u32 trunc = 0, len = 0, uid, gid;
	if (nr == 93) {
		struct file *f = fd_file((int)ARG(regs, di));
		if (!f)
			return 0;
		len = file_path(s, 0, f, &trunc);
		uid = ARG(regs, si);
		gid = ARG(regs, dx);
	} else if (nr == 260) {
		len = upath(s, 0, ARG(regs, di), (const char *)ARG(regs, si), &trunc);
		uid = ARG(regs, dx);
		gid = ARG(regs, r10);
	} else {
		len = upath(s, 0, AT_FDCWD, (const char *)ARG(regs, di), &trunc);
		uid = ARG(regs, si);
		gid = ARG(regs, dx);
	}
	return file_event(s, OP_CHOWN, CLASS_PERM | CLASS_MODIFY, len, trunc, 0, uid, gid, loop && nr != 93);
}
PATH_HANDLER(e_chown, do_chown)

// --- privileges and injection ---

static __always_inline void save_creds(u32 key)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct creds c = {
		.uid = BPF_CORE_READ(t, cred, uid.val),
		.euid = BPF_CORE_READ(t, cred, euid.val),
		.gid = BPF_CORE_READ(t, cred, gid.val),
	};
	if (c.uid == 0 && c.euid == 0)
		return; // nothing to gain
	bpf_map_update_elem(&pending_cred, &key, &c, BPF_ANY);
}

// execve, execveat: the credentials before, for on_exec.
static __always_inline int do_e_exec(struct bpf_raw_tracepoint_args *ctx)
{
	save_creds(self_tgid());
	return 0;
}
ENTER_HANDLER(e_exec, do_e_exec)

// execve, execveat at their return: a failed exec leaves nothing behind
// (a successful one was handled at the exec tracepoint).
static __always_inline int do_x_exec(struct bpf_raw_tracepoint_args *ctx)
{
	u32 tgid = self_tgid();
	bpf_map_delete_elem(&pending_cred, &tgid);
	return 0;
}
EXIT_HANDLER(x_exec, do_x_exec)

// setuid, setreuid, setresuid, setfsuid: the credentials before.
static __always_inline int do_e_setuid(struct bpf_raw_tracepoint_args *ctx)
{
	save_creds((u32)bpf_get_current_pid_tgid());
	return 0;
}
ENTER_HANDLER(e_setuid, do_e_setuid)

static __always_inline int do_x_setuid(struct bpf_raw_tracepoint_args *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct creds *old = bpf_map_lookup_elem(&pending_cred, &tid);
	if (!old)
		return 0;
	struct creds o = *old;
	bpf_map_delete_elem(&pending_cred, &tid);
	struct scratch *s = begin(K_CRED);
	if (!s)
		return 0;
	if (!((o.uid != 0 && s->h.uid == 0) || (o.euid != 0 && s->h.euid == 0)))
		return 0;
	struct cred_body *b = (struct cred_body *)s->body;
	b->old_uid = o.uid;
	b->old_euid = o.euid;
	b->old_gid = o.gid;
	b->new_uid = s->h.uid;
	b->new_euid = s->h.euid;
	b->new_gid = s->h.gid;
	b->path_len = 0;
	b->pad = 0;
	submit(s, DATA_OFF);
	return 0;
}
EXIT_HANDLER(x_setuid, do_x_setuid)

// ptrace(request, pid, addr, data)
static __always_inline int do_e_ptrace(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = REGS(ctx);
	long req = ARG(regs, di);
	// PTRACE_POKETEXT, POKEDATA, POKEUSER, SETREGS, ATTACH, SEIZE.
	if (req != 4 && req != 5 && req != 6 && req != 13 && req != 16 && req != 0x4206)
		return 0;
	struct scratch *s = begin(K_PTRACE);
	if (!s)
		return 0;
	struct ptrace_body *b = (struct ptrace_body *)s->body;
	b->request = req;
	b->target = ARG(regs, si);
	submit(s, DATA_OFF);
	return 0;
}
ENTER_HANDLER(e_ptrace, do_e_ptrace)

// memfd_create(name, flags)
static __always_inline int do_e_memfd(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = REGS(ctx);
	struct scratch *s = begin(K_MEMFD);
	if (!s)
		return 0;
	struct str_body *b = (struct str_body *)s->body;
	b->a = ARG(regs, si);
	b->b = 0;
	b->path_len = 0;
	long r = bpf_probe_read_user_str(s->data, STR_CAP, (void *)ARG(regs, di));
	b->str_len = r > 1 ? r - 1 : 0;
	submit(s, DATA_OFF + b->str_len);
	return 0;
}
ENTER_HANDLER(e_memfd, do_e_memfd)

// init_module(image, len, params), finit_module(fd, params, flags)
static __always_inline int do_e_module(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = REGS(ctx);
	struct scratch *s = begin(K_MODULE);
	if (!s)
		return 0;
	struct str_body *b = (struct str_body *)s->body;
	const char *params;
	b->path_len = 0;
	if (ARG(regs, orig_ax) == 313) {
		b->a = 2;
		b->b = ARG(regs, di);
		params = (const char *)ARG(regs, si);
		struct file *f = fd_file((int)b->b);
		if (f) {
			u32 trunc = 0;
			b->path_len = file_path(s, STR_CAP, f, &trunc);
		}
	} else {
		b->a = 1;
		b->b = ARG(regs, si);
		params = (const char *)ARG(regs, dx);
	}
	long r = bpf_probe_read_user_str(s->data, STR_CAP, params);
	b->str_len = r > 1 ? r - 1 : 0;
	submit(s, DATA_OFF + STR_CAP + b->path_len);
	return 0;
}
ENTER_HANDLER(e_module, do_e_module)

// bpf(cmd, attr, size): program loads.
static __always_inline int do_e_bpf(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = REGS(ctx);
	long cmd = ARG(regs, di);
	if (cmd != 5 || is_agent()) // BPF_PROG_LOAD
		return 0;
	struct scratch *s = begin(K_BPF);
	if (!s)
		return 0;
	struct bpf_body *b = (struct bpf_body *)s->body;
	u8 attr[64] = {};
	// No more than the caller gave (size): the kernel takes a shorter
	// attr, zero-extended, and one at the end of its mapping would fail a
	// longer read.
	u64 asz = ARG(regs, dx);
	if (asz > sizeof(attr))
		asz = sizeof(attr);
	asz = MASK(asz, 127);
	if (asz > 0 && asz <= sizeof(attr))
		bpf_probe_read_user(attr, asz, (void *)ARG(regs, si));
	b->cmd = cmd;
	b->prog_type = *(u32 *)&attr[0];
	b->insn_cnt = *(u32 *)&attr[4];
	b->pad = 0;
	__builtin_memcpy(b->prog_name, &attr[48], 16);
	submit(s, DATA_OFF);
	return 0;
}
ENTER_HANDLER(e_bpf, do_e_bpf)

// --- network ---

static __always_inline struct sock *fd_sock(long fd, short *type)
{
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & 0170000) != 0140000) // S_IFSOCK
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	*type = BPF_CORE_READ(sock, type);
	return BPF_CORE_READ(sock, sk);
}

// connect(fd, addr, len): noted at entry, reported at return with the
// result.
static __always_inline int do_e_connect(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = REGS(ctx);
	struct conn c = {};
	struct sockaddr_in6_ sa = {};
	// No more than the caller gave (addrlen): an address at the end of
	// its mapping would fail a longer read, and its event be lost.
	u64 alen = ARG(regs, dx);
	if (alen > sizeof(sa))
		alen = sizeof(sa);
	alen = MASK(alen, 31);
	if (alen < 2 || alen > sizeof(sa) || bpf_probe_read_user(&sa, alen, (void *)ARG(regs, si)))
		return 0;
	if (sa.family != 2 && sa.family != 10) // AF_INET, AF_INET6
		return 0;
	c.fd = ARG(regs, di);
	c.family = sa.family;
	c.port = __builtin_bswap16(sa.port);
	if (sa.family == 2)
		__builtin_memcpy(c.addr, &sa.flowinfo, 4); // sin_addr is where sin6_flowinfo is
	else
		__builtin_memcpy(c.addr, sa.addr, 16);
	u32 tid = (u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_conn, &tid, &c, BPF_ANY);
	return 0;
}
ENTER_HANDLER(e_connect, do_e_connect)

static __always_inline int do_x_connect(struct bpf_raw_tracepoint_args *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct conn *cp = bpf_map_lookup_elem(&pending_conn, &tid);
	if (!cp)
		return 0;
	struct conn c = *cp;
	bpf_map_delete_elem(&pending_conn, &tid);
	struct scratch *s = begin(K_CONNECT);
	if (!s)
		return 0;
	struct net_body *b = (struct net_body *)s->body;
	__builtin_memset(b, 0, sizeof(*b));
	short type = 0;
	struct sock *sk = fd_sock(c.fd, &type);
	if (sk) {
		b->protocol = BPF_CORE_READ(sk, sk_protocol);
		b->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	b->type = type;
	b->family = c.family;
	b->rport = c.port;
	__builtin_memcpy(b->raddr, c.addr, 16);
	b->result = ctx->args[1];
	submit(s, DATA_OFF);
	return 0;
}
EXIT_HANDLER(x_connect, do_x_connect)

// accept(fd, ...), accept4: at their return, the connection accepted.
static __always_inline int do_x_accept(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = ctx->args[1];
	if (ret < 0)
		return 0;
	short type = 0;
	struct sock *sk = fd_sock(ret, &type);
	if (!sk)
		return 0;
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != 2 && family != 10)
		return 0;
	struct scratch *s = begin(K_ACCEPT);
	if (!s)
		return 0;
	struct net_body *b = (struct net_body *)s->body;
	__builtin_memset(b, 0, sizeof(*b));
	b->family = family;
	b->protocol = BPF_CORE_READ(sk, sk_protocol);
	b->type = type;
	b->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	b->rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == 2) {
		u32 la = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		u32 ra = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(b->laddr, &la, 4);
		__builtin_memcpy(b->raddr, &ra, 4);
	} else {
		BPF_CORE_READ_INTO(&b->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&b->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	submit(s, DATA_OFF);
	return 0;
}
EXIT_HANDLER(x_accept, do_x_accept)

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// SPDX-License-Identifier: MIT OR GPL-2.0
//
// kaudit's name capture: the path arguments of the path-taking system calls
// and their results, for every process on the node.
//
// The calls of 64-bit programs come through the per-call tracepoints
// (syscalls/sys_enter_NAME, sys_exit_NAME), which fire only for the calls
// captured. The two raw tracepoints (sys_enter, sys_exit) fire for every
// system call of every process and cost their dispatch on each, whatever the
// program does: they serve the calls of 32-bit programs, which the per-call
// tracepoints do not report, and are attached only once a 32-bit program
// runs (`names_exec32` holds the first one until then). Where the per-call
// tracepoints cannot be used (no tracefs, or the x32 ABI is on), the raw
// tracepoints serve every call, as the whole capture.
//
// The arguments (the saved registers) and the current task are typed
// kernel pointers, read with plain loads rather than one copying helper
// call per field. At entry the path is copied from the caller's memory
// (execve replaces that memory, so entry is the only time it can be read);
// at exit the result follows. Both go to one ring buffer as variable-length
// records; user space pairs them by thread id. A record that does not fit
// in the ring buffer is counted in `dropped`, never silently lost.
//
// x86-64 only: system call numbers and the pt_regs layout are that ABI's.
// Calls a 32-bit program makes (the ia32 table, arguments in ebx, ecx, edx,
// esi, edi, ebp) are translated here to the 64-bit call of the same meaning
// (stat64 is sent as stat, fstatat64 as newfstatat) with the arguments taken
// from the ia32 registers; calls through the x32 ABI are counted, not read.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

// Only the fields read here, relocated against the running kernel's BTF
// (CO-RE): the process's root and working directory, as (device, inode)
// pairs that user space names once (from a process that has them, or at
// start from every running process) and caches.
struct super_block {
    __u32 s_dev;
} __attribute__((preserve_access_index));
struct inode {
    unsigned short i_mode;
    unsigned long i_ino;
} __attribute__((preserve_access_index));
struct dentry {
    struct inode *d_inode;
    struct super_block *d_sb;
} __attribute__((preserve_access_index));
struct path {
    void *mnt;
    struct dentry *dentry;
} __attribute__((preserve_access_index));
struct fs_struct {
    struct path root;
    struct path pwd;
} __attribute__((preserve_access_index));
struct file {
    struct path f_path;
} __attribute__((preserve_access_index));
struct fdtable {
    unsigned int max_fds;
    struct file **fd;
} __attribute__((preserve_access_index));
struct files_struct {
    struct fdtable *fdt;
} __attribute__((preserve_access_index));
struct ns_common {
    unsigned int inum;
} __attribute__((preserve_access_index));
struct mnt_namespace {
    struct ns_common ns;
} __attribute__((preserve_access_index));
struct nsproxy {
    struct mnt_namespace *mnt_ns;
} __attribute__((preserve_access_index));
struct thread_info {
    __u32 status;
} __attribute__((preserve_access_index));
// a process id: how deep its PID namespace is (0: the host's)
struct pid {
    unsigned int level;
} __attribute__((preserve_access_index));

struct task_struct {
    struct thread_info thread_info;
    struct fs_struct *fs;
    struct files_struct *files;
    struct nsproxy *nsproxy;
    struct pid *thread_pid;
} __attribute__((preserve_access_index));

// the registers saved at system call entry (arch/x86/include/asm/ptrace.h)
struct pt_regs___k {
    unsigned long bp;
    unsigned long bx;
    unsigned long r10;
    unsigned long r8;
    unsigned long cx;
    unsigned long dx;
    unsigned long si;
    unsigned long di;
    unsigned long orig_ax;
} __attribute__((preserve_access_index));

#define PATH_CAP 4096

// the ia32 numbers of the same calls (arch/x86/entry/syscalls/syscall_32.tbl)
#define IA32_OPEN 5
#define IA32_EXECVE 11
#define IA32_CHDIR 12
#define IA32_OLDSTAT 18
#define IA32_ACCESS 33
#define IA32_OLDLSTAT 84
#define IA32_READLINK 85
#define IA32_STAT 106
#define IA32_LSTAT 107
#define IA32_FCHDIR 133
#define IA32_STAT64 195
#define IA32_LSTAT64 196
#define IA32_OPENAT 295
#define IA32_FSTATAT64 300
#define IA32_READLINKAT 305
#define IA32_FACCESSAT 307
#define IA32_EXECVEAT 358
#define IA32_STATX 383
#define IA32_OPENAT2 437
#define IA32_FACCESSAT2 439
#define X32_SYSCALL_BIT 0x40000000

#define NR_OPEN 2
#define NR_STAT 4
#define NR_LSTAT 6
#define NR_ACCESS 21
#define NR_EXECVE 59
#define NR_CHDIR 80
#define NR_FCHDIR 81
#define NR_READLINK 89
#define NR_OPENAT 257
#define NR_NEWFSTATAT 262
#define NR_READLINKAT 267
#define NR_FACCESSAT 269
#define NR_EXECVEAT 322
#define NR_STATX 332
#define NR_OPENAT2 437
#define NR_FACCESSAT2 439

#define KIND_ENTER 1
#define KIND_EXIT 2
#define KIND_EXEC32 3 // a 32-bit program started (val: 0 when it was stopped)
#define SIGSTOP 19
#define AT_FDCWD -100

struct hdr {
    __u32 kind;
    __u32 nr;
    __u32 tgid;
    __u32 tid;
    __s64 val; // entry: the directory fd (AT_FDCWD for plain names); exit: the result
    __u64 flags; // entry: open/stat/exec flags
    __u32 len; // bytes of path that follow, with the final NUL
    char comm[16];
    __u32 compat; // entry: the call was made in 32-bit mode
    __u64 root_ino; // entry: the process's root directory
    __u64 pwd_ino; // entry: its working directory (exit of chdir: the new one)
    __u32 root_dev; // kernel dev_t of the root directory's filesystem
    __u32 pwd_dev;
    __u64 dir_ino; // entry: the directory descriptor's directory; exit of an open: the directory opened
    __u32 dir_dev;
    __u32 opened_dir; // exit of an open: it opened a directory
};

struct scratch {
    struct hdr h;
    char path[PATH_CAP];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 25);
} names SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch SEC(".maps");

// [0]: records that did not fit in the ring buffer; [1]: calls made through
// the x32 ABI, whose structures are another ABI's (not read)
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} dropped SEC(".maps");

// Repeats are suppressed here (an LRU list per CPU, so that no lock is
// shared; its size is set by the loader): a name (path, call, and what places it) is
// sent once per kind of result (ok, ENOENT, another error). Calls other than
// exec and chdir are handled at their exit, where the result is known and the
// arguments are still in the saved registers and the caller's memory: a
// repeat then costs one hash and one lookup, and nothing is kept per thread.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(map_flags, BPF_F_NO_COMMON_LRU);
    __uint(max_entries, 131072);
    __type(key, __u64);
    __type(value, __u32);
} seen SEC(".maps");

// set by the loader: the tracer's own process, whose calls are not recorded
const volatile __u32 own_tgid = 0;
// set by the loader when tracing another root (`--root`): the host's mount
// namespace, whose processes are left out in the kernel (the workload runs
// in a private namespace and its containers in namespaces of their own)
const volatile __u32 skip_mnt_ns = 0;
// and, for a booted node, kaudit's own private namespace: the harness (the
// container manager, the DHCP server) runs there, the node in its own
const volatile __u32 skip_mnt_ns2 = 0;
// set for a booted node: only processes in a PID namespace below the
// host's are the node's (its init and everything under it; a command
// entering it with nsenter runs there too)
const volatile __u32 nested_pid_ns_only = 0;

// set by the loader when the calls of 64-bit programs come through the
// per-call tracepoints: the raw tracepoints then only serve calls made in
// 32-bit mode
const volatile __u32 raw_compat_only = 0;

// [0]: set by user space once the raw tracepoints are attached (32-bit
// programs no longer need holding); [1]: set when the run is over (the
// per-call tracepoints are detached in the background, and do nothing
// meanwhile)
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} state SEC(".maps");

static __always_inline int run_over(void)
{
    __u32 one = 1;
    __u32 *over = bpf_map_lookup_elem(&state, &one);
    return over && *over;
}

static __always_inline int skipped(void)
{
    if (!skip_mnt_ns && !skip_mnt_ns2 && !nested_pid_ns_only)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    if (nested_pid_ns_only && task->thread_pid->level == 0)
        return 1;
    __u32 ns = task->nsproxy->mnt_ns->ns.inum;
    return ns == skip_mnt_ns || (skip_mnt_ns2 && ns == skip_mnt_ns2);
}

static __always_inline int wanted(__u64 nr)
{
    switch (nr) {
    case NR_OPEN: case NR_STAT: case NR_LSTAT: case NR_ACCESS: case NR_EXECVE:
    case NR_CHDIR: case NR_FCHDIR: case NR_READLINK: case NR_OPENAT:
    case NR_NEWFSTATAT: case NR_READLINKAT: case NR_FACCESSAT: case NR_EXECVEAT:
    case NR_STATX: case NR_OPENAT2: case NR_FACCESSAT2:
        return 1;
    }
    return 0;
}

// The 64-bit call each ia32 call number means, 0 for calls not captured.
// Kept in .data, not .rodata: the verifier then reads an entry as any
// number rather than following every call as a constant of its own through
// the whole program (which multiplies the paths it has to check).
#define IA32_MAX 439
__u16 ia32_calls[IA32_MAX + 1] = {
    [IA32_OPEN] = NR_OPEN,
    [IA32_EXECVE] = NR_EXECVE,
    [IA32_CHDIR] = NR_CHDIR,
    [IA32_OLDSTAT] = NR_STAT,
    [IA32_STAT] = NR_STAT,
    [IA32_STAT64] = NR_STAT,
    [IA32_ACCESS] = NR_ACCESS,
    [IA32_OLDLSTAT] = NR_LSTAT,
    [IA32_LSTAT] = NR_LSTAT,
    [IA32_LSTAT64] = NR_LSTAT,
    [IA32_READLINK] = NR_READLINK,
    [IA32_FCHDIR] = NR_FCHDIR,
    [IA32_OPENAT] = NR_OPENAT,
    [IA32_FSTATAT64] = NR_NEWFSTATAT,
    [IA32_READLINKAT] = NR_READLINKAT,
    [IA32_FACCESSAT] = NR_FACCESSAT,
    [IA32_EXECVEAT] = NR_EXECVEAT,
    [IA32_STATX] = NR_STATX,
    [IA32_OPENAT2] = NR_OPENAT2,
    [IA32_FACCESSAT2] = NR_FACCESSAT2,
};

static __always_inline __u64 from_ia32(__u64 nr)
{
    if (nr > IA32_MAX)
        return 0;
    return ia32_calls[nr];
}

// The (device, inode) of the directory open as descriptor `fd` of the
// current process (zero when it is not a directory or not open).
static __always_inline void fd_dir(long fd, __u64 *ino, __u32 *dev)
{
    *ino = 0;
    *dev = 0;
    if (fd < 0)
        return;
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdtable *fdt = task->files->fdt;
    if (!fdt)
        return;
    if ((unsigned long)fd >= fdt->max_fds)
        return;
    struct file **arr = fdt->fd;
    struct file *f = 0;
    bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
    if (!f)
        return;
    struct inode *ino_p = BPF_CORE_READ(f, f_path.dentry, d_inode);
    unsigned short mode = BPF_CORE_READ(ino_p, i_mode);
    if ((mode & 0170000) != 0040000)
        return;
    struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
    *ino = BPF_CORE_READ(d, d_inode, i_ino);
    *dev = BPF_CORE_READ(d, d_sb, s_dev);
}

static __always_inline void count_drop(void)
{
    __u32 zero = 0;
    __u64 *d = bpf_map_lookup_elem(&dropped, &zero);
    if (d)
        *d += 1;
}

// A system call made in 32-bit mode (an ia32 program, or int 0x80): its
// number is the ia32 table's, its arguments in the ia32 registers.
#define TS_COMPAT 0x0002
static __always_inline int compat_call(void)
{
    struct task_struct *task = bpf_get_current_task_btf();
    return (task->thread_info.status & TS_COMPAT) != 0;
}

// The call being made, as its 64-bit number (0 for calls not captured);
// `compat` says the arguments are in the ia32 registers. Only a number
// that means a captured call in one table or the other pays for the look at
// the thread's mode.
static __always_inline __u64 which_call(__u64 nr, int *compat)
{
    *compat = 0;
    int native = wanted(nr);
    __u64 ia32 = from_ia32(nr);
    if (!native && !ia32) {
        if (nr & X32_SYSCALL_BIT && wanted(nr & ~X32_SYSCALL_BIT)) {
            __u32 one = 1;
            __u64 *d = bpf_map_lookup_elem(&dropped, &one);
            if (d)
                *d += 1;
        }
        return 0;
    }
    if (compat_call()) {
        *compat = 1;
        return ia32;
    }
    return native ? nr : 0;
}

// Fill the scratch record of call `nr` (its arguments in `regs`): the path
// and what places it. Returns the bytes of path, with the final NUL.
static __always_inline long build(struct scratch *s, __u64 nr, int compat,
                                  struct pt_regs___k *regs, __u64 id)
{
    s->h.kind = KIND_ENTER;
    s->h.nr = nr;
    s->h.tgid = id >> 32;
    s->h.tid = (__u32)id;
    s->h.flags = 0;
    s->h.compat = compat;
    // the arguments in their ABI's order: rdi rsi rdx r10 r8 (64-bit), ebx
    // ecx edx esi edi (ia32; a 32-bit program's pointers and flags are the
    // low halves)
    __u64 a0, a1, a2, a3, a4;
    if (compat) {
        a0 = (__u32)regs->bx;
        a1 = (__u32)regs->cx;
        a2 = (__u32)regs->dx;
        a3 = (__u32)regs->si;
        a4 = (__u32)regs->di;
    } else {
        a0 = regs->di;
        a1 = regs->si;
        a2 = regs->dx;
        a3 = regs->r10;
        a4 = regs->r8;
    }
    const char *path = 0;
    switch (nr) {
    case NR_OPEN:
        s->h.val = AT_FDCWD;
        path = (const char *)a0;
        s->h.flags = a1;
        break;
    case NR_STAT: case NR_ACCESS: case NR_EXECVE: case NR_CHDIR: case NR_READLINK:
        s->h.val = AT_FDCWD;
        path = (const char *)a0;
        break;
    case NR_LSTAT:
        s->h.val = AT_FDCWD;
        path = (const char *)a0;
        s->h.flags = 0x100; // AT_SYMLINK_NOFOLLOW
        break;
    case NR_FCHDIR:
        s->h.val = (__s64)(int)a0;
        break;
    case NR_OPENAT: case NR_STATX:
        s->h.val = (__s64)(int)a0;
        path = (const char *)a1;
        s->h.flags = a2;
        break;
    case NR_NEWFSTATAT: case NR_FACCESSAT2:
        s->h.val = (__s64)(int)a0;
        path = (const char *)a1;
        s->h.flags = a3;
        break;
    case NR_EXECVEAT:
        s->h.val = (__s64)(int)a0;
        path = (const char *)a1;
        s->h.flags = a4;
        break;
    case NR_OPENAT2: {
        s->h.val = (__s64)(int)a0;
        path = (const char *)a1;
        __u64 f = 0;
        bpf_probe_read_user(&f, sizeof(f), (void *)a2);
        s->h.flags = f;
        break;
    }
    default: // readlinkat, faccessat
        s->h.val = (__s64)(int)a0;
        path = (const char *)a1;
        break;
    }
    long n = 0;
    if (path) {
        n = bpf_probe_read_user_str(s->path, PATH_CAP, path);
        if (n < 0)
            n = 0;
    }
    // what places this name: the root for an absolute name, the working
    // directory or the descriptor's directory for a relative one
    s->h.root_ino = 0;
    s->h.root_dev = 0;
    s->h.pwd_ino = 0;
    s->h.pwd_dev = 0;
    s->h.dir_ino = 0;
    s->h.dir_dev = 0;
    s->h.opened_dir = 0;
    // the root always: it also tells whose a process is (a peer node's,
    // on an overlay of its own, is not the workload)
    if (n > 1) {
        struct dentry *r = bpf_get_current_task_btf()->fs->root.dentry;
        s->h.root_ino = r->d_inode->i_ino;
        s->h.root_dev = r->d_sb->s_dev;
    }
    if (n > 1 && s->path[0] != '/' && s->h.val == AT_FDCWD) {
        struct dentry *d = bpf_get_current_task_btf()->fs->pwd.dentry;
        s->h.pwd_ino = d->d_inode->i_ino;
        s->h.pwd_dev = d->d_sb->s_dev;
    } else if (n > 1 && s->path[0] != '/') {
        fd_dir(s->h.val, &s->h.dir_ino, &s->h.dir_dev);
    }
    if (n > PATH_CAP)
        n = PATH_CAP;
    s->h.len = n;
    return n;
}

static __always_inline void send(struct scratch *s, long n)
{
    // the command only for what is sent (a repeat never needs it)
    bpf_get_current_comm(s->h.comm, sizeof(s->h.comm));
    if (n < 0)
        n = 0;
    if (n > PATH_CAP)
        n = PATH_CAP;
    if (bpf_ringbuf_output(&names, s, sizeof(struct hdr) + (n & (PATH_CAP * 2 - 1)), BPF_RB_NO_WAKEUP))
        count_drop();
}

// The name's identity: FNV-1a over the path, the call and what places it.
// A global function: the verifier checks its loop once, not again for
// every path through its callers (which made loading take a third of a
// second).
__noinline __u64 name_key(struct scratch *s, long n)
{
    if (!s)
        return 0;
    __u64 h = 14695981039346656037ULL ^ s->h.nr;
    // eight bytes at a time (bytes after the name's end are masked off:
    // the buffer still holds the previous name there)
    for (int i = 0; i < PATH_CAP / 8; i++) {
        long left = n - i * 8;
        if (left <= 0)
            break;
        __u64 w = *(__u64 *)&s->path[i * 8];
        if (left < 8)
            w &= (1ULL << (left * 8)) - 1;
        h ^= w;
        h *= 1099511628211ULL;
    }
    h ^= s->h.root_ino * 31 + s->h.root_dev;
    h *= 1099511628211ULL;
    h ^= s->h.pwd_ino * 31 + s->h.pwd_dev;
    h *= 1099511628211ULL;
    h ^= s->h.dir_ino * 31 + s->h.dir_dev;
    h *= 1099511628211ULL;
    h ^= s->h.flags;
    return h;
}

// Calls read at entry and always sent (see names_enter).
static __always_inline int always_sent(__u64 nr)
{
    return nr == NR_EXECVE || nr == NR_EXECVEAT || nr == NR_CHDIR || nr == NR_FCHDIR;
}

// exec replaces the caller's memory and chdir moves the working
// directory: their names are read at entry, and always sent
static __always_inline int on_enter(__u64 nr, int compat, struct pt_regs___k *regs)
{
    if (!always_sent(nr))
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if ((__u32)(id >> 32) == own_tgid || skipped())
        return 0;
    __u32 zero = 0;
    struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
    if (!s)
        return 0;
    send(s, build(s, nr, compat, regs, id));
    return 0;
}

// The other calls at their exit, where the result is known.
static __always_inline int on_exit(__u64 nr, int compat, struct pt_regs___k *regs, long ret)
{
    __u64 id = bpf_get_current_pid_tgid();
    if ((__u32)(id >> 32) == own_tgid || skipped())
        return 0;
    struct hdr h = {};
    int opened = (nr == NR_OPEN || nr == NR_OPENAT || nr == NR_OPENAT2) && ret >= 0;
    if (!always_sent(nr)) {
        __u32 zero = 0;
        struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
        if (!s)
            return 0;
        long n = build(s, nr, compat, regs, id);
        if (n <= 1)
            return 0; // an empty name (AT_EMPTY_PATH: fstat on a descriptor) names nothing
        __u64 key = name_key(s, n);
        __u32 class = ret >= 0 ? 1 : (ret == -2 ? 2 : 4);
        __u32 *bits = bpf_map_lookup_elem(&seen, &key);
        __u32 old = bits ? *bits : 0;
        // a repeat (the same name with the same kind of result) is dropped,
        // unless it opened a directory: the names relative to that
        // descriptor are placed through it (the directory may be a new one
        // under the same name)
        if ((old & class) && !opened)
            return 0;
        if (opened) {
            fd_dir(ret, &h.dir_ino, &h.dir_dev);
            h.opened_dir = h.dir_ino != 0;
        }
        if ((old & class) && !h.opened_dir)
            return 0;
        send(s, n);
        __u32 now = old | class;
        bpf_map_update_elem(&seen, &key, &now, BPF_ANY);
    }
    h.kind = KIND_EXIT;
    h.nr = nr;
    h.tgid = id >> 32;
    h.tid = (__u32)id;
    h.val = ret;
    if (nr == NR_CHDIR || nr == NR_FCHDIR) {
        // the new working directory, for the relative names that follow
        struct dentry *d = bpf_get_current_task_btf()->fs->pwd.dentry;
        h.pwd_ino = d->d_inode->i_ino;
        h.pwd_dev = d->d_sb->s_dev;
    }
    if (bpf_ringbuf_output(&names, &h, sizeof(h), BPF_RB_NO_WAKEUP))
        count_drop();
    return 0;
}

// The raw tracepoints see every system call of every process (each costs
// the tracepoint's dispatch, whatever the program does).
SEC("tp_btf/sys_enter")
int BPF_PROG(names_enter, struct pt_regs___k *regs, long raw)
{
    // a cheap test first: only these numbers can be exec or chdir
    if (!always_sent(raw) && raw != IA32_EXECVE && raw != IA32_EXECVEAT && raw != IA32_CHDIR
        && raw != IA32_FCHDIR)
        return 0;
    int compat;
    __u64 nr = which_call(raw, &compat);
    if (raw_compat_only && !compat)
        return 0;
    return on_enter(nr, compat, regs);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(names_exit, struct pt_regs___k *regs, long ret)
{
    int compat;
    __u64 nr = which_call(regs->orig_ax, &compat);
    if (!nr || (raw_compat_only && !compat))
        return 0;
    return on_exit(nr, compat, regs, ret);
}

// A program started: when it is a 32-bit one and the raw tracepoints are
// not attached yet, it is stopped (SIGSTOP, before its first instruction)
// and user space is told; user space attaches them and continues it
// (SIGCONT), so that none of its calls goes unseen.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(names_exec32, struct task_struct *p, int old_pid, void *bprm)
{
    // the ia32 personality marks the new program's thread as in a 32-bit call
    if (!(p->thread_info.status & TS_COMPAT))
        return 0;
    __u32 zero = 0;
    __u32 *attached = bpf_map_lookup_elem(&state, &zero);
    if (!attached || *attached)
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if ((__u32)(id >> 32) == own_tgid || skipped())
        return 0;
    struct hdr h = {};
    h.kind = KIND_EXEC32;
    h.tgid = id >> 32;
    // the thread that called execve (its id before exec, when it was not
    // the group's leader): its pending execve is completed by this record
    h.tid = old_pid;
    h.val = bpf_send_signal(SIGSTOP);
    bpf_get_current_comm(h.comm, sizeof(h.comm));
    if (bpf_ringbuf_output(&names, &h, sizeof(h), 0))
        count_drop();
    return 0;
}

// The per-call tracepoints (syscalls/sys_enter_NAME, sys_exit_NAME) fire
// only for the calls captured, of 64-bit programs. Their records give the
// number and the result; the arguments are read from the saved registers.
struct syscall_enter_ctx {
    __u64 common;
    int nr;
};
struct syscall_exit_ctx {
    __u64 common;
    int nr;
    long ret;
};

SEC("tracepoint/syscalls/sys_enter")
int names_sys_enter(struct syscall_enter_ctx *ctx)
{
    if (run_over())
        return 0;
    struct pt_regs___k *regs = (struct pt_regs___k *)bpf_task_pt_regs(bpf_get_current_task_btf());
    return on_enter(ctx->nr, 0, regs);
}

SEC("tracepoint/syscalls/sys_exit")
int names_sys_exit(struct syscall_exit_ctx *ctx)
{
    if (run_over())
        return 0;
    struct pt_regs___k *regs = (struct pt_regs___k *)bpf_task_pt_regs(bpf_get_current_task_btf());
    return on_exit(ctx->nr, 0, regs, ctx->ret);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

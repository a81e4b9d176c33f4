/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What confines the serving process, in the order cmd_serve applies it: started as root with
 * --user, cotterd binds and reads its keys, TLS key, state and audit file as root (so they may
 * stay root-only), then becomes the user; the files it creates before that (new keys, the
 * state directory) are given to the user, who reloads and writes them later. Then a seccomp
 * filter allows only the system calls serving needs: anything else stops the whole process
 * with SIGSYS (after a log line naming the call) before the call runs. Every thread is
 * covered (the filter is synchronised to threads already running, and inherited by later
 * ones); a binary started by SIGUSR2 inherits it and adds its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sched.h>
#include <seccomp.h>

#include "cotterd.h"

static struct {
	bool drop; /* root, becoming someone else */
	uid_t uid;
	gid_t gid;
} owner;

int confine_user(const char *user, struct cotter_error *err)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return cotter_error_set(err, COTTER_E_USAGE, "unknown user '%s'", user);
	owner.uid = pw->pw_uid;
	owner.gid = pw->pw_gid;
	owner.drop = geteuid() == 0 && pw->pw_uid != 0;
	if (owner.drop)
		file_owner_set(pw->pw_uid, pw->pw_gid);
	return 0;
}

int confine_drop(struct cotter_error *err)
{
	/* nothing to drop: not root, or started by an upgrade from a process that had dropped */
	if (!owner.drop)
		return getuid() == 0 || owner.uid == 0 ||
			       (getuid() == owner.uid && geteuid() == owner.uid &&
				getgid() == owner.gid)
			   ? 0
			   : cotter_error_set(err, COTTER_E_USAGE,
					      "--user: cannot become uid %u without root",
					      (unsigned)owner.uid);
	if (setgroups(0, NULL) < 0 || setresgid(owner.gid, owner.gid, owner.gid) < 0 ||
	    setresuid(owner.uid, owner.uid, owner.uid) < 0)
		return cotter_error_set(err, COTTER_E_IO, "cannot become uid %u: %s",
					(unsigned)owner.uid, strerror(errno));
	if (setuid(0) == 0 || setgid(0) == 0)
		return cotter_error_set(err, COTTER_E_IO, "privileges could not be dropped");
	owner.drop = false;
	return 0;
}

/* ---- the seccomp filter --------------------------------------------------------------------- */

/* What serving needs: I/O on the sockets and files it has, reloading keys (inotify, reading
 * files, creating new keys atomically), writing the state and the audit (files, the journal's
 * socket), threads, timers, signals, memory. No bind, no new network sockets, no ptrace, no
 * mount, no privilege changes, no module or key-ring calls. */
static const char *const allowed[] = {
    /* files and descriptors */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "close",
    "close_range",
    "openat",
    "open",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "fstatfs",
    "statfs",
    "access",
    "faccessat",
    "faccessat2",
    "getdents64",
    "readlink",
    "readlinkat",
    "fcntl",
    "ioctl",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "fsync",
    "fdatasync",
    "ftruncate",
    "flock",
    "linkat",
    "unlinkat",
    "renameat",
    "renameat2",
    "rename",
    "unlink",
    "mkdir",
    "mkdirat",
    "fchmod",
    "umask",
    "getcwd",
    "fadvise64",
    /* memory */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mlock",
    "mlock2",
    "munlock",
    "membarrier",
    /* threads, time, scheduling */
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "sched_yield",
    "sched_getaffinity",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "set_tid_address",
    "exit",
    "exit_group",
    "gettid",
    "getpid",
    "getppid",
    "wait4",
    "waitid",
    "getrandom",
    "uname",
    "sysinfo",
    "getrlimit",
    "prlimit64",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "prctl",
    "arch_prctl",
    "restart_syscall",
    /* signals */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "sigaltstack",
    "signalfd4",
    "signalfd",
    "tgkill",
    "tkill",
    "kill",
    /* events */
    "epoll_create1",
    "epoll_create",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "eventfd2",
    "eventfd",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    /* sockets it has (accepting, answering), and the journal's and sd_notify's */
    "accept",
    "accept4",
    "listen",
    "shutdown",
    "connect",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "setsockopt",
    "getsockopt",
    "getsockname",
    "getpeername",
    "socketpair",
};

/* A binary upgrade (SIGUSR2) runs the installed cotterd, which starts under this filter until
 * it adds its own: exec, its loader, and its own filter. */
static const char *const upgrade_allowed[] = {"execve", "seccomp"};

#if defined(__SANITIZE_ADDRESS__)
#define COTTERD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COTTERD_SANITIZED 1
#endif
#endif
#ifdef COTTERD_SANITIZED
/* LeakSanitizer stops the threads with ptrace when the process exits */
static const char *const sanitizer_allowed[] = {"ptrace", "process_vm_readv", "personality",
						"getdents"};
#endif

#define CLONE_NAMESPACES                                                                           \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	int n;

	(void)uc;
	n = snprintf(msg, sizeof(msg),
		     "cotterd: seccomp: system call %d is not allowed in the serving process: "
		     "stopping\n",
		     si->si_syscall);
	if (n > 0)
		(void)write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg));
	signal(sig, SIG_DFL);
	raise(sig);
}

static int allow(scmp_filter_ctx ctx, const char *const *names, size_t n, struct cotter_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]), r;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			return cotter_error_set(err, COTTER_E_IO, "seccomp: %s: %s", names[i],
						strerror(-r));
	}
	return 0;
}

/* Threads already running get the filter too (TSYNC); without the seccomp(2) call (a service
 * manager's filter may refuse it: the filter is then loaded through prctl), only a process
 * with a single thread may go on. */
static int synchronise_threads(scmp_filter_ctx ctx)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) == 0)
		return 0;
	if ((d = opendir("/proc/self/task")) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n == 1 ? 0 : -EOPNOTSUPP;
}

int confine_seccomp(bool upgrades, struct cotter_error *err)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	/* spelled out: libseccomp's SCMP_A0() leaves datum_b to C, which clang warns about */
	const struct scmp_arg_cmp unix_only = {
	    .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0};
	const struct scmp_arg_cmp no_namespaces = {
	    .arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = CLONE_NAMESPACES, .datum_b = 0};
	scmp_filter_ctx ctx;
	int r = 0;

	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "seccomp: cannot start a filter");
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		cotter_error_set(err, COTTER_E_IO, "sigaction: %s", strerror(errno));
		goto fail;
	}
	if (allow(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]), err) < 0 ||
	    (upgrades && allow(ctx, upgrade_allowed,
			       sizeof(upgrade_allowed) / sizeof(upgrade_allowed[0]), err) < 0))
		goto fail;
#ifdef COTTERD_SANITIZED
	if (allow(ctx, sanitizer_allowed, sizeof(sanitizer_allowed) / sizeof(sanitizer_allowed[0]),
		  err) < 0)
		goto fail;
#endif
	/* new sockets: only local ones (the journal, sd_notify, a name service); threads and
	 * processes, but no new namespaces: clone's flags are checked, clone3's cannot be (they
	 * are in memory), so it fails as unknown and the C library falls back to clone */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, unix_only)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, no_namespaces)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0 ||
	    (r = synchronise_threads(ctx)) < 0 || (r = seccomp_load(ctx)) < 0) {
		cotter_error_set(err, COTTER_E_IO, "seccomp: cannot load the filter: %s",
				 strerror(-r));
		goto fail;
	}
	goto out;
fail:
	r = -1;
out:
	seccomp_release(ctx);
	return r < 0 ? -1 : 0;
}

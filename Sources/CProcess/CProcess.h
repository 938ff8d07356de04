// Two facts about a thread that every request of the tree asks, from the
// system calls that state them, without the text of /proc/TID/status. In C
// because Swift cannot call the variadic syscall(2), and glibc 2.36 wraps
// neither capget(2) nor pidfd_open(2).
#ifndef CPROCESS_H
#define CPROCESS_H

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// The effective capability set of the thread @tid (capget(2), which any
// process may ask of any thread), or -1 with errno set (ESRCH: gone).
static inline int CProcess_effective_capabilities(pid_t tid, uint64_t *caps)
{
	struct __user_cap_header_struct header = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = tid,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (tid <= 0) {
		errno = ESRCH;
		return -1;
	}
	if (syscall(SYS_capget, &header, data) != 0)
		return -1;
	*caps = (uint64_t)data[1].effective << 32 | data[0].effective;
	return 0;
}

// 1 when @tid leads its thread group (its pid is the process's), 0 when
// it is another thread of a process or gone: pidfd_open(2) without
// PIDFD_THREAD opens only thread-group leaders. It needs no permission,
// and any failure answers 0 (the caller then reads the thread group from
// /proc). tgkill(@tid, @tid, 0) would spare the close, but it answers
// EPERM both for a leader that a server without CAP_KILL may not signal
// (the service's bounding set has none) and, from a seccomp filter, for
// every thread: its failure would not tell a leader from the rest.
static inline int CProcess_leads_thread_group(pid_t tid)
{
	int fd = tid > 0 ? (int)syscall(SYS_pidfd_open, tid, 0) : -1;

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

#endif

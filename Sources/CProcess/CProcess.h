// Two facts about a thread that every request of the tree asks, from the
// system calls that state them, without the text of /proc/TID/status. In C
// because Swift cannot call the variadic syscall(2), and glibc 2.36
// declares no capget(2).
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
// it is another thread of a process or gone. tgkill(2) with signal 0
// sends nothing: it finds the thread @tid in the thread group @tid or
// answers ESRCH, and only then checks the permission to signal it (EPERM
// still means found). One system call and no file, where pidfd_open(2)
// makes a descriptor to close.
static inline int CProcess_leads_thread_group(pid_t tid)
{
	if (tid <= 0)
		return 0;
	return syscall(SYS_tgkill, tid, tid, 0) == 0 || errno == EPERM;
}

#endif

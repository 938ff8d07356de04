// The module's ABI, from the one uapi header: never restated here.
#ifndef CMEMPIN_H
#define CMEMPIN_H

#include <sys/ioctl.h>
#include "../../kernel/include/uapi/linux/mempinfd.h"

// _IOW/_IOWR are function-like macros, which Swift does not import.
static inline unsigned long CMempin_MEM_CMD_PIN(void) { return MEM_CMD_PIN; }
static inline unsigned long CMempin_MEM_CMD_UNPIN(void) { return MEM_CMD_UNPIN; }
static inline unsigned long CMempin_GET_VERSION(void) { return MEMPIN_GET_VERSION; }
static inline unsigned long CMempin_PIN(void) { return MEMPIN_PIN; }
static inline unsigned long CMempin_UNPIN(void) { return MEMPIN_UNPIN; }
static inline unsigned long CMempin_LIST(void) { return MEMPIN_LIST; }
static inline unsigned long CMempin_READ_PAGES(void) { return MEMPIN_READ_PAGES; }
static inline unsigned long CMempin_QUERY_PFNS(void) { return MEMPIN_QUERY_PFNS; }
static inline unsigned long CMempin_PROCESS(void) { return MEMPIN_PROCESS; }

// ioctl(2) is variadic, which Swift cannot call.
static inline int CMempin_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

#endif

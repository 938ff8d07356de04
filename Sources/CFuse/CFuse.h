// libfuse3's low-level API for Swift. Only what Swift cannot import itself
// is here, each with why.
#ifndef CFUSE_H
#define CFUSE_H

// 3.12 selects fuse_session_loop_mt() with a fuse_loop_config.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

// fuse_session_loop_mt is a macro over a versioned symbol.
static inline int CFuse_session_loop_mt(struct fuse_session *se,
					unsigned int max_threads)
{
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	int ret;

	if (!config)
		return -1;
	fuse_loop_cfg_set_max_threads(config, max_threads);
	fuse_loop_cfg_set_clone_fd(config, 0);
	ret = fuse_session_loop_mt(se, config);
	fuse_loop_cfg_destroy(config);
	return ret;
}

// fuse_file_info's flags are bitfields, which Swift imports unreliably.
static inline void CFuse_set_direct_io(struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	fi->keep_cache = 0;
}

static inline void CFuse_set_nonseekable(struct fuse_file_info *fi)
{
	fi->nonseekable = 1;
}

// FOPEN_NOFLUSH (Linux 5.16): close(2) sends no FUSE_FLUSH for this file.
static inline void CFuse_set_noflush(struct fuse_file_info *fi)
{
	fi->noflush = 1;
}

#endif

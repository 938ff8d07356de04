// SPDX-License-Identifier: GPL-2.0
/*
 * A FUSE server that never answers a read: the file system of the stall
 * attack (test_stall_attack.sh). It has one file, /file, of 1 MiB; lookup,
 * getattr and open answer at once, read never does (the request is kept
 * unanswered until the file system is unmounted or aborted).
 * Usage: mempin-stuckfs MOUNTPOINT   (foreground, multi-threaded)
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define INO_FILE 2
#define FILE_SIZE (1UL << 20)

static int fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (ino == INO_FILE) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = FILE_SIZE;
	} else {
		return -1;
	}
	return 0;
}

static void sf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = INO_FILE };

	if (parent != FUSE_ROOT_ID || strcmp(name, "file"))
		return (void)fuse_reply_err(req, ENOENT);
	fill(INO_FILE, &e.attr);
	fuse_reply_entry(req, &e);
}

static void sf_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (fill(ino, &st))
		return (void)fuse_reply_err(req, ENOENT);
	fuse_reply_attr(req, &st, 0);
}

static void sf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != INO_FILE)
		return (void)fuse_reply_err(req, EISDIR);
	fuse_reply_open(req, fi);
}

/* The point of this server: the request is never answered. */
static void sf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)req;
	(void)ino;
	(void)size;
	(void)off;
	(void)fi;
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = sf_lookup,
	.getattr = sf_getattr,
	.open = sf_open,
	.read = sf_read,
};

int main(int argc, char **argv)
{
	struct fuse_args fargs = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *config;
	struct fuse_session *se;
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
		return 2;
	}
	/* Its users' processes are not root's: they must reach the file. */
	if (fuse_opt_add_arg(&fargs, argv[0]) ||
	    fuse_opt_add_arg(&fargs, "-oallow_other"))
		return 1;
	se = fuse_session_new(&fargs, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&fargs);
	if (!se)
		return 1;
	if (fuse_session_mount(se, argv[1]))
		goto destroy;
	config = fuse_loop_cfg_create();
	if (config) {
		ret = fuse_session_loop_mt(se, config);
		fuse_loop_cfg_destroy(config);
	}
	fuse_session_unmount(se);
destroy:
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}

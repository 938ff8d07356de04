// SPDX-License-Identifier: GPL-2.0
/*
 * The baseline of the benchmarks: a minimal libfuse low-level server with
 * the shape of one mempin pid directory, doing nothing but reply.
 *   /pin      write: accepted at once (the fixed cost of a FUSE round trip)
 *   /status   a small generated file
 *   /dir/     1000 entries named like pin files (START-END, 25 characters
 *             each, as the bench's pins are), like a pid directory with
 *             1000 pins: the same bytes of listing as ours; unlink of one
 *             is accepted and changes nothing (the cost of an rm's
 *             requests)
 *   /stream   10.5 MiB of page-list-like lines made at start, read with
 *             direct I/O like a pin file: what FUSE itself costs a reader
 *             of a generated file whose server does nothing but copy
 * Built and run by mount-scripts/bench; never installed.
 * Usage: nullfs MOUNTPOINT   (foreground, multi-threaded, until unmounted)
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NFILES 1000
#define INO_PIN 2
#define INO_STATUS 3
#define INO_DIR 4
#define INO_STREAM 5
#define INO_FILE0 1000

static const char status_text[] =
	"pins 1000\npages 1000\nbytes 4096000\ndetached_pins 0\n"
	"vm_pinned_bytes 4096000\nmemlock_limit_bytes unlimited\n";

/* /stream: the bytes of a 1 GiB pin's page list (262,144 lines of 42). */
#define STREAM_LINE 42
#define STREAM_BYTES (262144UL * STREAM_LINE)
static char *stream;

static void make_stream(void)
{
	unsigned long i;

	stream = malloc(STREAM_BYTES + 64);
	if (!stream)
		exit(1);
	for (i = 0; i < STREAM_BYTES / STREAM_LINE; i++)
		snprintf(stream + i * STREAM_LINE, 64, "%016lx %09lx 0 Normal 0    \n",
			 0x7f3a1c000000UL + (i << 12), 0x1000UL + i);
}

/* File @i's name, like a pin file's: START-END of the i-th page pinned. */
#define FILE_BASE 0x7f3a1c000000ULL
#define FILE_STEP 0x2000ULL
static char *file_name(unsigned long i, char name[32])
{
	unsigned long long start = FILE_BASE + i * FILE_STEP;

	snprintf(name, 32, "%llx-%llx", start, start + 0x1000);
	return name;
}

/* The index of the file of /dir named @name, or NFILES if none is. */
static unsigned long file_index(const char *name)
{
	unsigned long i = (strtoull(name, NULL, 16) - FILE_BASE) / FILE_STEP;
	char want[32];

	/* Named by index: find the index, then the whole name must match. */
	return i < NFILES && !strcmp(name, file_name(i, want)) ? i : NFILES;
}

static int fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID || ino == INO_DIR) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (ino == INO_PIN) {
		st->st_mode = S_IFREG | 0200;
		st->st_nlink = 1;
	} else if (ino == INO_STATUS || ino == INO_STREAM ||
		   (ino >= INO_FILE0 && ino < INO_FILE0 + NFILES)) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
	} else {
		return -1;
	}
	return 0;
}

static void nl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .attr_timeout = 0, .entry_timeout = 1.0 };
	fuse_ino_t ino = 0;

	if (parent == FUSE_ROOT_ID) {
		if (!strcmp(name, "pin"))
			ino = INO_PIN;
		else if (!strcmp(name, "status"))
			ino = INO_STATUS;
		else if (!strcmp(name, "dir"))
			ino = INO_DIR;
		else if (!strcmp(name, "stream"))
			ino = INO_STREAM;
	} else if (parent == INO_DIR) {
		unsigned long i = file_index(name);

		if (i < NFILES)
			ino = INO_FILE0 + i;
	}
	if (!ino)
		return (void)fuse_reply_err(req, ENOENT);
	e.ino = ino;
	fill(ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void nl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (fill(ino, &st))
		return (void)fuse_reply_err(req, ENOENT);
	fuse_reply_attr(req, &st, ino == FUSE_ROOT_ID || ino == INO_DIR ? 1.0 : 0);
}

static void nl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

static void nl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	size_t len = sizeof(status_text) - 1;

	(void)fi;
	if (ino == INO_STREAM) {
		len = STREAM_BYTES;
		if ((size_t)off >= len)
			return (void)fuse_reply_buf(req, NULL, 0);
		return (void)fuse_reply_buf(req, stream + off,
					    size < len - off ? size : len - off);
	}
	if (ino != INO_STATUS || (size_t)off >= len)
		return (void)fuse_reply_buf(req, NULL, 0);
	fuse_reply_buf(req, status_text + off,
		       size < len - off ? size : len - off);
}

static void nl_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino; (void)buf; (void)off; (void)fi;
	fuse_reply_write(req, size);
}

static void nl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, parent == INO_DIR && file_index(name) < NFILES ? 0 : ENOENT);
}

static void nl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char *buf = malloc(size);
	size_t used = 0;
	long i;

	(void)fi;
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	for (i = off; ino == INO_DIR && i < NFILES + 2; i++) {
		struct stat st = { .st_ino = i < 2 ? INO_DIR : INO_FILE0 + i - 2,
				   .st_mode = i < 2 ? S_IFDIR : S_IFREG };
		char name[32];
		size_t need;

		if (i == 0)
			strcpy(name, ".");
		else if (i == 1)
			strcpy(name, "..");
		else
			file_name(i - 2, name);
		need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = nl_lookup,
	.getattr = nl_getattr,
	.open = nl_open,
	.read = nl_read,
	.write = nl_write,
	.unlink = nl_unlink,
	.readdir = nl_readdir,
};

int main(int argc, char **argv)
{
	char *args_v[] = { argv[0], "-o", "default_permissions", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, args_v);
	struct fuse_loop_config *config;
	struct fuse_session *se;
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
		return 2;
	}
	make_stream();
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_set_signal_handlers(se) || fuse_session_mount(se, argv[1]))
		return 1;
	config = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(config, 16);
	ret = fuse_session_loop_mt(se, config);
	fuse_loop_cfg_destroy(config);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}

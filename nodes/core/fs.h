/* fs.h: small file-system helpers the nodes and formats share. Not an I/O
 * layer: files are read and written where they are used. */
#ifndef YT_FS_H
#define YT_FS_H

#include "core/error.h"

/* mkdir -p dir; YT_EIO naming the part that could not be made, or dir when it
 * exists but is not a directory. */
int yt_mkdirs(const char *dir, yt_err *err);

#include <stddef.h>

/* Expands every comma-separated glob of pattern ("data/train*.tfrecord,x.zst")
 * into *paths: regular files only, sorted, without duplicates (a shard's
 * number is its position here); malloc'd strings in a malloc'd array. A glob
 * that matches nothing is YT_EUSAGE naming it. */
int yt_glob_files(const char *pattern, char ***paths, size_t *n_paths, yt_err *err);
/* The part of path after its last '/'. */
const char *yt_base_name(const char *path);

#endif

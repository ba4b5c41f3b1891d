/* fs.h: small file-system helpers the nodes and formats share. Not an I/O
 * layer: files are read and written where they are used. */
#ifndef YT_FS_H
#define YT_FS_H

#include "core/error.h"

/* mkdir -p dir; YT_EIO naming the part that could not be made, or dir when it
 * exists but is not a directory. */
int yt_mkdirs(const char *dir, yt_err *err);

#endif

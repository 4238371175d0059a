// What is at a path, in words, for errors that refuse to read or replace something that is not a
// regular file ("'/dev/null' is a character device, not a regular file").
#pragma once
#include <sys/stat.h>

namespace lingua {

inline const char* file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a file";
}

}  // namespace lingua

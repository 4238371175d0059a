// What is at a path, in words, for errors that refuse to read or replace something that is not a
// regular file ("'/dev/null' is a character device, not a regular file").
#pragma once
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

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

// Why `path` cannot be read as an input file ("it is a FIFO, not a regular file"; "No such file or
// directory"), or "" when it is a regular file. Opening a FIFO to read would wait for a writer.
inline std::string why_not_an_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return std::string("it is ") + file_kind(st.st_mode) + ", not a regular file";
  return "";
}

}  // namespace lingua

// Every file a command writes (models, plans, charts) goes through here, so none of them can turn
// a device node, FIFO or symlink at the output path into a regular file, or leave half a file.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace lingua {

// Ok when `path` is absent or a regular file (what an output may replace); otherwise an error naming
// the path and what is there: "'/dev/null' is a character device, not a regular file: ...".
// A symbolic link is refused too, even to a regular file: replacing it would drop the link.
Status check_output_path(const std::string& path);

// A file written under a temporary name in the output's folder and renamed over the output by
// commit() (which checks the path again first); until then the output is untouched, and the
// temporary file is removed if commit() is not reached or fails. Replacing a file keeps its mode.
class OutputFile {
 public:
  static Expected<OutputFile> create(const std::string& path);
  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  Status write(const void* data, size_t n);
  Status write(std::string_view bytes) { return write(bytes.data(), bytes.size()); }
  Status commit();  // flushes to disk, then renames; after an error nothing is left behind
  const std::string& temp_path() const { return tmp_; }

 private:
  OutputFile(std::string path, std::string tmp, int fd) : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  void discard();
  std::string path_, tmp_;
  int fd_ = -1;
};

// The whole of a small file (a plan, a picture) in one call.
Status write_output_file(const std::string& path, std::string_view bytes);

// Flushes std::cout and stdout and reports whether everything printed reached them (a full disk,
// a closed descriptor): "cannot write the output: No space left on device". Commands call it once,
// at exit.
Status flush_standard_output();

}  // namespace lingua

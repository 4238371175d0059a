// Output files by temporary file + rename, regular files only; and the end-of-run stdout check.
#include "core/output_file.h"

#include "core/file_kind.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace lingua {
namespace {


Status system_error(const std::string& what, int err) { return Status::error(what + ": " + std::strerror(err)); }

// lstat's view of the output path: errno 0 and `st` filled when something is there.
int look_at(const std::string& path, struct stat& st) {
  if (::lstat(path.c_str(), &st) == 0) return 0;
  return errno;
}

}  // namespace

Status check_output_path(const std::string& path) {
  if (path.empty()) return Status::error("the output path is empty");
  struct stat st {};
  const int err = look_at(path, st);
  if (err == ENOENT) return Status::ok();  // a missing folder is reported when the file is created
  if (err != 0) return system_error("cannot write '" + path + "'", err);
  if (S_ISREG(st.st_mode)) return Status::ok();
  std::string why = "'" + path + "' is " + file_kind(st.st_mode) + ", not a regular file; refusing to replace it";
  if (S_ISLNK(st.st_mode)) why += " (give the path it points to)";
  return Status::error(why);
}

Expected<OutputFile> OutputFile::create(const std::string& path) {
  LINGUA_TRY(check_output_path(path));
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  struct stat old {};
  const bool replacing = look_at(path, old) == 0;
  // Beside the output so the rename stays within one filesystem; the pid and a counter keep
  // concurrent writers (threads or processes) apart, O_EXCL makes sure no existing file is reused.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string tmp = (dir / (p.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                    std::to_string(counter.fetch_add(1))))
                                .string();
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return system_error("cannot write '" + path + "'", errno);
    }
    // A replaced file keeps its permissions (a model made private stays private).
    if (replacing) (void)::fchmod(fd, old.st_mode & 07777);
    return OutputFile(path, tmp, fd);
  }
  return Status::error("cannot write '" + path + "': no free temporary name beside it");
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : path_(std::move(other.path_)), tmp_(std::move(other.tmp_)), fd_(other.fd_) {
  other.fd_ = -1;
  other.tmp_.clear();
}

OutputFile::~OutputFile() { discard(); }

void OutputFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

Status OutputFile::write(const void* data, size_t n) {
  if (tmp_.empty()) return Status::error("cannot write '" + path_ + "': the file was already closed");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t done = ::write(fd_, p, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      discard();
      return system_error("cannot write '" + path_ + "'", err);
    }
    p += done;
    n -= static_cast<size_t>(done);
  }
  return Status::ok();
}

Status OutputFile::commit() {
  if (tmp_.empty()) return Status::error("cannot write '" + path_ + "': the file was already closed");
  // fsync before rename: after a crash the output holds either the old file or the whole new one.
  // Write errors a filesystem defers (NFS, quotas) show up here and in close.
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    discard();
    return system_error("cannot write '" + path_ + "'", err);
  }
  // Again, right before the rename: something may have been put at the path during a long write.
  if (Status st = check_output_path(path_); !st) {
    discard();
    return st;
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    discard();
    return system_error("cannot create '" + path_ + "'", err);
  }
  tmp_.clear();
  return Status::ok();
}

Status write_output_file(const std::string& path, std::string_view bytes) {
  LINGUA_ASSIGN_OR_RETURN(OutputFile out, OutputFile::create(path));
  LINGUA_TRY(out.write(bytes));
  return out.commit();
}

Status flush_standard_output() {
  std::cout.flush();
  const bool cout_failed = !std::cout;
  errno = 0;
  if (std::fflush(stdout) != 0) return system_error("cannot write the output", errno);
  if (!cout_failed && !std::ferror(stdout)) return Status::ok();
  // An earlier flush failed and stdio dropped its errno; a write of nothing to the same descriptor
  // usually fails the same way (a full device, a closed descriptor) without printing anything.
  if (::write(::fileno(stdout), "", 0) < 0) return system_error("cannot write the output", errno);
  return Status::error("cannot write the output: a write to it failed, some of it is missing");
}

}  // namespace lingua

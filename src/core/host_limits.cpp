// read_host_limits over /proc and the cgroup file systems (v1 per-controller hierarchies, v2 the
// unified one, and the hybrid layout that mounts v2 at <root>/unified).
#include "core/host_limits.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/thread_pool.h"

namespace lingua {
namespace {

// v1 writes "no limit" as a page-rounded 2^63 - 1 (or near it): anything this large is none.
constexpr uint64_t kNoLimitV1 = uint64_t{1} << 60;
constexpr size_t kMaxFileBytes = 1 << 20;  // cgroup and proc files are small; refuse anything else

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  const auto got = static_cast<size_t>(in.gcount());
  if (got > kMaxFileBytes) return std::nullopt;
  text.resize(got);
  return text;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <class T>
std::optional<T> whole_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

// The directories from `dir` + the cgroup path up to `dir` itself (the hierarchy's root), each
// of which may limit the process.
std::vector<std::string> with_ancestors(const std::string& dir, std::string_view path) {
  std::vector<std::string> out;
  std::string p(trim(path));
  if (p.find("..") != std::string::npos) p = "/";  // a path out of the hierarchy is not followed
  while (!p.empty() && p.back() == '/') p.pop_back();
  for (;;) {
    out.push_back(dir + p);
    if (p.empty()) return out;
    const size_t at = p.rfind('/');
    p.resize(at == std::string::npos ? 0 : at);
  }
}

uint64_t meminfo_available(const std::string& proc_root) {
  const auto text = read_small_file(proc_root + "/meminfo");
  if (!text) return 0;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {  // "MemAvailable:   123456 kB"
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:" && kib < (uint64_t{1} << 50)) return kib * 1024;
  }
  return 0;
}

struct Limits {
  uint64_t memory = 0;
  double quota_cores = 0, period_s = 0;

  void memory_limit(uint64_t bytes) {
    if (bytes > 0 && bytes < kNoLimitV1 && (memory == 0 || bytes < memory)) memory = bytes;
  }
  void cpu_limit(int64_t quota_us, int64_t period_us) {
    if (quota_us <= 0 || period_us <= 0) return;  // v1 writes -1 for none
    const double cores = static_cast<double>(quota_us) / static_cast<double>(period_us);
    if (quota_cores == 0 || cores < quota_cores) {
      quota_cores = cores;
      period_s = static_cast<double>(period_us) * 1e-6;
    }
  }
};

void read_v1_memory(const std::string& dir, Limits& l) {
  if (auto t = read_small_file(dir + "/memory.limit_in_bytes"))
    if (auto v = whole_number<uint64_t>(*t)) l.memory_limit(*v);
}

void read_v1_cpu(const std::string& dir, Limits& l) {
  const auto q = read_small_file(dir + "/cpu.cfs_quota_us");
  const auto p = read_small_file(dir + "/cpu.cfs_period_us");
  if (!q || !p) return;
  const auto quota = whole_number<int64_t>(*q);
  const auto period = whole_number<int64_t>(*p);
  if (quota && period) l.cpu_limit(*quota, *period);
}

void read_v2(const std::string& dir, Limits& l) {
  if (auto t = read_small_file(dir + "/memory.max"))
    if (trim(*t) != "max")
      if (auto v = whole_number<uint64_t>(*t)) l.memory_limit(*v);
  if (auto t = read_small_file(dir + "/cpu.max")) {  // "QUOTA PERIOD" or "max PERIOD"
    const auto fields = split(trim(*t), ' ');
    if (fields.size() == 2 && fields[0] != "max") {
      const auto quota = whole_number<int64_t>(fields[0]);
      const auto period = whole_number<int64_t>(fields[1]);
      if (quota && period) l.cpu_limit(*quota, *period);
    }
  }
}

}  // namespace

int HostLimits::usable_threads() const {
  const int all = std::max(1, cores);
  if (!(cpu_quota_cores > 0)) return all;
  const double up = std::ceil(cpu_quota_cores - 1e-9);
  return std::clamp(static_cast<int>(std::min(up, 1e6)), 1, all);
}

uint64_t HostLimits::usable_memory_bytes(uint64_t flag_bytes) const {
  uint64_t out = 0;
  for (uint64_t v : {mem_available_bytes, cgroup_memory_limit_bytes, flag_bytes})
    if (v > 0 && (out == 0 || v < out)) out = v;
  return out;
}

HostLimits read_host_limits(const HostPaths& paths) {
  HostLimits h;
  h.cores = ThreadPool::hardware_threads();
  h.mem_available_bytes = meminfo_available(paths.proc_root);
  Limits l;
  const auto cgroups = read_small_file(paths.proc_root + "/self/cgroup");
  if (cgroups) {
    std::istringstream lines(*cgroups);
    std::string line;
    while (std::getline(lines, line)) {  // "ID:CONTROLLERS:PATH"; the path may itself hold ':'
      const size_t a = line.find(':');
      const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      const std::string_view controllers = std::string_view(line).substr(a + 1, b - a - 1);
      const std::string_view path = std::string_view(line).substr(b + 1);
      if (path.empty() || path.front() != '/') continue;
      const std::string root = paths.cgroup_root + "/";
      if (controllers.empty()) {  // v2 (the unified hierarchy), at the root or, hybrid, under unified/
        for (const std::string& base : {paths.cgroup_root, root + "unified"})
          for (const std::string& dir : with_ancestors(base, path)) read_v2(dir, l);
        continue;
      }
      bool memory = false, cpu = false;
      for (std::string_view c : split(controllers, ',')) {
        memory |= c == "memory";
        cpu |= c == "cpu";
      }
      const std::string listed(controllers);
      if (memory)
        for (const std::string& dir : with_ancestors(root + listed, path)) read_v1_memory(dir, l);
      if (cpu) {
        // Mounted under the listed name, or the usual cpu,cpuacct with its cpu link.
        std::vector<std::string> bases = {root + listed};
        for (const char* other : {"cpu,cpuacct", "cpu"})
          if (listed != other) bases.push_back(root + other);
        for (const std::string& base : bases)
          for (const std::string& dir : with_ancestors(base, path)) read_v1_cpu(dir, l);
      }
    }
  }
  h.cgroup_memory_limit_bytes = l.memory;
  h.cpu_quota_cores = l.quota_cores;
  h.cpu_period_s = l.period_s;
  return h;
}

}  // namespace lingua

// available_memory_bytes over /proc/meminfo.
#include "core/system_memory.h"

#include <fstream>
#include <sstream>
#include <string>

namespace lingua {

uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {  // "MemAvailable:   123456 kB"; some lines have no unit
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

uint64_t process_anonymous_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {  // "RssAnon:	   12345 kB"
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "RssAnon:") return kib * 1024;
  }
  return 0;
}

}  // namespace lingua

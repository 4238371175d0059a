// The devices file (YAML): which devices a run may use, what each can do (memory, speed, power)
// and the links between them. Parsed and fully validated here, so later stages trust it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lingua {

// The slowdown factors a worker accepts (runtime/protocol.cpp checks the same range): a device
// cannot be emulated faster than it is.
inline constexpr double kMinSlowdown = 1.0;
inline constexpr double kMaxSlowdown = 1000.0;
// `cpu:` (emulated hosts' CPU quota, in cores): a hundredth of a core up to a large machine.
inline constexpr double kMinCpuCores = 0.01;
inline constexpr double kMaxCpuCores = 1024.0;

// Emulation: compute `factor` times slower from token `after_tokens` on (0 = from the start).
struct SlowdownSpec {
  double factor = 1.0;
  int64_t after_tokens = 0;
};

struct DeviceSpec {
  std::string name;                          // unique
  std::string endpoint;                      // "" = a local device the head starts
  int threads = 1;                           // with an endpoint: 0 = not given (its worker's own --threads)
  uint64_t memory_bytes = 0;                 // > 0; with an endpoint: 0 = not given (measured by its worker)
  std::map<DType, double> flops_per_s;       // from `gflops: {f32: 20, q8_0: 35}` (GFLOP/s given, stored as FLOP/s); empty = not given
  double mem_bandwidth_bytes_per_s = 0;      // 0 = not given
  double power_busy_w = 0, power_idle_w = 0; // from `power_w: {busy: 4.5, idle: 0.6}`; 0 = not given
  double battery = -1;                       // 0..1, -1 = mains power
  SlowdownSpec slowdown;                     // `slowdown: 2.0` or `slowdown: {after_tokens: 8, factor: 3.0}`
  double cpu_cores = 0;                      // `cpu: 0.25`: emulated hosts' CPU quota; 0 = not given. The planner ignores it
  int line = 0;                              // where it was declared, for messages
};

struct LinkSpec {
  double bandwidth_bytes_per_s = 0;
  double latency_s = 0;
};

struct DevicesFile {
  std::string source;                        // file name, for messages
  std::vector<DeviceSpec> devices;
  LinkSpec default_link{100e6 / 8, 0.005};   // `links: default: {bandwidth: 100Mbit/s, latency: 5ms}`
  std::vector<std::tuple<std::string, std::string, LinkSpec>> pair_links;  // `links: "a <-> b": {...}` (symmetric)

  // nullptr when no device has that name.
  const DeviceSpec* find(const std::string& name) const;
  // The pair entry for a and b (either order) or the default.
  LinkSpec link(const std::string& a, const std::string& b) const;
};

// Parses and validates a devices file's text; `source` names it in messages ("source:line: ...").
// A pair link's missing bandwidth or latency is taken from the default link.
Expected<DevicesFile> parse_devices_yaml(const std::string& text, const std::string& source);
// Reads and parses the file at `path`; a missing or unreadable file is an error naming it.
Expected<DevicesFile> load_devices_file(const std::string& path);

}  // namespace lingua

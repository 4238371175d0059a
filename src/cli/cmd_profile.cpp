// `lingua profile`: measure this machine with the real kernels and print a devices-file entry
// (or JSON); the result is cached for `lingua plan`.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/command.h"
#include "cli/json_out.h"
#include "core/host_limits.h"
#include "plan/compute_profile.h"
#include "plan/device_profile.h"
#include "runtime/device_readings.h"

namespace lingua::cli {
namespace {

class ProfileCommand : public Command {
 public:
  const char* name() const override { return "profile"; }
  const char* summary() const override { return "measure this machine (compute per type, bandwidth, memory)"; }

  void setup(CLI::App& app) override {
    app.add_option("-t,--threads", threads_, "threads the device will compute with")->capture_default_str();
    app.add_flag("--cached", cached_, "print the cached profile when there is one instead of measuring");
    app.add_flag("--json", json_, "print one JSON document");
  }

  int run() override {
    if (auto e = check_threads(threads_); !e.empty()) return fail(name(), e);
    auto p = measure_device_profile(threads_, 0, /*refresh=*/!cached_);
    if (!p) return fail(name(), p.error());
    const DeviceReadings readings = read_device_readings();
    p->battery = readings.battery;
    p->temperature_c = readings.temperature_c;
    char host[256] = "this-machine";
    gethostname(host, sizeof host - 1);
    if (json_) {
      nlohmann::json flops;
      for (DType t : profiled_types()) flops[dtype_name(t)] = p->rates.flops_for(t);
      // The profile as a worker sends it in HELLO, and the older flat keys beside it.
      print_json({{"name", host}, {"threads", p->threads}, {"cores", p->cores}, {"cpu_quota_cores", p->cpu_quota_cores},
                  {"memory_bytes", p->memory_bytes}, {"memory_available_bytes", p->mem_available_bytes},
                  {"cgroup_memory_limit_bytes", p->cgroup_memory_limit_bytes}, {"flops_per_s", flops},
                  {"bytes_per_s", p->rates.bytes_per_s}, {"seconds_per_op", p->rates.seconds_per_op},
                  {"battery", p->battery}, {"temperature_c", p->temperature_c}, {"source", p->source},
                  {"profile", nlohmann::json::parse(device_profile_json(*p))}});
      return 0;
    }
    std::printf("%s", devices_file_entry(*p, host).c_str());
    std::fprintf(stderr, "lingua: %s\n", describe(*p).c_str());
    return 0;
  }

 private:
  int threads_ = std::min(default_threads(), read_host_limits().usable_threads());  // within a CPU quota
  bool cached_ = false, json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_profile_command() { return std::make_unique<ProfileCommand>(); }

}  // namespace lingua::cli

// `lingua devices`: the cluster as Lingua sees it before it plans: every worker of a devices file
// reached, what each measured about itself, and the links measured between them.
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "cli/json_out.h"
#include "plan/units.h"
#include "runtime/survey.h"

namespace lingua::cli {
namespace {

constexpr DType kShownTypes[] = {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The profile as the worker sent it (device_profile_json), with GFLOP/s per type for reading.
nlohmann::json profile_json(const DeviceProfile& p) {
  nlohmann::json j = nlohmann::json::parse(device_profile_json(p));
  nlohmann::json gflops;
  for (DType t : kShownTypes)
    if (p.rates.flops_for(t) > 0) gflops[dtype_name(t)] = p.rates.flops_for(t) / 1e9;
  j["gflops"] = gflops;
  return j;
}

class DevicesCommand : public Command {
 public:
  const char* name() const override { return "devices"; }
  const char* summary() const override { return "reach the workers of a devices file and show what each measured, and the links"; }

  void setup(CLI::App& app) override {
    app.add_option("--devices", devices_, "devices file (YAML) naming the workers and their endpoints")->required();
    app.add_option("--keys", keys_, "the head's keys directory (default $LINGUA_KEYS or ~/.config/lingua/keys)");
    app.add_flag("--insecure", insecure_, "plain connections without CURVE keys (loopback only)");
    app.add_flag("--allow-insecure-network", allow_insecure_network_, "with --insecure: allow endpoints off this machine");
    app.add_option("--probe-timeout", probe_timeout_s_, "seconds one link measurement may take")->capture_default_str();
    app.add_flag("--json", json_, "print one JSON document");
  }

  int run() override {
    if (!(probe_timeout_s_ > 0 && probe_timeout_s_ <= 60)) return fail(name(), "--probe-timeout must be more than 0 and at most 60 s");
    auto file = load_devices_file(devices_);
    if (!file) return fail(name(), file.error());
    ReachOptions ro;
    ro.keys_dir = keys_;
    ro.insecure = insecure_;
    ro.allow_insecure_network = allow_insecure_network_;
    ProbeOptions probe;
    probe.timeout_s = probe_timeout_s_;
    if (!json_) std::fprintf(stderr, "lingua: reaching the %zu device(s) of %s and measuring the links between them\n", file->devices.size(), devices_.c_str());
    auto survey = survey_devices(*file, ro, probe);
    if (!survey) return fail(name(), survey.error());
    // Devices without an endpoint are the head's own to start: nothing to reach, not a failure.
    int reached = 0, remote = 0;
    for (const SurveyedDevice& d : survey->devices) {
      reached += d.reached;
      remote += !d.endpoint.empty();
    }
    if (json_) {
      nlohmann::json devices = nlohmann::json::array();
      for (const SurveyedDevice& d : survey->devices) {
        nlohmann::json j{{"name", d.name}, {"endpoint", d.endpoint}, {"reached", d.reached}, {"error", d.error}};
        if (d.hello.profile) j["profile"] = profile_json(*d.hello.profile);
        devices.push_back(j);
      }
      nlohmann::json links = nlohmann::json::array();
      for (const MeasuredLink& l : survey->measured.links)
        links.push_back({{"from", l.from}, {"to", l.to}, {"rtt_ms", l.rtt_s * 1e3}, {"bandwidth_bytes_per_s", l.bytes_per_s},
                         {"error", l.error}});
      print_json({{"devices_file", devices_}, {"devices", devices}, {"links", links}, {"notes", survey->measured.notes}});
      return remote > 0 && reached == remote ? 0 : 1;
    }
    std::printf("| device | endpoint | cores | threads | CPU quota | memory | f32 GFLOP/s | q8_0 GFLOP/s | q4_0 GFLOP/s | memory GB/s | battery | profile |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (const SurveyedDevice& d : survey->devices) {
      if (d.endpoint.empty()) {
        std::printf("| %s | - | local: started by the head on this machine, not reached here |\n", d.name.c_str());
        continue;
      }
      if (!d.reached) {
        std::printf("| %s | %s | not reached: %s |\n", d.name.c_str(), d.endpoint.empty() ? "-" : d.endpoint.c_str(), d.error.c_str());
        continue;
      }
      if (!d.hello.profile) {
        std::printf("| %s | %s | %d | - | - | - | - | - | - | - | - | none sent (an older worker, or one started with --no-profile) |\n",
                    d.name.c_str(), d.endpoint.c_str(), d.hello.cores);
        continue;
      }
      const DeviceProfile& p = *d.hello.profile;
      const std::string memory = format_bytes(p.memory_bytes) +
                                 (p.cgroup_memory_limit_bytes && p.memory_bytes == p.cgroup_memory_limit_bytes ? " (cgroup)"
                                  : p.memory_flag_bytes && p.memory_bytes == p.memory_flag_bytes             ? " (--memory)"
                                                                                                             : " (available)");
      std::printf("| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", d.name.c_str(), d.endpoint.c_str(), p.cores,
                  p.threads, p.cpu_quota_cores > 0 ? (fixed(p.cpu_quota_cores, 2) + " cores").c_str() : "none", memory.c_str(),
                  fixed(p.rates.flops_for(DType::F32) / 1e9, 2).c_str(), fixed(p.rates.flops_for(DType::Q8_0) / 1e9, 2).c_str(),
                  fixed(p.rates.flops_for(DType::Q4_0) / 1e9, 2).c_str(), fixed(p.rates.bytes_per_s / 1e9, 2).c_str(),
                  p.battery < 0 ? "mains" : (fixed(p.battery * 100, 0) + "%").c_str(), p.source.c_str());
    }
    if (!survey->measured.links.empty()) {
      std::printf("\nlinks (round trip, bandwidth from -> to):\n| from \\ to |");
      std::vector<std::string> names;
      for (const SurveyedDevice& d : survey->devices)
        if (d.reached) names.push_back(d.name);
      for (const std::string& n : names) std::printf(" %s |", n.c_str());
      std::printf("\n|---|");
      for (size_t i = 0; i < names.size(); ++i) std::printf("---|");
      std::printf("\n");
      std::map<std::pair<std::string, std::string>, const MeasuredLink*> by_pair;
      for (const MeasuredLink& l : survey->measured.links) by_pair[{l.from, l.to}] = &l;
      std::vector<std::string> rows{"head"};
      rows.insert(rows.end(), names.begin(), names.end());
      for (const std::string& from : rows) {
        std::printf("| %s |", from.c_str());
        for (const std::string& to : names) {
          auto it = by_pair.find({from, to});
          if (it == by_pair.end()) std::printf(" - |");
          else if (!it->second->error.empty()) std::printf(" not measured |");
          else std::printf(" %.1f ms, %s |", it->second->rtt_s * 1e3, format_bandwidth(it->second->bytes_per_s).c_str());
        }
        std::printf("\n");
      }
    }
    for (const std::string& n : survey->measured.notes) std::printf("note: %s\n", n.c_str());
    if (remote == 0) return fail(name(), devices_ + " lists no device with an endpoint: nothing to reach");
    if (reached < remote)
      return fail(name(), std::to_string(remote - reached) + " of " + std::to_string(remote) + " devices not reached (see the table)");
    return 0;
  }

 private:
  std::string devices_, keys_;
  bool insecure_ = false, allow_insecure_network_ = false, json_ = false;
  double probe_timeout_s_ = 3;
};

}  // namespace

std::unique_ptr<Command> make_devices_command() { return std::make_unique<DevicesCommand>(); }

}  // namespace lingua::cli

// `lingua profile`: measure this machine with the real kernels and print a devices-file entry
// (or JSON); the result is cached for `lingua plan`.
#include <unistd.h>

#include <cstdio>

#include "cli/command.h"
#include "cli/json_out.h"
#include "plan/compute_profile.h"
#include "plan/local_profile.h"

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
    auto p = local_profile(threads_, /*refresh=*/!cached_);
    if (!p) return fail(name(), p.error());
    char host[256] = "this-machine";
    gethostname(host, sizeof host - 1);
    if (json_) {
      nlohmann::json flops;
      for (DType t : profiled_types()) flops[dtype_name(t)] = p->rates.flops_for(t);
      print_json({{"name", host}, {"threads", p->threads}, {"cores", p->cores}, {"memory_available_bytes", p->memory_available_bytes},
                  {"flops_per_s", flops}, {"bytes_per_s", p->rates.bytes_per_s}, {"seconds_per_op", p->rates.seconds_per_op},
                  {"source", p->source}});
      return 0;
    }
    std::printf("%s", devices_file_entry(*p, host).c_str());
    std::fprintf(stderr, "lingua: %s; %d cores\n", p->source.c_str(), p->cores);
    return 0;
  }

 private:
  int threads_ = default_threads();
  bool cached_ = false, json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_profile_command() { return std::make_unique<ProfileCommand>(); }

}  // namespace lingua::cli

// `lingua worker`: a device agent that runs the op range a head assigns it (runtime/worker.h).
// Secure by default: CURVE keys from --keys DIR, heads admitted by their public keys. It measures
// its own device first (cached), and sends that profile to every head in HELLO.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "core/host_limits.h"
#include "net/keys.h"
#include "plan/units.h"
#include "runtime/cluster_run.h"
#include "runtime/worker.h"

namespace lingua::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

class WorkerCommand : public Command {
 public:
  const char* name() const override { return "worker"; }
  const char* summary() const override { return "run as a device: serve the model segment a head assigns"; }

  void setup(CLI::App& app) override {
    app.add_option("--listen", listen_, "endpoint to listen on, e.g. tcp://0.0.0.0:7700 (port 0: any free port)")
        ->required();
    app.add_option("--name", name_, "this device's name in messages")->capture_default_str();
    app.add_option("--keys", keys_,
                   "key directory: lingua.key (this worker, made when missing) and heads/*.pub (the heads it "
                   "accepts, read again every 2 s; made empty when missing); default $LINGUA_KEYS or ~/.config/lingua/keys");
    app.add_option("--models", models_, "directory of model files this worker may use (matched by content, not name)")
        ->check(CLI::ExistingDirectory);
    app.add_flag("--insecure", insecure_, "no encryption or authentication (loopback only, see --allow-insecure-network)");
    app.add_flag("--allow-insecure-network", allow_insecure_network_, "allow --insecure on a non-loopback address");
    app.add_flag("--quiet", quiet_, "log errors only");
    app.add_option("--threads", threads_,
                   "threads it computes with when a head does not say (default: the cores its CPU quota allows)");
    app.add_option("--memory", memory_,
                   "the most memory it uses, e.g. 1.5GiB (it also stays within MemAvailable and its cgroup's limit)");
    app.add_flag("--reprofile", reprofile_, "measure this device again instead of using the cached profile");
    app.add_flag("--no-profile", no_profile_,
                 "measure nothing and send no profile (for workers a head starts and prices itself)");
    // Used by a head that starts local workers; not for people.
    app.add_option("--ready-fd", ready_fd_, "write the bound endpoint to this file descriptor")->group("");
    app.add_flag("--exit-after-session", exit_after_session_, "exit when the head ends its session")->group("");
  }

  int run() override {
    WorkerOptions o;
    const HostLimits host = read_host_limits();
    if (threads_ != 0)
      if (auto e = check_threads(threads_); !e.empty()) return fail(name(), "--threads" + e.substr(2));
    o.threads = threads_ > 0 ? threads_ : std::min(host.usable_threads(), 1024);
    uint64_t memory_flag = 0;
    if (!memory_.empty()) {
      auto size = parse_size(memory_);
      if (!size) return fail(name(), "--memory: " + size.error());
      if (*size == 0) return fail(name(), "--memory must be more than zero");
      memory_flag = *size;
    }
    if (no_profile_ && reprofile_) return fail(name(), "--reprofile and --no-profile contradict each other");
    if (no_profile_) {
      // Priced by the head that started it: only the hard limits bound it, not a snapshot of
      // what was free.
      HostLimits hard = host;
      hard.mem_available_bytes = 0;
      o.memory_limit_bytes = hard.usable_memory_bytes(memory_flag);
    } else {
      o.measure_profile = true;  // by run_worker, once its socket is bound
      o.memory_flag_bytes = memory_flag;
      o.reprofile = reprofile_;
    }
    o.listen = listen_;
    o.name = name_;
    o.ready_fd = ready_fd_;
    o.exit_after_session = exit_after_session_;
    o.models_dir = models_;
    o.cache_dir = default_segment_cache_dir();
    o.channel.insecure = insecure_;
    o.channel.allow_insecure_network = allow_insecure_network_;
    o.channel.log_refusals = true;
    if (!insecure_) {
      const std::string dir = keys_.empty() ? default_keys_dir() : keys_;
      bool made = false;
      auto own = load_or_make_identity(dir, &made);
      if (!own) return fail(name(), own.error());
      o.channel.own = *own;
      if (made)
        std::fprintf(stderr,
                     "lingua worker: made this worker's key pair in %s (a new identity); its public key, for each head "
                     "as workers/%s.pub in the head's keys directory:\n%s\n",
                     dir.c_str(), name_.c_str(), own->public_key.c_str());
      const std::filesystem::path heads = std::filesystem::path(dir) / "heads";
      if (exit_after_session_) {
        // Started by a head for one session: its key folder is removed once read, so not watched.
        auto keys = load_authorized_keys(heads);
        if (!keys) return fail(name(), keys.error());
        o.channel.authorized = keys->keys;
      } else {
        // Read again every 2 s by the worker (keys added are admitted, removed ones revoked),
        // which also says when it holds no key yet.
        std::error_code ec;
        if (!std::filesystem::exists(heads, ec)) {
          std::filesystem::create_directories(heads, ec);
          if (ec) return fail(name(), "cannot create " + heads.string() + " for the keys of the heads it accepts: " + ec.message());
          std::fprintf(stderr, "lingua worker: made %s: copy there the lingua.pub of each head this worker accepts\n",
                       heads.string().c_str());
        }
        o.trusted_dir = heads.string();
        o.channel.authorized_may_grow = true;
      }
    }
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGPIPE, SIG_IGN);
    if (quiet_) o.quiet = true;
    Status st = run_worker(o, g_stop);
    if (!st) return fail(name(), st.message());
    return 0;
  }

 private:
  std::string listen_, name_ = "worker", keys_, models_, memory_;
  bool insecure_ = false, allow_insecure_network_ = false, quiet_ = false, exit_after_session_ = false;
  bool reprofile_ = false, no_profile_ = false;
  int threads_ = 0;  // 0: the usable threads
  int ready_fd_ = -1;
};

}  // namespace

std::unique_ptr<Command> make_worker_command() { return std::make_unique<WorkerCommand>(); }

}  // namespace lingua::cli

// `lingua serve`: the OpenAI-compatible HTTP server (server/http_server.h) on one device or on a
// distributed run (the same device flags as generate), until Ctrl-C or SIGTERM.
#include <pthread.h>

#include <mutex>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/cluster_start.h"
#include "cli/command.h"
#include "runtime/generator.h"
#include "server/http_server.h"

namespace lingua::cli {
namespace {

class ServeCommand : public Command {
 public:
  const char* name() const override { return "serve"; }
  const char* summary() const override { return "serve a model over HTTP with OpenAI's API"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF model file")->required();
    app.add_option("--host", options_.host, "address to listen on")->capture_default_str();
    app.add_option("--port", options_.port, "port to listen on (0: any free one, printed)")->capture_default_str();
    app.add_option("--api-key", options_.api_key, "require 'Authorization: Bearer KEY' on /v1/* and /metrics");
    app.add_option("--parallel", options_.parallel, "sequences generated at once (continuous batching)")->capture_default_str();
    app.add_option("--queue", options_.queue_limit, "requests that may wait beyond those before a 429 (0: 4 x --parallel)")
        ->capture_default_str();
    app.add_option("-c,--ctx-size", context_, "context size per sequence in tokens (0 = the model's, at most " +
                   std::to_string(Model::kMaxDefaultContext) + " and what fits in memory)")->capture_default_str();
    app.add_option("-t,--threads", threads_, "compute threads")->capture_default_str();
    app.add_option("-b,--batch", options_.batch, "prompt tokens per sequence per step")->capture_default_str();
    app.add_option("--chat-template", chat_template_, "Jinja chat template file to use instead of the model's");
    app.add_option("--model-id", options_.model_id, "the model's name in the API (default: the file name without .gguf)");
    app.add_option("--timeout", options_.read_timeout_s, "seconds a request may stall while it is being received")
        ->capture_default_str();
    local_devices_opt_ =
        app.add_option("--local-devices", flags_.local_devices, "split the model across K worker processes started here");
    app.add_option("--devices", flags_.devices, "devices file (YAML): plan on these devices and run there");
    app.add_option("--plan", flags_.plan, "with --devices/--local-devices: run the segments of this plan file");
    app.add_option("--wire-dtype", flags_.wire_dtype, "activations on the wire: f32 (exact) | f16 (half the bytes)")
        ->capture_default_str();
    app.add_option("--keys", flags_.keys, "the head's key directory (default $LINGUA_KEYS or ~/.config/lingua/keys)");
    app.add_flag("--insecure", flags_.insecure, "plain sockets to the workers (loopback only, unless --allow-insecure-network)");
    app.add_flag("--allow-insecure-network", flags_.allow_insecure_network, "allow --insecure beyond loopback");
    app.add_flag("--no-balance", flags_.no_balance, "with devices: keep the plan as it started (failover stays on)");
  }

  int run() override {
    if (auto e = check_threads(threads_); !e.empty()) return fail(name(), e);
    if (options_.port < 0 || options_.port > 65535) return fail(name(), "--port must be 0..65535 (got " + std::to_string(options_.port) + ")");
    if (options_.parallel < 1 || options_.parallel > 256)
      return fail(name(), "--parallel must be 1..256 (got " + std::to_string(options_.parallel) + ")");
    if (options_.queue_limit < 0) return fail(name(), "--queue must be 0 or more");
    if (options_.batch < 1) return fail(name(), "--batch must be at least 1");
    if (context_ < 0) return fail(name(), "--ctx-size must be 0 (the model's) or more");
    if (options_.read_timeout_s < 1) return fail(name(), "--timeout must be at least 1 second");
    if (!chat_template_.empty()) {
      std::ifstream in(chat_template_, std::ios::binary);
      if (!in) return fail(name(), "cannot read the chat template file " + chat_template_);
      std::stringstream ss;
      ss << in.rdbuf();
      options_.chat_template = ss.str();
      options_.chat_template_origin = "the chat template " + chat_template_;
      if (options_.chat_template.empty()) return fail(name(), "the chat template file " + chat_template_ + " is empty");
    }
    // Ctrl-C and SIGTERM are taken by one thread (every thread started from here on blocks them):
    // before the server runs they end the process, afterwards they stop it cleanly.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    Running running;
    std::thread signals([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::lock_guard<std::mutex> lock(running.mutex);
      if (running.finished) return;  // woken to end
      if (!running.server) std::_Exit(130);
      std::fprintf(stderr, "lingua serve: stopping\n");
      running.server->stop();
    });
    const int rc = serve(running);
    {
      std::lock_guard<std::mutex> lock(running.mutex);
      running.finished = true;
    }
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
    return rc;
  }

 private:
  // The server the signal thread stops; the lock keeps it alive while it does.
  struct Running {
    std::mutex mutex;
    server::Server* server = nullptr;
    bool finished = false;
  };

  int serve(Running& running) {
    auto model = Model::load(model_);
    if (!model) return fail(name(), model.error());
    const bool on_devices = local_devices_opt_->count() > 0 || !flags_.devices.empty();
    std::vector<std::string> notes;
    auto context = choose_context(**model, context_, !on_devices, notes);
    if (!context) return fail(name(), context.error());
    for (const std::string& note : notes) std::fprintf(stderr, "lingua: %s\n", note.c_str());
    options_.context = *context;

    std::unique_ptr<ClusterRun> cluster;
    std::unique_ptr<ThreadPool> pool;
    std::unique_ptr<InProcessPipeline> in_process;
    Pipeline* pipeline = nullptr;
    if (on_devices) {
      flags_.model_path = model_;
      flags_.local_devices_given = local_devices_opt_->count() > 0;
      flags_.threads = threads_;
      flags_.context = options_.context;
      flags_.batch = options_.batch * options_.parallel;  // a step: up to `batch` rows of every sequence
      flags_.max_sequences = options_.parallel;
      auto run = start_cluster(**model, flags_);
      if (!run) return fail(name(), run.error());
      cluster = std::move(*run);
      pipeline = cluster.get();
    } else {
      if (!flags_.plan.empty()) return fail(name(), "--plan needs --devices or --local-devices");
      keep_weights_in_huge_pages(name(), **model);
      pool = std::make_unique<ThreadPool>(threads_);
      ExecutorConfig config;
      config.context = options_.context;
      // One step carries up to `batch` rows of every active sequence in one forward pass.
      config.max_batch = options_.batch * options_.parallel;
      config.max_sequences = options_.parallel;
      in_process = std::make_unique<InProcessPipeline>((*model)->graph(), Partition::whole((*model)->graph()), config, *pool);
      pipeline = in_process.get();
    }
    auto server = server::Server::create(**model, *pipeline, options_, cluster.get());
    if (!server) return fail(name(), server.error());
    auto port = (*server)->bind();
    if (!port) return fail(name(), port.error());
    std::fprintf(stderr, "lingua serve: %s on http://%s:%d/v1 (%d at once, context %lld, %s)\n", (*server)->model_id().c_str(),
                 options_.host.c_str(), *port, options_.parallel, static_cast<long long>(options_.context),
                 cluster ? (std::to_string(cluster->remote().all_devices().size()) + " devices").c_str()
                         : (std::to_string(threads_) + " threads").c_str());
    std::fprintf(stderr, "lingua serve: chat format: %s\n", (*server)->chat_format().description().c_str());
    {
      std::lock_guard<std::mutex> lock(running.mutex);
      running.server = server->get();
    }
    (*server)->run();
    std::lock_guard<std::mutex> lock(running.mutex);
    running.server = nullptr;
    (*server)->stop();
    return 0;
  }

  std::string model_, chat_template_;
  server::ServerOptions options_;
  ClusterFlags flags_;
  CLI::Option* local_devices_opt_ = nullptr;
  int64_t context_ = 0;
  int threads_ = default_threads();
};

}  // namespace

std::unique_ptr<Command> make_serve_command() { return std::make_unique<ServeCommand>(); }

}  // namespace lingua::cli

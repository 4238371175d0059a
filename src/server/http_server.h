// `lingua serve`'s HTTP side: OpenAI's API (chat completions, completions, models) plus /health
// and /metrics on cpp-httplib, each request turned into a job for the Scheduler, which alone
// drives the Pipeline. Errors in OpenAI's JSON shape with the right status.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"
#include "model/model.h"
#include "runtime/cluster_run.h"
#include "runtime/pipeline.h"
#include "server/chat_format.h"
#include "server/metrics.h"

namespace lingua::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (see Server::bind)
  std::string api_key;             // "" = no authentication
  int parallel = 4;                // sequences generated at once
  int queue_limit = 0;             // requests waiting beyond those before a 429 (0 = 4 * parallel)
  int64_t context = 0;             // KV positions per sequence (required)
  int64_t batch = 64;              // prompt tokens per sequence per step
  std::string model_id;            // the name /v1/models lists ("" = the model file's name without .gguf)
  std::string chat_template;       // Jinja source to use instead of the model's ("" = the model's)
  std::string chat_template_origin = "the --chat-template file";
  int read_timeout_s = 10;         // a request whose bytes stop coming is dropped after this
  int write_timeout_s = 10;        // a client that stops reading is dropped after this
  size_t max_body_bytes = size_t{8} << 20;
  int http_threads = 0;            // 0: every active and queued request, plus 8 for the rest
};

class Server {
 public:
  // `cluster`: the pipeline when it is a distributed run, for per-device metrics (or nullptr).
  static Expected<std::unique_ptr<Server>> create(const Model& model, Pipeline& pipeline, ServerOptions options,
                                                  ClusterRun* cluster = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (the free one picked when options.port is 0).
  Expected<int> bind();
  // Serves until stop() (from any thread). Returns at once when not bound.
  void run();
  void stop();

  const std::string& model_id() const;
  const ChatFormatter& chat_format() const;
  Metrics& metrics();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lingua::server

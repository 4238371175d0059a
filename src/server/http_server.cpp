// Server: routes, authentication, the request -> job -> response path, and streaming. Handlers
// run on httplib's threads and never touch the Pipeline: they queue jobs and read channels.
#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <random>
#include <thread>

#include "server/request.h"
#include "server/responses.h"
#include "server/scheduler.h"

namespace lingua::server {
namespace {

using json = nlohmann::json;

// Every path served and the methods it answers (HEAD goes with GET).
struct Route {
  const char* path;
  const char* method;
};
constexpr Route kRoutes[] = {{"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"}, {"/v1/models", "GET"},
                             {"/health", "GET"}, {"/metrics", "GET"}};
constexpr const char* kModelPrefix = "/v1/models/";

// The endpoint label metrics count a request under: a served path, or "other".
std::string endpoint_label(const std::string& path) {
  for (const Route& r : kRoutes)
    if (path == r.path) return path;
  if (path.rfind(kModelPrefix, 0) == 0) return "/v1/models/{id}";
  return "other";
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status, error_json(e));
  if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
}

std::string model_id_from(const std::string& path) {
  std::string stem = std::filesystem::path(path).filename().string();
  if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".gguf") == 0) stem.resize(stem.size() - 5);
  return stem.empty() ? "model" : stem;
}

// An upper bound on the bytes of text `context` tokens can stand for: a longer prompt is over the
// context without tokenizing it (a giant body costs no tokenizer time).
size_t prompt_byte_limit(const Vocab& vocab, int64_t context) {
  size_t longest = 1;
  for (const std::string& p : vocab.pieces) longest = std::max(longest, p.size());
  return static_cast<size_t>(context) * (longest + 4) + 4096;
}

}  // namespace

struct Server::Impl {
  const Model& model;
  ServerOptions options;
  ClusterRun* cluster = nullptr;
  Metrics metrics;
  std::unique_ptr<ChatFormatter> chat;
  std::unique_ptr<Scheduler> scheduler;
  httplib::Server http;
  size_t max_prompt_bytes = 0;
  std::atomic<uint64_t> next_id{1};
  std::atomic<int> in_flight{0};  // generation requests whose answer is not written yet
  int64_t created = 0;
  bool bound = false;
  int listen_socket = -1;

  Impl(const Model& m, ServerOptions o) : model(m), options(std::move(o)) {}

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    if (header.empty()) {
      send_error(res, {401, "no API key given: send the header 'Authorization: Bearer KEY'", "invalid_request_error", "",
                       "invalid_api_key"});
      return false;
    }
    if (header != "Bearer " + options.api_key) {
      send_error(res, {401, "incorrect API key", "invalid_request_error", "", "invalid_api_key"});
      return false;
    }
    return true;
  }

  json model_object() const {
    return {{"id", options.model_id}, {"object", "model"}, {"created", created}, {"owned_by", "lingua"}};
  }

  void handle_completion(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  void respond_whole(Endpoint endpoint, const ResponseHead& head, const CompletionRequest& r,
                     const std::shared_ptr<RequestChannel>& channel, httplib::Response& res);
  void respond_stream(Endpoint endpoint, const ResponseHead& head, const CompletionRequest& r,
                      const std::shared_ptr<RequestChannel>& channel, httplib::Response& res, std::shared_ptr<void> answering);
  void install_routes();
};

void Server::Impl::handle_completion(Endpoint endpoint, const httplib::Request& req, httplib::Response& res) {
  // Held until the answer is written (for a stream, by its content provider): stop() waits for it.
  ++in_flight;
  std::shared_ptr<void> answering(nullptr, [this](void*) { --in_flight; });
  CompletionRequest r;
  if (auto e = parse_request(endpoint, req.body, r)) return send_error(res, *e);
  if (!r.model.empty() && r.model != options.model_id)
    return send_error(res, {404, "the model '" + r.model + "' does not exist: this server serves '" + options.model_id + "'",
                            "invalid_request_error", "model", "model_not_found"});
  const Vocab& vocab = model.vocab();
  std::string text;
  TokenizeOptions topt;
  topt.add_bos = vocab.add_bos && vocab.bos >= 0;
  std::vector<std::string> stops = r.stop;
  if (endpoint == Endpoint::kChat) {
    auto rendered = chat->render(r.messages);
    if (!rendered) return send_error(res, bad_request(rendered.error(), "messages"));
    text = std::move(rendered->text);
    topt.parse_special = rendered->parse_special;
    topt.add_bos = topt.add_bos && !rendered->no_bos;
    stops.insert(stops.end(), rendered->stop.begin(), rendered->stop.end());
  } else {
    text = std::move(r.prompt);
  }
  const std::string too_long = "this model's context is " + std::to_string(options.context) + " tokens, and ";
  if (text.size() > max_prompt_bytes)
    return send_error(res, bad_request(too_long + "the prompt's " + std::to_string(text.size()) + " bytes are more than that",
                                       endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded"));
  auto tokens = model.tokenizer().encode(text, topt);
  if (!tokens) return send_error(res, bad_request("the prompt: " + tokens.error(), endpoint == Endpoint::kChat ? "messages" : "prompt"));
  if (tokens->empty())
    return send_error(res, bad_request("the prompt gives no tokens and the model has no BOS token", "prompt"));
  if (static_cast<int64_t>(tokens->size()) >= options.context)
    return send_error(res, bad_request(too_long + "the prompt is " + std::to_string(tokens->size()) +
                                           " tokens (it must leave room for at least one more)",
                                       endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded"));
  if (!r.seed_given) r.sampling.seed = std::random_device{}();
  GenerationJob job;
  job.prompt = std::move(*tokens);
  job.sampling = r.sampling;
  job.max_tokens = r.max_tokens;
  job.stop = std::move(stops);
  job.logprobs = r.logprobs;
  job.ignore_eos = r.ignore_eos;
  auto channel = std::make_shared<RequestChannel>();
  job.channel = channel;
  switch (scheduler->enqueue(std::move(job))) {
    case Scheduler::Admission::kQueued:
      break;
    case Scheduler::Admission::kQueueFull:
      return send_error(res, {429, "the server is busy: " + std::to_string(options.parallel) + " running and " +
                                       std::to_string(options.queue_limit) + " waiting, as many as it takes; try again shortly",
                              "rate_limit_error", "", "queue_full"});
    case Scheduler::Admission::kUnavailable: {
      const std::string why = scheduler->failure();
      return send_error(res, {503, why.empty() ? "the server is shutting down" : "the model's pipeline failed: " + why,
                              "server_error", "", "unavailable"});
    }
  }
  ResponseHead head;
  head.id = (endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
  head.created = static_cast<int64_t>(std::time(nullptr));
  head.model = options.model_id;
  if (r.stream) respond_stream(endpoint, head, r, channel, res, std::move(answering));
  else respond_whole(endpoint, head, r, channel, res);
}

void Server::Impl::respond_whole(Endpoint endpoint, const ResponseHead& head, const CompletionRequest& r,
                                 const std::shared_ptr<RequestChannel>& channel, httplib::Response& res) {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  for (;;) {
    auto event = channel->pop(std::chrono::milliseconds(1000));
    if (!event) continue;  // the scheduler always ends a job (done, error or shutdown)
    if (event->kind == GenerationEvent::Kind::kError) return send_error(res, event->error);
    if (event->kind == GenerationEvent::Kind::kText) {
      text += event->text;
      for (TokenLogprob& t : event->logprobs) logprobs.push_back(std::move(t));
      continue;
    }
    int64_t offset = 0;
    const json lp = r.logprobs >= 0 ? logprobs_json(endpoint, logprobs, offset) : json(nullptr);
    return send_json(res, 200, completion_json(endpoint, head, text, event->finish_reason, lp,
                                               {event->prompt_tokens, event->completion_tokens}));
  }
}

void Server::Impl::respond_stream(Endpoint endpoint, const ResponseHead& head, const CompletionRequest& r,
                                  const std::shared_ptr<RequestChannel>& channel, httplib::Response& res,
                                  std::shared_ptr<void> answering) {
  struct StreamState {
    bool started = false;
    int64_t text_offset = 0;
  };
  auto state = std::make_shared<StreamState>();
  const bool want_logprobs = r.logprobs >= 0, include_usage = r.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [endpoint, head, channel, state, want_logprobs, include_usage](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) {
          if (sink.write(s.data(), s.size())) return true;
          channel->cancel();  // the client went away
          return false;
        };
        if (!state->started) {
          state->started = true;
          if (endpoint == Endpoint::kChat && !write(sse_event(chunk_json(endpoint, head, "", true, nullptr, std::nullopt))))
            return false;
        }
        for (;;) {
          auto event = channel->pop(std::chrono::milliseconds(200));
          if (!event) {
            if (!sink.is_writable()) {
              channel->cancel();
              return false;
            }
            continue;
          }
          switch (event->kind) {
            case GenerationEvent::Kind::kText: {
              const json lp = want_logprobs ? logprobs_json(endpoint, event->logprobs, state->text_offset) : json(nullptr);
              return write(sse_event(chunk_json(endpoint, head, event->text, false, lp, std::nullopt)));
            }
            case GenerationEvent::Kind::kDone: {
              std::string out = sse_event(chunk_json(endpoint, head, "", false, nullptr, event->finish_reason));
              if (include_usage)
                out += sse_event(usage_chunk_json(endpoint, head, {event->prompt_tokens, event->completion_tokens}));
              out += kSseDone;
              if (!write(out)) return false;
              sink.done();
              return true;
            }
            case GenerationEvent::Kind::kError: {
              if (!write(sse_event(error_json(event->error)) + kSseDone)) return false;
              sink.done();
              return true;
            }
          }
        }
      },
      [channel, answering](bool) { channel->cancel(); });
}

void Server::Impl::install_routes() {
  auto guarded = [this](auto handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      if (authorized(req, res)) handler(req, res);
    };
  };
  http.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
              handle_completion(Endpoint::kChat, req, res);
            }));
  http.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
              handle_completion(Endpoint::kCompletion, req, res);
            }));
  http.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
             send_json(res, 200, {{"object", "list"}, {"data", json::array({model_object()})}});
           }));
  http.Get("/v1/models/(.+)", guarded([this](const httplib::Request& req, httplib::Response& res) {
             const std::string id = req.matches[1];
             if (id == options.model_id) return send_json(res, 200, model_object());
             send_error(res, {404, "the model '" + id + "' does not exist: this server serves '" + options.model_id + "'",
                              "invalid_request_error", "model", "model_not_found"});
           }));
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const std::string failure = scheduler->failure();
    if (!failure.empty()) return send_json(res, 503, {{"status", "error"}, {"error", failure}});
    send_json(res, 200, {{"status", "ok"}, {"model", options.model_id}, {"active", metrics.active()}, {"queued", metrics.queued()}});
  });
  http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
             res.set_content(metrics.prometheus(), "text/plain; version=0.0.4");
           }));
  // A served path asked with another method: 405 naming the one it takes.
  auto wrong_method = [](const char* allowed) {
    return [allowed](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allowed);
      send_error(res, {405, "method " + req.method + " is not allowed on " + req.path + " (use " + allowed + ")",
                       "invalid_request_error", "", "method_not_allowed"});
    };
  };
  auto add_wrong_methods = [&](const std::string& path, const char* allowed) {
    const std::string a = allowed;
    if (a != "GET") http.Get(path, wrong_method(allowed));
    if (a != "POST") http.Post(path, wrong_method(allowed));
    http.Put(path, wrong_method(allowed));
    http.Patch(path, wrong_method(allowed));
    http.Delete(path, wrong_method(allowed));
    http.Options(path, wrong_method(allowed));
  };
  for (const Route& r : kRoutes) add_wrong_methods(r.path, r.method);
  add_wrong_methods("/v1/models/(.+)", "GET");
  // Anything else that ends in an error status without a body (unknown paths, bodies too large,
  // malformed HTTP): OpenAI's error shape too.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP status " + std::to_string(res.status);
    std::string code;
    if (res.status == 404) {
      message = "no such endpoint: " + req.method + " " + req.path;
      code = "not_found";
    } else if (res.status == 413) {
      message = "the request body is too large";
    } else if (res.status == 400) {
      message = "malformed HTTP request";
    }
    send_json(res, res.status, error_json({res.status, message, res.status >= 500 ? "server_error" : "invalid_request_error", "", code}));
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, {500, "internal error: " + what, "server_error", "", "internal_error"});
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_label(req.path), res.status);
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

Expected<std::unique_ptr<Server>> Server::create(const Model& model, Pipeline& pipeline, ServerOptions options,
                                                 ClusterRun* cluster) {
  if (options.context < 2) return Status::error("the server needs a context of at least 2 positions");
  if (options.parallel < 1) return Status::error("--parallel must be 1 or more (got " + std::to_string(options.parallel) + ")");
  if (options.queue_limit < 0) return Status::error("the queue limit must be 0 or more");
  if (options.queue_limit == 0) options.queue_limit = 4 * options.parallel;
  if (options.model_id.empty()) options.model_id = model_id_from(model.file().path());
  auto impl = std::make_unique<Impl>(model, std::move(options));
  Impl& s = *impl;
  s.cluster = cluster;
  s.created = static_cast<int64_t>(std::time(nullptr));
  s.max_prompt_bytes = prompt_byte_limit(model.vocab(), s.options.context);
  LINGUA_ASSIGN_OR_RETURN(s.chat, ChatFormatter::create(model, s.options.chat_template, s.options.chat_template_origin));
  SchedulerOptions so;
  so.parallel = s.options.parallel;
  so.queue_limit = s.options.queue_limit;
  so.context = s.options.context;
  so.batch = s.options.batch;
  if (cluster) {
    so.after_step = [&s] {
      std::vector<DeviceTiming> devices;
      for (const DeviceEstimate& e : s.cluster->estimates()) devices.push_back({e.name, e.compute_s, e.wait_s, e.link_s});
      s.metrics.set_cluster(std::move(devices), static_cast<int64_t>(s.cluster->migrations().size()),
                            static_cast<int64_t>(s.cluster->failovers().size()));
    };
    so.after_step();  // before the scheduler's thread owns the pipeline
  }
  s.scheduler = std::make_unique<Scheduler>(model, pipeline, so, s.metrics);
  const int threads = s.options.http_threads > 0 ? s.options.http_threads : s.options.parallel + s.options.queue_limit + 8;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.http.set_read_timeout(s.options.read_timeout_s, 0);
  s.http.set_write_timeout(s.options.write_timeout_s, 0);
  s.http.set_keep_alive_timeout(5);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server take the
  // same port silently and share its requests. The socket is kept for bind() (the backlog).
  s.http.set_socket_options([&s](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    s.listen_socket = sock;
  });
  s.http.set_payload_max_length(s.options.max_body_bytes);
  s.install_routes();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Expected<int> Server::bind() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
    if (port <= 0) return Status::error("cannot listen on " + s.options.host + " (no free port)");
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    return Status::error("cannot listen on " + s.options.host + ":" + std::to_string(port) +
                         " (in use, or not an address of this machine)");
  }
  // httplib listens with a backlog of 5: many clients connecting at once would find the queue
  // full and some of their connections dropped. Listening again only changes the backlog.
  if (s.listen_socket >= 0) ::listen(s.listen_socket, SOMAXCONN);
  s.bound = true;
  return port;
}

void Server::run() {
  if (impl_->bound) impl_->http.listen_after_bind();
}

void Server::stop() {
  if (!impl_) return;
  // The scheduler first: every request still waiting or generating gets its 503, and streams
  // write it and [DONE] while the HTTP side still runs (up to 3 s), then the listener closes.
  if (impl_->scheduler) impl_->scheduler->stop();
  for (int i = 0; i < 300 && impl_->in_flight.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->http.stop();
}

const std::string& Server::model_id() const { return impl_->options.model_id; }
const ChatFormatter& Server::chat_format() const { return *impl_->chat; }
Metrics& Server::metrics() { return impl_->metrics; }

}  // namespace lingua::server

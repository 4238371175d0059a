// What the server tests share: the shipped model loaded once, a Server on a free port running in
// its own thread over an in-process pipeline, an HTTP client, SSE parsing, and `lingua generate`
// as the reference for greedy output.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_runner.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "runtime/pipeline.h"
#include "server/http_server.h"
#include "test_paths.h"

namespace lingua::testing {

inline std::string shipped_model() { return source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

// A test suite with the shipped model loaded once for all its tests (model_).
class ShippedModelSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = Model::load(shipped_model());
    ASSERT_TRUE(m) << m.error();
    model_ = std::move(*m).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static inline Model* model_ = nullptr;
};

// A server over its own in-process pipeline, serving until destroyed.
class RunningServer {
 public:
  RunningServer(const Model& model, server::ServerOptions options) {
    std::signal(SIGPIPE, SIG_IGN);
    if (options.context == 0) options.context = model.train_context();
    options.port = 0;
    pool_ = std::make_unique<ThreadPool>(2);
    ExecutorConfig config;
    config.context = options.context;
    config.max_batch = options.batch * options.parallel;  // a step: up to `batch` rows of each sequence
    pipeline_ = std::make_unique<InProcessPipeline>(model.graph(), Partition::whole(model.graph()), config, *pool_);
    auto s = server::Server::create(model, *pipeline_, options);
    if (!s) {
      error_ = s.error();
      return;
    }
    server_ = std::move(*s);
    auto port = server_->bind();
    if (!port) {
      error_ = port.error();
      return;
    }
    port_ = *port;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~RunningServer() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  const std::string& error() const { return error_; }
  server::Server& server() { return *server_; }
  httplib::Client client(int timeout_s = 60) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(timeout_s, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }

 private:
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<InProcessPipeline> pipeline_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string error_;
};

// The JSON documents of an SSE body's `data:` lines; `[DONE]` becomes the string "[DONE]".
inline std::vector<nlohmann::json> sse_documents(const std::string& body) {
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string data = body.substr(pos + 6, end == std::string::npos ? std::string::npos : end - pos - 6);
    out.push_back(data == "[DONE]" ? nlohmann::json("[DONE]") : nlohmann::json::parse(data, nullptr, false));
    if (end == std::string::npos) break;
    pos = end + 2;
  }
  return out;
}

// The text streamed chunks carry (chat deltas or completion texts).
inline std::string streamed_text(const std::vector<nlohmann::json>& docs) {
  std::string text;
  for (const auto& d : docs) {
    if (!d.is_object() || !d.contains("choices") || d["choices"].empty()) continue;
    const auto& c = d["choices"][0];
    if (c.contains("delta") && c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    if (c.contains("text")) text += c["text"].get<std::string>();
  }
  return text;
}

struct GenerateRun {
  std::string text;
  size_t tokens = 0;
  std::string stop_reason;
};
// `lingua generate --temp 0` on a prompt (extra arguments appended), as the CLI prints it in JSON.
inline GenerateRun greedy_generate(const std::string& model, const std::string& prompt, int n,
                                   const std::vector<std::string>& extra = {}) {
  std::string cmd = shell_quote(lingua_binary()) + " generate -m " + shell_quote(model) + " -p " + shell_quote(prompt) +
                    " -n " + std::to_string(n) + " --temp 0 -t 2 --json";
  for (const auto& e : extra) {
    cmd += ' ';
    cmd += shell_quote(e);
  }
  int status = 0;
  const std::string out = run_command(cmd + " 2>/dev/null", status);
  GenerateRun r;
  const auto doc = nlohmann::json::parse(out, nullptr, false);
  if (status != 0 || doc.is_discarded()) {
    ADD_FAILURE() << "lingua generate failed: " << cmd << "\n" << out;
    return r;
  }
  r.text = doc["text"];
  r.tokens = doc["tokens"].size();
  r.stop_reason = doc["stop_reason"];
  return r;
}

// A value of a Prometheus sample line "name{labels} value" ("name value" when labels is "").
inline double metric(const std::string& text, const std::string& name_and_labels) {
  const std::string key = name_and_labels + " ";
  size_t pos = 0;
  while ((pos = text.find(key, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::stod(text.substr(pos + key.size()));
    pos += key.size();
  }
  return -1;
}

}  // namespace lingua::testing

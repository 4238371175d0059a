// What `chat`, `summarize`, `sentiment` and `translate` share: the model, where it runs (this
// process, --local-devices or --devices, as `generate`), its chat format, and the TextEngine
// the tasks run on.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "apps/pipeline_text_engine.h"
#include "cli/cluster_start.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "runtime/cluster_run.h"
#include "runtime/pipeline.h"
#include "server/chat_format.h"

namespace lingua::cli {

struct TaskFlags {
  std::string model;
  std::string chat_template;  // a Jinja file to use instead of the model's template
  int64_t context = 0;
  int threads = 0;            // 0: the default
  ClusterFlags cluster;
  CLI::Option* local_devices = nullptr;
};

// -m, -c, -t, --chat-template and the device flags of `generate`.
void add_task_flags(CLI::App& app, TaskFlags& flags);

struct TaskSession {
  std::unique_ptr<Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<InProcessPipeline> in_process;
  std::unique_ptr<ClusterRun> cluster;
  std::unique_ptr<server::ChatFormatter> format;
  std::unique_ptr<apps::PipelineTextEngine> engine;
};

// Loads and starts everything; the chat format in use is said on stderr.
Expected<std::unique_ptr<TaskSession>> open_task_session(const char* command, TaskFlags& flags);

// The whole of a file ("-": standard input), or an error naming it.
Expected<std::string> read_text(const std::string& path);

}  // namespace lingua::cli

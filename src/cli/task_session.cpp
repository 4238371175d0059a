// Opening a task session: model, pipeline (in process or on devices), chat format, engine.
#include "cli/task_session.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "runtime/generator.h"

namespace lingua::cli {

void add_task_flags(CLI::App& app, TaskFlags& flags) {
  app.add_option("-m,--model", flags.model, "GGUF model file (an instruct model with a chat template)")->required();
  app.add_option("-c,--ctx-size", flags.context, "context size in tokens (0 = the model's, fitted to memory)")->capture_default_str();
  app.add_option("-t,--threads", flags.threads, "compute threads (0 = the default)");
  app.add_option("--chat-template", flags.chat_template, "Jinja chat template file to use instead of the model's");
  flags.local_devices = app.add_option("--local-devices", flags.cluster.local_devices,
                                       "split the model across K worker processes started here");
  app.add_option("--devices", flags.cluster.devices, "devices file (YAML): plan on these devices and run there");
  app.add_option("--plan", flags.cluster.plan, "with --devices/--local-devices: run the segments of this plan file");
  app.add_option("--keys", flags.cluster.keys, "the head's key directory (default $LINGUA_KEYS or ~/.config/lingua/keys)");
  app.add_flag("--insecure", flags.cluster.insecure, "plain sockets to the workers (loopback only, unless --allow-insecure-network)");
  app.add_flag("--allow-insecure-network", flags.cluster.allow_insecure_network, "allow --insecure beyond loopback");
}

Expected<std::string> read_text(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Expected<std::unique_ptr<TaskSession>> open_task_session(const char* command, TaskFlags& flags) {
  const int threads = flags.threads > 0 ? flags.threads : default_threads();
  if (auto e = check_threads(threads); !e.empty()) return Status::error(e);
  if (flags.context < 0) return Status::error("--ctx-size must be 0 (the model's) or more");
  auto session = std::make_unique<TaskSession>();
  LINGUA_ASSIGN_OR_RETURN(session->model, Model::load(flags.model));
  Model& model = *session->model;
  std::string template_source, origin;
  if (!flags.chat_template.empty()) {
    LINGUA_ASSIGN_OR_RETURN(template_source, read_text(flags.chat_template));
    if (template_source.empty()) return Status::error("the chat template file " + flags.chat_template + " is empty");
    origin = "the chat template " + flags.chat_template;
  }
  LINGUA_ASSIGN_OR_RETURN(session->format, server::ChatFormatter::create(model, template_source, origin));
  std::fprintf(stderr, "lingua %s: chat format: %s\n", command, session->format->description().c_str());

  const bool on_devices = (flags.local_devices && flags.local_devices->count() > 0) || !flags.cluster.devices.empty();
  std::vector<std::string> notes;
  LINGUA_ASSIGN_OR_RETURN(int64_t context, choose_context(model, flags.context, !on_devices, notes));
  for (const std::string& note : notes) std::fprintf(stderr, "lingua: %s\n", note.c_str());
  Pipeline* pipeline = nullptr;
  if (on_devices) {
    flags.cluster.model_path = flags.model;
    flags.cluster.local_devices_given = flags.local_devices && flags.local_devices->count() > 0;
    flags.cluster.threads = threads;
    flags.cluster.context = context;
    LINGUA_ASSIGN_OR_RETURN(session->cluster, start_cluster(model, flags.cluster));
    pipeline = session->cluster.get();
  } else {
    if (!flags.cluster.plan.empty()) return Status::error("--plan needs --devices or --local-devices");
    keep_weights_in_huge_pages(command, model);
    session->pool = std::make_unique<ThreadPool>(threads);
    ExecutorConfig config;
    config.context = context;
    session->in_process =
        std::make_unique<InProcessPipeline>(model.graph(), Partition::whole(model.graph()), config, *session->pool);
    pipeline = session->in_process.get();
  }
  const server::ChatFormatter* format = session->format.get();
  auto render = [format](const std::vector<apps::ChatTurn>& turns) -> Expected<apps::RenderedConversation> {
    nlohmann::json messages = nlohmann::json::array();
    for (const apps::ChatTurn& t : turns) messages.push_back({{"role", t.role}, {"content", t.content}});
    LINGUA_ASSIGN_OR_RETURN(server::RenderedPrompt p, format->render(messages));
    return apps::RenderedConversation{p.text, p.parse_special, p.no_bos, p.stop};
  };
  session->engine = std::make_unique<apps::PipelineTextEngine>(model, *pipeline, context, render);
  return session;
}

}  // namespace lingua::cli

// Entry point of the `lingua` command: a short guide without arguments, CLI11 subcommands,
// and the exit-code contract (0 ok, 1 user error with a one-line message).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/command.h"
#include "cli/progress.h"
#include "core/output_file.h"
#include "plan/device_profile.h"

namespace lingua::cli {

int fail(const char* command, const std::string& message) {
  std::fprintf(stderr, "lingua %s: %s\n", command, message.c_str());
  return 1;
}

void keep_weights_in_huge_pages(const char* command, Model& model) {
  if (auto moved = model.keep_in_huge_pages(0, model.graph().size() - 1); !moved)
    std::fprintf(stderr, "lingua %s: the weights stay in 4 KiB pages (%s)\n", command, moved.error().c_str());
}

std::string check_threads(int threads) {
  if (threads < 1) return "-t must be at least 1 (got " + std::to_string(threads) + ")";
  if (threads > kMaxThreads)
    return "-t " + std::to_string(threads) + " is more threads than Lingua supports (at most " +
           std::to_string(kMaxThreads) + ")";
  return "";
}

int default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(hw == 0 ? 1u : hw, 1u, 8u));
}

}  // namespace lingua::cli

namespace {
// Any command that plans may measure this machine first (10-20 s on a first run): a bar says what
// the pause is.
void show_profile_progress() {
  auto bar = std::make_shared<std::unique_ptr<lingua::cli::ProgressBar>>();
  lingua::set_profile_progress(
      {[bar](int threads, const std::string& cache_path) {
         std::fprintf(stderr, "lingua: measuring this machine's speed with %d thread(s), once (kept in %s)\n", threads,
                      cache_path.c_str());
         *bar = std::make_unique<lingua::cli::ProgressBar>("measuring", lingua::cli::ProgressBar::Unit::kSteps);
       },
       [bar](int done, int total) {
         if (!*bar) return;
         (*bar)->update(static_cast<uint64_t>(done), static_cast<uint64_t>(total));
         if (done == total) {
           (*bar)->finish();
           bar->reset();
         }
       }});
}

void print_guide(const std::vector<std::unique_ptr<lingua::cli::Command>>& commands) {
  std::printf(
      "lingua: run one language model across several small devices (or fast on one).\n\n"
      "usage: lingua <command> [options]     (lingua <command> --help for its options)\n\n"
      "commands:\n");
  for (const auto& c : commands) std::printf("  %-13s %s\n", c->name(), c->summary());
  std::printf(
      "\nexample:\n  lingua generate -m models/kjv-fortunes-3M-f32.gguf -p \"And God said\" -n 64\n");
}
}  // namespace

static int run(int argc, char** argv) {
  using namespace lingua::cli;
  std::vector<std::unique_ptr<Command>> commands;
  commands.push_back(make_generate_command());
  commands.push_back(make_tokenize_command());
  commands.push_back(make_chat_template_command());
  commands.push_back(make_info_command());
  commands.push_back(make_synth_command());
  commands.push_back(make_bench_command());
  commands.push_back(make_convert_command());
  commands.push_back(make_quantize_command());
  commands.push_back(make_graph_command());
  commands.push_back(make_profile_command());
  commands.push_back(make_plan_command());
  commands.push_back(make_keygen_command());
  commands.push_back(make_worker_command());
  commands.push_back(make_devices_command());
  commands.push_back(make_serve_command());
  commands.push_back(make_chat_command());
  commands.push_back(make_summarize_command());
  commands.push_back(make_sentiment_command());
  commands.push_back(make_translate_command());

  if (argc <= 1) {
    print_guide(commands);
    return 0;
  }
  // A first word that is neither an option nor a command is most likely a typo: say which.
  if (const std::string first = argv[1]; !first.empty() && first[0] != '-') {
    bool known = false;
    std::string names;
    for (const auto& c : commands) {
      known = known || first == c->name();
      names += (names.empty() ? "" : ", ") + std::string(c->name());
    }
    if (!known) {
      std::fprintf(stderr, "lingua: unknown command '%s' (commands: %s)\n", first.c_str(), names.c_str());
      return 1;
    }
  }
  CLI::App app{"lingua: run one language model across several small devices", "lingua"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lingua 0.1.0");
  std::vector<CLI::App*> subs;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c->name(), c->summary());
    c->setup(*sub);
    subs.push_back(sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // The first word was checked above: when it names a command, the error is in its options.
    const std::string what = e.what();
    const std::string command = argc > 1 && argv[1][0] != '-' ? std::string(argv[1]) : "";
    if (command.empty())
      std::fprintf(stderr, "lingua: %s (see lingua --help)\n", what.c_str());
    else
      std::fprintf(stderr, "lingua %s: %s (see lingua %s --help)\n", command.c_str(), what.c_str(), command.c_str());
    return 1;
  }
  show_profile_progress();
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!subs[i]->parsed()) continue;
    try {
      return commands[i]->run();
    } catch (const std::bad_alloc&) {
      return fail(commands[i]->name(), "out of memory");
    } catch (const std::exception& e) {
      return fail(commands[i]->name(), std::string("internal error: ") + e.what());
    }
  }
  print_guide(commands);
  return 1;
}

// Most commands exist to print: output lost on stdout (a full disk, a closed descriptor) makes any
// run a failure, checked here once for all of them.
int main(int argc, char** argv) {
  const int rc = run(argc, argv);
  if (lingua::Status st = lingua::flush_standard_output(); !st && rc == 0) {
    if (argc > 1 && argv[1][0] != '-') return lingua::cli::fail(argv[1], st.message());
    std::fprintf(stderr, "lingua: %s\n", st.message().c_str());
    return 1;
  }
  return rc;
}

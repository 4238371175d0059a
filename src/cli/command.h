// The shape of a `lingua` subcommand: it declares its flags on a CLI11 subcommand, then runs.
// Commands are thin: parse, call a library, print. User errors print one line and return 1.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"

namespace lingua::cli {

class Command {
 public:
  virtual ~Command() = default;
  virtual const char* name() const = 0;
  virtual const char* summary() const = 0;
  virtual void setup(CLI::App& app) = 0;
  virtual int run() = 0;
};

std::unique_ptr<Command> make_generate_command();
std::unique_ptr<Command> make_tokenize_command();
std::unique_ptr<Command> make_chat_template_command();
std::unique_ptr<Command> make_info_command();
std::unique_ptr<Command> make_synth_command();
std::unique_ptr<Command> make_bench_command();
std::unique_ptr<Command> make_convert_command();
std::unique_ptr<Command> make_quantize_command();
std::unique_ptr<Command> make_graph_command();
std::unique_ptr<Command> make_profile_command();
std::unique_ptr<Command> make_plan_command();
std::unique_ptr<Command> make_keygen_command();
std::unique_ptr<Command> make_worker_command();
std::unique_ptr<Command> make_devices_command();
std::unique_ptr<Command> make_serve_command();
std::unique_ptr<Command> make_chat_command();
std::unique_ptr<Command> make_summarize_command();
std::unique_ptr<Command> make_sentiment_command();
std::unique_ptr<Command> make_translate_command();

// Prints "lingua <command>: <message>" to stderr and returns exit code 1.
int fail(const char* command, const std::string& message);

// Validates -t: 1..kMaxThreads. Returns an error message or "".
constexpr int kMaxThreads = 512;
std::string check_threads(int threads);
int default_threads();

// Before decoding in this process: the weights into huge pages (Model::keep_in_huge_pages). A
// refusal only costs speed; it is said on stderr.
void keep_weights_in_huge_pages(const char* command, Model& model);

}  // namespace lingua::cli

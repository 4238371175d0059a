// `lingua translate`: a text (an argument, a file or standard input) translated into another
// language, streamed as it is written.
#include <filesystem>

#include "apps/tasks.h"
#include "cli/command.h"
#include "cli/task_session.h"

namespace lingua::cli {
namespace {

class TranslateCommand : public Command {
 public:
  const char* name() const override { return "translate"; }
  const char* summary() const override { return "translate a text into another language, streamed"; }
  void setup(CLI::App& app) override {
    app.add_option("input", input_, "the text, a file holding it, or '-' (standard input, the default)");
    app.add_option("--to", to_, "the language to translate into")->required();
    app.add_option("--from", from_, "the language of the text (default: the model tells)");
    add_task_flags(app, flags_);
  }
  int run() override {
    std::string text = input_;
    std::error_code ec;
    if (input_ == "-" || std::filesystem::is_regular_file(input_, ec)) {
      auto read = read_text(input_);
      if (!read) return fail(name(), read.error());
      text = *read;
    }
    auto session = open_task_session(name(), flags_);
    if (!session) return fail(name(), session.error());
    auto r = apps::translate(*(*session)->engine, text, to_, from_, [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    if (!r) return fail(name(), r.error());
    std::printf("\n");
    return std::fflush(stdout) == 0 ? 0 : fail(name(), "cannot write to standard output");
  }

 private:
  std::string input_ = "-", to_, from_;
  TaskFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_translate_command() { return std::make_unique<TranslateCommand>(); }

}  // namespace lingua::cli

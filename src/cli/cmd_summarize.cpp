// `lingua summarize`: a text (a file or standard input) summarized by an instruct model; longer
// than the context, it is summarized in parts and the parts' summaries combined.
#include "apps/tasks.h"
#include "cli/command.h"
#include "cli/progress.h"
#include "cli/task_session.h"

namespace lingua::cli {
namespace {

class SummarizeCommand : public Command {
 public:
  const char* name() const override { return "summarize"; }
  const char* summary() const override { return "summarize a text of any length with an instruct model"; }
  void setup(CLI::App& app) override {
    app.add_option("file", file_, "text file to summarize ('-' or nothing: standard input)");
    app.add_option("--words", options_.words, "about how many words the summary has")->capture_default_str();
    add_task_flags(app, flags_);
  }
  int run() override {
    auto text = read_text(file_);
    if (!text) return fail(name(), text.error());
    auto session = open_task_session(name(), flags_);
    if (!session) return fail(name(), session.error());
    ProgressBar bar("summarizing", ProgressBar::Unit::kSteps);
    options_.progress = [&](int done, int total) { bar.update(static_cast<uint64_t>(done), static_cast<uint64_t>(total)); };
    auto summary = apps::summarize(*(*session)->engine, *text, options_);
    bar.finish();
    if (!summary) return fail(name(), summary.error());
    std::printf("%s\n", summary->c_str());
    return std::fflush(stdout) == 0 ? 0 : fail(name(), "cannot write the summary to standard output");
  }

 private:
  std::string file_ = "-";
  apps::SummarizeOptions options_;
  TaskFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_summarize_command() { return std::make_unique<SummarizeCommand>(); }

}  // namespace lingua::cli

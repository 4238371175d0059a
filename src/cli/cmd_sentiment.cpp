// `lingua sentiment`: the sentiment of texts chosen by the model's probabilities of each label
// (no free text parsed); one text per argument, or a file of one text per line as a batch.
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/tasks.h"
#include "cli/command.h"
#include "cli/task_session.h"

namespace lingua::cli {
namespace {

class SentimentCommand : public Command {
 public:
  const char* name() const override { return "sentiment"; }
  const char* summary() const override { return "classify the sentiment of texts by the model's label probabilities"; }
  void setup(CLI::App& app) override {
    app.add_option("text", texts_, "texts to classify (each one argument)");
    app.add_option("--file", file_, "a file of texts, one per line ('-': standard input)");
    app.add_option("--labels", labels_, "the labels to choose from, comma-separated")->capture_default_str();
    app.add_flag("--json", json_, "one JSON object per text: text, label, probabilities");
    add_task_flags(app, flags_);
  }
  int run() override {
    std::vector<std::string> texts = texts_;
    if (!file_.empty()) {
      auto all = read_text(file_);
      if (!all) return fail(name(), all.error());
      std::istringstream lines(*all);
      for (std::string line; std::getline(lines, line);)
        if (line.find_first_not_of(" \t\r") != std::string::npos) texts.push_back(line);
    }
    if (texts.empty()) return fail(name(), "no text to classify (give texts as arguments or --file)");
    std::vector<std::string> labels;
    std::istringstream in(labels_);
    for (std::string l; std::getline(in, l, ',');) labels.push_back(l);
    auto session = open_task_session(name(), flags_);
    if (!session) return fail(name(), session.error());
    for (const std::string& text : texts) {
      auto r = apps::classify_sentiment(*(*session)->engine, text, labels);
      if (!r) return fail(name(), r.error());
      if (json_) {
        nlohmann::json p = nlohmann::json::object();
        for (const auto& [label, prob] : r->probabilities) p[label] = prob;
        std::printf("%s\n", nlohmann::json{{"text", text}, {"label", r->label}, {"probabilities", p}}.dump().c_str());
      } else {
        std::string line = r->label + "\t";
        for (const auto& [label, prob] : r->probabilities) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%s=%.3f ", label.c_str(), prob);
          line += buf;
        }
        std::printf("%s\t%s\n", line.c_str(), text.c_str());
      }
    }
    return std::fflush(stdout) == 0 ? 0 : fail(name(), "cannot write to standard output");
  }

 private:
  std::vector<std::string> texts_;
  std::string file_, labels_ = "positive,negative,neutral";
  bool json_ = false;
  TaskFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_sentiment_command() { return std::make_unique<SentimentCommand>(); }

}  // namespace lingua::cli

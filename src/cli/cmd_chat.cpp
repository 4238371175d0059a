// `lingua chat`: a conversation in the terminal with the model's chat template, answers streamed.
// /reset forgets the conversation, /system TEXT sets the system message, /exit ends. Ctrl-C stops
// the answer being written (at the prompt it ends the program).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>

#include "cli/command.h"
#include "cli/task_session.h"

namespace lingua::cli {
namespace {

std::atomic<bool> g_answering{false};
std::atomic<bool> g_interrupted{false};

void on_interrupt(int) {
  if (g_answering.load()) {
    g_interrupted.store(true);
    return;
  }
  const char nl = '\n';
  (void)!::write(STDERR_FILENO, &nl, 1);
  ::_exit(130);
}

class ChatCommand : public Command {
 public:
  const char* name() const override { return "chat"; }
  const char* summary() const override { return "talk with an instruct model in the terminal"; }
  void setup(CLI::App& app) override {
    app.add_option("--system", system_, "the system message to start with");
    app.add_option("-n,--max-tokens", answer_.max_tokens, "the longest answer in tokens")->capture_default_str();
    app.add_option("--temp", answer_.temperature, "sampling temperature (0: greedy)")->capture_default_str();
    app.add_option("--seed", answer_.seed, "sampling seed")->capture_default_str();
    add_task_flags(app, flags_);
  }
  int run() override {
    if (answer_.max_tokens < 1) return fail(name(), "--max-tokens must be at least 1");
    if (answer_.temperature < 0) return fail(name(), "--temp must be 0 or more");
    auto session = open_task_session(name(), flags_);
    if (!session) return fail(name(), session.error());
    apps::TextEngine& engine = *(*session)->engine;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    const bool interactive = ::isatty(STDIN_FILENO) != 0;
    if (interactive)
      std::fprintf(stderr, "lingua chat: /reset forgets, /system TEXT sets the system message, /exit ends; "
                           "Ctrl-C stops an answer\n");
    std::vector<apps::ChatTurn> turns;
    auto reset = [&] {
      turns.clear();
      if (!system_.empty()) turns.push_back({"system", system_});
    };
    reset();
    answer_.should_stop = [] { return g_interrupted.load(); };
    for (std::string line;;) {
      if (interactive) std::fprintf(stderr, "> ");
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        reset();
        std::fprintf(stderr, "(the conversation is forgotten)\n");
        continue;
      }
      if (line.rfind("/system", 0) == 0) {
        system_ = line.size() > 8 ? line.substr(8) : "";
        reset();
        std::fprintf(stderr, "(new system message; the conversation is forgotten)\n");
        continue;
      }
      turns.push_back({"user", line});
      g_interrupted = false;
      g_answering = true;
      auto reply = engine.answer(turns, answer_, [](const std::string& piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      });
      g_answering = false;
      std::printf("\n");
      std::fflush(stdout);
      if (!reply) {
        turns.pop_back();
        std::fprintf(stderr, "lingua chat: %s\n", reply.error().c_str());
        if ((*session)->cluster) return 1;  // a lost device the run could not recover from
        continue;
      }
      if (g_interrupted) std::fprintf(stderr, "(stopped)\n");
      turns.push_back({"assistant", *reply});
    }
    return 0;
  }

 private:
  std::string system_;
  apps::AnswerOptions answer_;
  TaskFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_chat_command() { return std::make_unique<ChatCommand>(); }

}  // namespace lingua::cli

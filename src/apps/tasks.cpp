// Summarize, sentiment and translate over a TextEngine: cutting long texts to the context, the
// map-and-combine rounds of a long summary, and label probabilities from log-probabilities.
#include "apps/tasks.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "apps/task_prompts.h"

namespace lingua::apps {
namespace {

// Tokens the chat template adds around the turns (role markers, BOS, the generation prompt):
// generous for every template seen, so a prompt never overflows the context by a few.
constexpr int64_t kTemplateTokens = 64;
constexpr int kMaxCombineRounds = 12;

Expected<int64_t> prompt_tokens(TextEngine& engine, const std::vector<ChatTurn>& turns) {
  int64_t n = kTemplateTokens;
  for (const ChatTurn& t : turns) {
    LINGUA_ASSIGN_OR_RETURN(int64_t c, engine.count_tokens(t.content));
    n += c + 4;
  }
  return n;
}

// Units of `text` at one level of boundaries, each with its separator attached (so they
// concatenate back to the text). Level 0: paragraphs, 1: sentences and lines, 2: words.
std::vector<std::string> units_of(const std::string& text, int level) {
  std::vector<std::string> units;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    size_t end = std::string::npos;  // one past the unit's separator
    if (level == 0 && text.compare(i, 2, "\n\n") == 0) {
      end = i + 2;
      while (end < text.size() && text[end] == '\n') ++end;
    } else if (level == 1 && (text[i] == '\n' || ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                                                  i + 1 < text.size() && text[i + 1] == ' '))) {
      end = i + 1;
      while (end < text.size() && text[end] == ' ') ++end;
    } else if (level == 2 && text[i] == ' ') {
      end = i + 1;
      while (end < text.size() && text[end] == ' ') ++end;
    }
    if (end == std::string::npos) continue;
    units.push_back(text.substr(start, end - start));
    start = end;
    i = end - 1;
  }
  if (start < text.size()) units.push_back(text.substr(start));
  return units;
}

// The longest prefix of `text` ending at a UTF-8 character boundary within max_tokens, by
// bisection; at least the first character, so every cut makes progress.
Expected<size_t> fitting_prefix(TextEngine& engine, const std::string& text, int64_t max_tokens) {
  auto continuation = [&](size_t i) { return i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80; };
  auto boundary = [&](size_t n) {  // back to a character start
    while (n > 0 && continuation(n)) --n;
    return n;
  };
  size_t lo = 1, hi = text.size();
  while (continuation(lo)) ++lo;
  while (lo < hi) {
    const size_t mid = boundary(lo + (hi - lo + 1) / 2);
    if (mid <= lo) break;  // no character ends between lo and hi
    LINGUA_ASSIGN_OR_RETURN(int64_t n, engine.count_tokens(text.substr(0, mid)));
    if (n <= max_tokens) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

Status split_level(TextEngine& engine, const std::string& text, int64_t max_tokens, int level,
                   std::vector<std::string>& out) {
  LINGUA_ASSIGN_OR_RETURN(int64_t whole, engine.count_tokens(text));
  if (whole <= max_tokens) {
    out.push_back(text);
    return Status::ok();
  }
  if (level > 2) {  // one word longer than the budget: cut it by characters
    std::string rest = text;
    while (!rest.empty()) {
      LINGUA_ASSIGN_OR_RETURN(int64_t n, engine.count_tokens(rest));
      if (n <= max_tokens) {
        out.push_back(rest);
        break;
      }
      LINGUA_ASSIGN_OR_RETURN(size_t cut, fitting_prefix(engine, rest, max_tokens));
      out.push_back(rest.substr(0, cut));
      rest.erase(0, cut);
    }
    return Status::ok();
  }
  std::string piece;
  for (const std::string& unit : units_of(text, level)) {
    LINGUA_ASSIGN_OR_RETURN(int64_t together, engine.count_tokens(piece + unit));
    if (together <= max_tokens) {
      piece += unit;
      continue;
    }
    if (!piece.empty()) out.push_back(piece);
    piece.clear();
    LINGUA_ASSIGN_OR_RETURN(int64_t alone, engine.count_tokens(unit));
    if (alone <= max_tokens) piece = unit;
    else LINGUA_TRY(split_level(engine, unit, max_tokens, level + 1, out));
  }
  if (!piece.empty()) out.push_back(piece);
  return Status::ok();
}

std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

Expected<std::vector<std::string>> split_to_fit(TextEngine& engine, const std::string& text, int64_t max_tokens) {
  if (max_tokens < 1) return Status::error("cannot cut a text into pieces of " + std::to_string(max_tokens) + " tokens");
  std::vector<std::string> out;
  LINGUA_TRY(split_level(engine, text, max_tokens, 0, out));
  return out;
}

Expected<std::string> summarize(TextEngine& engine, const std::string& text, const SummarizeOptions& options) {
  if (trimmed(text).empty()) return Status::error("nothing to summarize: the text is empty");
  if (options.words < 1) return Status::error("--words must be at least 1");
  LINGUA_ASSIGN_OR_RETURN(int64_t overhead, prompt_tokens(engine, combine_summaries_prompt({}, options.words)));
  // An answer may take a fifth of the room at most, so that at least three summaries fit in one
  // combining prompt and every round shrinks their number.
  const int64_t room = engine.context() - overhead;
  const int64_t answer_tokens = std::min<int64_t>(2 * static_cast<int64_t>(options.words) + 32, room / 5);
  const int64_t budget = room - answer_tokens;
  if (answer_tokens < 8 || budget < 32)
    return Status::error("a context of " + std::to_string(engine.context()) + " tokens leaves no room for a text to "
                         "summarize in " + std::to_string(options.words) + " words (ask for fewer words or a larger context)");
  AnswerOptions answer;
  answer.max_tokens = answer_tokens;
  int done = 0, total = 0;
  auto call = [&](const std::vector<ChatTurn>& prompt) -> Expected<std::string> {
    if (options.progress) options.progress(done, total);
    LINGUA_ASSIGN_OR_RETURN(std::string s, engine.answer(prompt, answer));
    ++done;
    return trimmed(s);
  };

  LINGUA_ASSIGN_OR_RETURN(std::vector<std::string> parts, split_to_fit(engine, text, budget));
  total = static_cast<int>(parts.size()) + (parts.size() > 1 ? 1 : 0);
  std::vector<std::string> summaries;
  for (const std::string& part : parts) {
    LINGUA_ASSIGN_OR_RETURN(std::string s, call(summarize_prompt(part, options.words)));
    summaries.push_back(s);
  }
  for (int round = 0; summaries.size() > 1; ++round) {
    if (round == kMaxCombineRounds)
      return Status::error("the summaries did not get shorter after " + std::to_string(round) + " rounds of combining");
    // Consecutive summaries grouped to fit one prompt each.
    std::vector<std::vector<std::string>> groups(1);
    int64_t used = 0;
    for (const std::string& s : summaries) {
      LINGUA_ASSIGN_OR_RETURN(int64_t n, engine.count_tokens(s));
      if (!groups.back().empty() && used + n + 8 > budget) groups.emplace_back(), used = 0;
      groups.back().push_back(s), used += n + 8;
    }
    if (groups.size() == summaries.size())  // each alone fills a prompt: combining cannot shrink them
      return Status::error("each part's summary fills the context alone; ask for fewer words");
    total = done + static_cast<int>(groups.size()) + (groups.size() > 1 ? 1 : 0);
    std::vector<std::string> combined;
    for (const auto& g : groups) {
      if (g.size() == 1) {
        combined.push_back(g.front());
        continue;
      }
      LINGUA_ASSIGN_OR_RETURN(std::string s, call(combine_summaries_prompt(g, options.words)));
      combined.push_back(s);
    }
    summaries = std::move(combined);
  }
  if (options.progress) options.progress(done, done);
  return summaries.front();
}

std::vector<double> softmax(const std::vector<double>& logprobs) {
  std::vector<double> p(logprobs.size());
  if (logprobs.empty()) return p;
  const double top = *std::max_element(logprobs.begin(), logprobs.end());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logprobs[i] - top);
  for (double& x : p) x /= sum;
  return p;
}

Expected<SentimentResult> classify_sentiment(TextEngine& engine, const std::string& text,
                                             const std::vector<std::string>& labels) {
  if (labels.size() < 2) return Status::error("sentiment needs at least two labels to choose from");
  std::set<std::string> seen;
  for (const std::string& l : labels) {
    if (trimmed(l).empty()) return Status::error("a sentiment label is empty");
    if (!seen.insert(l).second) return Status::error("the sentiment label '" + l + "' is given twice");
  }
  if (trimmed(text).empty()) return Status::error("no text to classify");
  const std::vector<ChatTurn> prompt = sentiment_prompt(text, labels);
  LINGUA_ASSIGN_OR_RETURN(int64_t need, prompt_tokens(engine, prompt));
  if (need > engine.context())
    return Status::error("the text takes about " + std::to_string(need) + " tokens with its prompt, over the context of " +
                         std::to_string(engine.context()));
  LINGUA_ASSIGN_OR_RETURN(std::vector<double> lp, engine.answer_logprobs(prompt, labels));
  if (lp.size() != labels.size()) return Status::error("the model scored " + std::to_string(lp.size()) + " of the labels");
  const std::vector<double> p = softmax(lp);
  SentimentResult r;
  for (size_t i = 0; i < labels.size(); ++i) r.probabilities.emplace_back(labels[i], p[i]);
  r.label = labels[static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin())];
  return r;
}

Expected<std::string> translate(TextEngine& engine, const std::string& text, const std::string& to,
                                const std::string& from, const std::function<void(const std::string&)>& on_text) {
  if (trimmed(to).empty()) return Status::error("say which language to translate into (--to)");
  if (trimmed(text).empty()) return Status::error("nothing to translate: the text is empty");
  LINGUA_ASSIGN_OR_RETURN(int64_t overhead, prompt_tokens(engine, translate_prompt("", to, from)));
  // A translation takes up to about twice its source's tokens (scripts differ in tokens per word).
  const int64_t budget = (engine.context() - overhead - 32) / 3;  // source + up to 2x + 32 answer tokens
  if (budget < 16)
    return Status::error("a context of " + std::to_string(engine.context()) + " tokens leaves no room for a text to translate");
  LINGUA_ASSIGN_OR_RETURN(std::vector<std::string> pieces, split_to_fit(engine, text, budget));
  std::string out;
  for (const std::string& piece : pieces) {
    const std::string body = trimmed(piece);
    const size_t lead = piece.find(body.empty() ? std::string(" ") : body.substr(0, 1));
    const std::string before = body.empty() ? piece : piece.substr(0, lead), after = body.empty() ? "" : piece.substr(lead + body.size());
    auto emit = [&](const std::string& s) {
      out += s;
      if (on_text) on_text(s);
    };
    emit(before);
    if (!body.empty()) {
      LINGUA_ASSIGN_OR_RETURN(int64_t n, engine.count_tokens(body));
      AnswerOptions answer;
      answer.max_tokens = 2 * n + 32;
      bool started = false;  // the answer's leading blank lines are not the translation's
      auto stream = [&](const std::string& piece_of_answer) {
        std::string x = piece_of_answer;
        if (!started) {
          const size_t first = x.find_first_not_of(" \t\r\n");
          if (first == std::string::npos) return;
          x.erase(0, first);
          started = true;
        }
        emit(x);
      };
      LINGUA_TRY(engine.answer(translate_prompt(body, to, from), answer, stream).status());
    }
    emit(after);
  }
  return out;
}

}  // namespace lingua::apps

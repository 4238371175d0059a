// The seed's applications on any instruct model: summarization of texts longer than the context,
// sentiment by the model's own probabilities, and translation. Shared by the commands and the
// server's endpoints; the model behind them is a TextEngine.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "apps/text_engine.h"

namespace lingua::apps {

struct SummarizeOptions {
  int words = 100;
  // Called before each model call with (calls done, calls planned so far): chunk summaries first,
  // then the rounds that combine them.
  std::function<void(int done, int total)> progress;
};

// A text that fits the context is summarized in one call; a longer one is cut into parts at
// paragraph, then sentence, then word boundaries, each part summarized, and the summaries
// combined (again in parts while they do not fit). Errors: empty text, words < 1, a context too
// small for the prompt and an answer, a model error.
Expected<std::string> summarize(TextEngine& engine, const std::string& text, const SummarizeOptions& options);

struct SentimentResult {
  std::string label;                                      // the most probable
  std::vector<std::pair<std::string, double>> probabilities;  // every label, in the order given, summing to 1
};

// The label whose tokens the model finds most probable as its answer, with the probability of each
// label: a softmax over the labels' log-probabilities (no free text is parsed). Errors: fewer than
// two labels, an empty or repeated label, an empty text, a text over the context.
Expected<SentimentResult> classify_sentiment(TextEngine& engine, const std::string& text,
                                             const std::vector<std::string>& labels);

// Softmax of log-probabilities (the largest subtracted first, so none underflows to all zero).
std::vector<double> softmax(const std::vector<double>& logprobs);

// `text` in language `to`, streamed; a text longer than the context is translated paragraph by
// paragraph (then sentence by sentence), the pieces joined with the original's separators.
Expected<std::string> translate(TextEngine& engine, const std::string& text, const std::string& to,
                                const std::string& from, const std::function<void(const std::string&)>& on_text = {});

// Cuts `text` into consecutive pieces of at most `max_tokens` tokens each, preferring paragraph
// breaks, then sentence ends, then spaces; a single word longer than that is cut by bytes (at a
// UTF-8 character boundary). Concatenated, the pieces are `text`. Exposed for tests.
Expected<std::vector<std::string>> split_to_fit(TextEngine& engine, const std::string& text, int64_t max_tokens);

}  // namespace lingua::apps

// Every prompt the seed's tasks give a model, in one place (task_prompts.cpp), so they can be read,
// compared and changed together.
#pragma once
#include <string>
#include <vector>

#include "apps/text_engine.h"

namespace lingua::apps {

// A summary of `text` in about `words` words.
std::vector<ChatTurn> summarize_prompt(const std::string& text, int words);
// One summary of the summaries of consecutive parts of a longer text, in about `words` words.
std::vector<ChatTurn> combine_summaries_prompt(const std::vector<std::string>& summaries, int words);
// Which of `labels` describes the sentiment of `text`: the model's reply is scored, not parsed.
std::vector<ChatTurn> sentiment_prompt(const std::string& text, const std::vector<std::string>& labels);
// `text` translated into `to` (from `from`, or whatever language it is in when empty).
std::vector<ChatTurn> translate_prompt(const std::string& text, const std::string& to, const std::string& from);

}  // namespace lingua::apps

// The prompts of summarize, sentiment and translate. Plain instructions an instruct model of any
// family follows; the answer format is asked for explicitly so nothing has to be parsed.
#include "apps/task_prompts.h"

namespace lingua::apps {

std::vector<ChatTurn> summarize_prompt(const std::string& text, int words) {
  return {{"system", "You summarize texts accurately and concisely. You answer with the summary only."},
          {"user", "Summarize the following text in about " + std::to_string(words) + " words.\n\n" + text}};
}

std::vector<ChatTurn> combine_summaries_prompt(const std::vector<std::string>& summaries, int words) {
  std::string parts;
  for (size_t i = 0; i < summaries.size(); ++i)
    parts += "Part " + std::to_string(i + 1) + ": " + summaries[i] + "\n\n";
  return {{"system", "You summarize texts accurately and concisely. You answer with the summary only."},
          {"user", "These are summaries of consecutive parts of one text. Write one summary of the whole text in "
                   "about " + std::to_string(words) + " words.\n\n" + parts}};
}

std::vector<ChatTurn> sentiment_prompt(const std::string& text, const std::vector<std::string>& labels) {
  std::string options;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) options += ", ";
    options += labels[i];
  }
  return {{"system", "You classify the sentiment of texts. You answer with exactly one word from the list given."},
          {"user", "What is the sentiment of this text? Answer with one of: " + options + ".\n\nText: " + text}};
}

std::vector<ChatTurn> translate_prompt(const std::string& text, const std::string& to, const std::string& from) {
  const std::string source = from.empty() ? "" : " from " + from;
  return {{"system", "You are a translator. You answer with the translation only, keeping the meaning, tone and "
                     "formatting of the original."},
          {"user", "Translate the following text" + source + " into " + to + ".\n\n" + text}};
}

}  // namespace lingua::apps

// The tasks' own logic over a scripted engine whose token count is known (one token per 4 bytes):
// texts cut to fit and back together, long summaries in rounds that each fit the context,
// probabilities from log-probabilities, translation pieces joined with the original separators.
#include "apps/tasks.h"

#include <gtest/gtest.h>

#include <cmath>

#include "apps/task_prompts.h"

namespace lingua::apps {
namespace {

class ScriptedEngine : public TextEngine {
 public:
  explicit ScriptedEngine(int64_t context) : context_(context) {}

  Expected<std::string> answer(const std::vector<ChatTurn>& conversation, const AnswerOptions& options,
                               const std::function<void(const std::string&)>& on_text) override {
    int64_t tokens = 64;  // the tasks' template allowance
    for (const ChatTurn& t : conversation) tokens += *count_tokens(t.content) + 4;
    largest_need = std::max(largest_need, tokens + options.max_tokens);
    if (tokens + options.max_tokens > context_) return Status::error("prompt over the context");
    prompts.push_back(conversation.back().content);
    const std::string& user = conversation.back().content;
    std::string reply;
    if (user.rfind("Translate", 0) == 0) {
      reply = "\n  [" + user.substr(user.find("\n\n") + 2) + "]";  // leading blanks: the task drops them
    } else {
      reply = "summary" + std::to_string(prompts.size());
    }
    if (on_text)
      for (size_t i = 0; i < reply.size(); i += 3) on_text(reply.substr(i, 3));
    return reply;
  }
  Expected<std::vector<double>> answer_logprobs(const std::vector<ChatTurn>& conversation,
                                                const std::vector<std::string>& candidates) override {
    prompts.push_back(conversation.back().content);
    if (candidates.size() != scores.size()) return Status::error("unexpected candidates");
    return scores;
  }
  Expected<int64_t> count_tokens(const std::string& text) override {
    ++counted;
    return static_cast<int64_t>((text.size() + 3) / 4);
  }
  int64_t context() const override { return context_; }

  std::vector<std::string> prompts;
  std::vector<double> scores;
  int64_t largest_need = 0;  // prompt and longest answer of any call
  int counted = 0;

 private:
  int64_t context_;
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += x;
  return s;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

TEST(SplitToFit, PiecesFitAndJoinBackIntoTheText) {
  ScriptedEngine engine(4096);
  std::string text;
  for (int p = 0; p < 12; ++p) {
    for (int s = 0; s < 5; ++s) text += "Sentence " + std::to_string(s) + " of paragraph " + std::to_string(p) + ". ";
    text += "\n\n";
  }
  for (int64_t max : {20, 50, 120, 400}) {
    auto pieces = split_to_fit(engine, text, max);
    ASSERT_TRUE(pieces) << pieces.error();
    EXPECT_EQ(joined(*pieces), text) << max;
    for (const std::string& p : *pieces) EXPECT_LE(*engine.count_tokens(p), max) << max << ": " << p;
    if (max >= 120) {  // a paragraph (about 90 tokens) fits: pieces end at paragraph breaks
      for (const std::string& p : *pieces) EXPECT_EQ(p.substr(p.size() - 2), "\n\n") << max;
    }
    if (max == 50) {  // sentences fit, paragraphs do not: pieces end at sentence ends
      for (const std::string& p : *pieces) EXPECT_TRUE(p.back() == ' ' || p.back() == '\n') << p;
    }
  }
}

TEST(SplitToFit, AWordLongerThanThePieceIsCutAtCharacterBoundaries) {
  ScriptedEngine engine(4096);
  std::string word;
  for (int i = 0; i < 200; ++i) word += "\xC3\xA9\xE2\x82\xAC";  // é€, 5 bytes
  const std::string text = "short " + word + " end";
  auto pieces = split_to_fit(engine, text, 10);
  ASSERT_TRUE(pieces) << pieces.error();
  EXPECT_EQ(joined(*pieces), text);
  EXPECT_GT(pieces->size(), 20u);
  for (const std::string& p : *pieces) {
    EXPECT_TRUE(valid_utf8(p)) << "a piece splits a character";
    EXPECT_LE(*engine.count_tokens(p), 10);
  }
  EXPECT_FALSE(split_to_fit(engine, text, 0));
}

TEST(Summarize, AShortTextIsOneCall) {
  ScriptedEngine engine(2048);
  std::vector<std::pair<int, int>> progress;
  SummarizeOptions options;
  options.words = 50;
  options.progress = [&](int done, int total) { progress.emplace_back(done, total); };
  auto s = summarize(engine, "A short text about the weather.", options);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(*s, "summary1");
  ASSERT_EQ(engine.prompts.size(), 1u);
  EXPECT_NE(engine.prompts[0].find("about 50 words"), std::string::npos);
  EXPECT_NE(engine.prompts[0].find("A short text about the weather."), std::string::npos);
  EXPECT_EQ(progress.back(), std::make_pair(1, 1));
}

TEST(Summarize, ATextFourTimesTheContextIsSummarizedInPartsThenCombined) {
  const int64_t context = 512;
  ScriptedEngine engine(context);
  std::string text;
  while (static_cast<int64_t>(text.size()) / 4 < 4 * context)
    text += "The quick brown fox jumps over the lazy dog near the river bank. It was a sunny day.\n\n";
  std::vector<std::pair<int, int>> progress;
  SummarizeOptions options;
  options.words = 40;
  options.progress = [&](int done, int total) { progress.emplace_back(done, total); };
  auto s = summarize(engine, text, options);
  ASSERT_TRUE(s) << s.error();
  EXPECT_LE(engine.largest_need, context) << "every call fits the context with its answer";
  // Every part of the text reached the model exactly once, in order.
  std::string seen;
  size_t parts = 0;
  for (const std::string& p : engine.prompts)
    if (p.rfind("Summarize the following", 0) == 0) seen += p.substr(p.find("\n\n") + 2), ++parts;
  EXPECT_EQ(seen, text);
  EXPECT_GE(parts, 5u);
  EXPECT_GT(engine.prompts.size(), parts) << "the part summaries were combined";
  EXPECT_NE(engine.prompts.back().find("Part 1: summary1"), std::string::npos);
  EXPECT_EQ(*s, "summary" + std::to_string(engine.prompts.size()));
  // Progress only moves forward and ends complete.
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);
  EXPECT_EQ(progress.back().first, static_cast<int>(engine.prompts.size()));
  EXPECT_EQ(progress.back().first, progress.back().second);
}

TEST(Summarize, BadInputIsAnError) {
  ScriptedEngine engine(2048), tiny(100);
  EXPECT_FALSE(summarize(engine, "  \n", {}));
  SummarizeOptions zero;
  zero.words = 0;
  EXPECT_FALSE(summarize(engine, "text", zero));
  auto r = summarize(tiny, "text", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("context of 100"), std::string::npos) << r.error();
}

TEST(Sentiment, ProbabilitiesAreASoftmaxOfTheLabelsLogProbabilities) {
  ScriptedEngine engine(2048);
  engine.scores = {-1.5, -0.2, -3.0};
  auto r = classify_sentiment(engine, "What a lovely day!", {"positive", "negative", "neutral"});
  ASSERT_TRUE(r) << r.error();
  const double z = std::exp(-1.5) + std::exp(-0.2) + std::exp(-3.0);
  ASSERT_EQ(r->probabilities.size(), 3u);
  EXPECT_EQ(r->probabilities[0].first, "positive");
  EXPECT_NEAR(r->probabilities[0].second, std::exp(-1.5) / z, 1e-12);
  EXPECT_NEAR(r->probabilities[1].second, std::exp(-0.2) / z, 1e-12);
  EXPECT_NEAR(r->probabilities[2].second, std::exp(-3.0) / z, 1e-12);
  EXPECT_EQ(r->label, "negative");
  EXPECT_NE(engine.prompts[0].find("positive, negative, neutral"), std::string::npos);
  EXPECT_NE(engine.prompts[0].find("What a lovely day!"), std::string::npos);
  // Very unlikely labels do not underflow to a division by zero.
  const std::vector<double> p = softmax({-2000, -2001});
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(-1.0)), 1e-12);
}

TEST(Sentiment, BadLabelsAndTextsAreErrors) {
  ScriptedEngine engine(2048), tiny(80);
  engine.scores = {0, 0};
  EXPECT_FALSE(classify_sentiment(engine, "text", {"positive"}));
  EXPECT_FALSE(classify_sentiment(engine, "text", {"positive", "positive"}));
  EXPECT_FALSE(classify_sentiment(engine, "text", {"positive", " "}));
  EXPECT_FALSE(classify_sentiment(engine, "", {"positive", "negative"}));
  auto r = classify_sentiment(tiny, std::string(400, 'x'), {"positive", "negative"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("over the context"), std::string::npos) << r.error();
}

TEST(Translate, LongTextsAreTranslatedPieceByPieceKeepingTheSeparators) {
  ScriptedEngine engine(400);
  std::string text;
  for (int p = 0; p < 8; ++p) text += "Paragraph " + std::to_string(p) + " has a few words in it, enough to count.\n\n";
  std::string streamed;
  auto r = translate(engine, text, "French", "English", [&](const std::string& s) { streamed += s; });
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(streamed, *r) << "what is streamed is the translation";
  EXPECT_GT(engine.prompts.size(), 1u);
  for (const std::string& p : engine.prompts) EXPECT_EQ(p.rfind("Translate the following text from English into French.", 0), 0u) << p;
  // The scripted translation brackets each piece; the blank lines between stay where they were.
  EXPECT_EQ(r->front(), '[');
  EXPECT_NE(r->find("]\n\n["), std::string::npos) << *r;
  EXPECT_EQ(r->substr(r->size() - 2), "\n\n");
  EXPECT_FALSE(translate(engine, "text", "", "", {}));
  EXPECT_FALSE(translate(engine, " ", "French", "", {}));
}

TEST(TaskPrompts, NameTheirInputs) {
  EXPECT_NE(translate_prompt("hola", "English", "").back().content.find("into English"), std::string::npos);
  EXPECT_EQ(translate_prompt("hola", "English", "").back().content.find(" from "), std::string::npos);
  const auto combine = combine_summaries_prompt({"a", "b"}, 30);
  EXPECT_NE(combine.back().content.find("Part 2: b"), std::string::npos);
  EXPECT_EQ(sentiment_prompt("t", {"x", "y"}).front().role, "system");
}

}  // namespace
}  // namespace lingua::apps

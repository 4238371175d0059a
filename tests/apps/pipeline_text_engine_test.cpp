// PipelineTextEngine on the shipped model: candidate log-probabilities equal those computed
// independently from the executor's logits, answers equal `generate`'s, stop strings and
// should_stop end an answer, and a text four times the context is summarized with progress.
#include "apps/pipeline_text_engine.h"

#include <gtest/gtest.h>

#include <cmath>

#include "apps/tasks.h"
#include "graph/executor.h"
#include "test_paths.h"

namespace lingua::apps {
namespace {

// A transcript, as serve renders a model without a chat template.
Expected<RenderedConversation> transcript(const std::vector<ChatTurn>& turns) {
  RenderedConversation r;
  for (const ChatTurn& t : turns) r.text += t.role + ": " + t.content + "\n";
  r.text += "assistant:";
  r.parse_special = false;
  r.stop = {"\nuser:"};
  return r;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Model::load(testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf");
    ASSERT_TRUE(m) << m.error();
    model_ = std::move(*m);
    ExecutorConfig config;
    config.context = 256;
    pipeline_ = std::make_unique<InProcessPipeline>(model_->graph(), Partition::whole(model_->graph()), config, pool_);
    engine_ = std::make_unique<PipelineTextEngine>(*model_, *pipeline_, 256, transcript);
  }
  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  std::unique_ptr<InProcessPipeline> pipeline_;
  std::unique_ptr<PipelineTextEngine> engine_;
};

TEST_F(EngineTest, CandidateLogProbabilitiesEqualTheExecutorsLogits) {
  const std::vector<ChatTurn> turns = {{"user", "Is the light good?"}};
  const std::vector<std::string> labels = {"good", "evil", "neither good nor evil"};
  auto got = engine_->answer_logprobs(turns, labels);
  ASSERT_TRUE(got) << got.error();
  ASSERT_EQ(got->size(), labels.size());
  // Independently: one forward pass over prompt + label with every position's logits.
  const std::string prompt = transcript(turns)->text;
  TokenizeOptions popt;
  popt.add_bos = model_->vocab().add_bos;
  const std::vector<TokenId> p = *model_->tokenizer().encode(prompt, popt);
  const int64_t vocab = model_->graph().vocab_size();
  std::vector<double> want;
  for (const std::string& label : labels) {
    const std::vector<TokenId> c = *model_->tokenizer().encode(label, TokenizeOptions{});
    std::vector<TokenId> all = p;
    all.insert(all.end(), c.begin(), c.end());
    ExecutorConfig config;
    config.context = 256;
    config.max_batch = 256;
    auto ex = Executor::create(model_->graph(), config);
    ASSERT_TRUE(ex) << ex.error();
    std::vector<float> logits;
    ASSERT_TRUE(ex->forward(all.data(), static_cast<int64_t>(all.size()), 0, pool_, logits, true).is_ok());
    double lp = 0;
    for (size_t k = 0; k < c.size(); ++k) {
      const float* row = logits.data() + static_cast<int64_t>(p.size() - 1 + k) * vocab;
      double z = 0;
      for (int64_t i = 0; i < vocab; ++i) z += std::exp(static_cast<double>(row[i]));
      lp += row[c[k]] - std::log(z);
    }
    want.push_back(lp);
  }
  for (size_t i = 0; i < labels.size(); ++i) EXPECT_NEAR((*got)[i], want[i], 1e-3) << labels[i];
  EXPECT_LT((*got)[2], (*got)[0]) << "a longer label multiplies more probabilities below 1";
  // And classify_sentiment's probabilities are the softmax of exactly these.
  auto r = classify_sentiment(*engine_, "The light is good", {"good", "evil"});
  ASSERT_TRUE(r) << r.error();
  auto lp = engine_->answer_logprobs({{"system", "x"}}, {"good"});  // the engine keeps no state between calls
  ASSERT_TRUE(lp);
  const double sum = r->probabilities[0].second + r->probabilities[1].second;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_EQ(pipeline_->active_sequences(), 0) << "scoring sequences are ended";
}

TEST_F(EngineTest, AnswersEqualGenerateAndStopWhereAsked) {
  const std::vector<ChatTurn> turns = {{"user", "And God said"}};
  AnswerOptions options;
  options.max_tokens = 40;
  std::string streamed;
  auto a = engine_->answer(turns, options, [&](const std::string& s) { streamed += s; });
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(streamed, *a);
  Generator gen(*model_, 2);
  GenerateOptions g;
  g.n_predict = 40;
  g.sampling.temperature = 0;
  g.context = 256;
  auto ref = gen.generate(transcript(turns)->text, g);
  ASSERT_TRUE(ref) << ref.error();
  const size_t cut = ref->text.find("\nuser:");
  EXPECT_EQ(*a, ref->text.substr(0, cut)) << "the answer is generate's text up to the transcript's next turn";
  // should_stop ends the answer after the token it is asked at.
  int asked = 0;
  options.should_stop = [&] { return ++asked == 3; };
  auto stopped = engine_->answer(turns, options);
  ASSERT_TRUE(stopped) << stopped.error();
  EXPECT_EQ(engine_->last_answer_tokens(), 3);
  EXPECT_EQ(ref->text.rfind(*stopped, 0), 0u) << "the first three tokens of the same answer";
}

TEST_F(EngineTest, ATextFourTimesTheContextIsSummarizedWithProgress) {
  std::string text;
  while (*engine_->count_tokens(text) < 4 * engine_->context())
    text += "And God said, Let there be light: and there was light. And God saw the light, that it was good.\n\n";
  SummarizeOptions options;
  options.words = 12;
  int last_done = -1, last_total = 0, calls = 0;
  options.progress = [&](int done, int total) {
    EXPECT_GE(done, last_done);
    last_done = done, last_total = total, ++calls;
  };
  auto s = summarize(*engine_, text, options);
  ASSERT_TRUE(s) << s.error();
  EXPECT_GE(calls, 5) << "four contexts of text take several parts and a combining call";
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(pipeline_->active_sequences(), 0);
}

}  // namespace
}  // namespace lingua::apps

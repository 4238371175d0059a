// Text generation on one model: tokenize, evaluate the prompt in batches, then sample token by
// token, streaming text as it completes. Runs the graph through the one executor path
// (a partition of one segment unless asked otherwise).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/partition.h"
#include "graph/segmented_executor.h"
#include "model/model.h"
#include "model/sampler.h"
#include "runtime/pipeline.h"

namespace lingua {

struct GenerateOptions {
  int n_predict = 128;          // tokens to generate
  SamplerConfig sampling;
  int64_t context = 0;          // KV positions; 0 = the model's training context
  int64_t batch = 64;           // prompt tokens per forward pass
  bool ignore_eos = false;      // keep going past end-of-text (goldens do)
  bool truncate_prompt = false; // drop the oldest prompt tokens instead of failing when too long
  bool parse_special = false;   // "<s>" in the prompt text is the control token
  bool no_bos = false;          // the prompt carries its own BOS (a rendered chat template)
  bool keep_all_logits = false; // record logits at every position (tests, tools)
  // Asked after each token: true ends the answer there ("stopped"), e.g. Ctrl-C in `lingua chat`.
  std::function<bool()> should_stop;
  // In-process segmentation (tests, debugging): a new segment starts at each op id of `split`,
  // or `segments` > 1 cuts into that many cost-balanced segments. Neither: one segment.
  std::vector<int> split;
  int segments = 0;
  // Where the forward passes run: nullptr = in this process (split/segments apply), otherwise
  // e.g. a RemotePipeline over workers that already hold their segments.
  Pipeline* pipeline = nullptr;
};

// The partition `options` asks for on `graph` (see GenerateOptions::split and ::segments).
Expected<Partition> partition_for(const Graph& graph, const std::vector<int>& split, int segments);

// The KV positions a run on `model` gets: `requested` when > 0 (with a warning in `notes` when it
// is beyond the context the model was trained with), otherwise the model's default context
// (Model::train_context; a note says when the file claims more) made smaller, and said so, when
// `fit_this_machine` and its KV cache would take more than half the `available` memory (0: the
// machine's MemAvailable): the cache is refused when the whole context cannot fit, and a
// requested context that cannot is the error here, before anything is built.
Expected<int64_t> choose_context(const Model& model, int64_t requested, bool fit_this_machine,
                                 std::vector<std::string>& notes, uint64_t available = 0);

struct GenerateResult {
  std::vector<TokenId> prompt_tokens;
  std::vector<TokenId> tokens;     // generated
  std::string text;                // generated text
  std::string stop_reason;         // "length", "eos", "context", "stopped"
  // Decode steps: one per forward pass after the prompt's (sampling a token, then its pass), so a
  // run of n tokens has n-1 (the first comes from the prompt's pass, the last needs none).
  // gen_ms is their sum: forward passes over gen_ms is the decode rate.
  double prompt_ms = 0, gen_ms = 0;
  std::vector<double> per_token_ms;
  std::vector<std::vector<float>> logits;  // when keep_all_logits: one row per evaluated position
  int segments = 1;                        // segments the graph ran as
};

class Generator {
 public:
  Generator(const Model& model, int threads);

  // on_text receives each newly completed piece of UTF-8 text (may be empty-free; never split a
  // character). Errors: invalid UTF-8 prompt, prompt too long, bad options.
  Expected<GenerateResult> generate(const std::string& prompt, const GenerateOptions& options,
                                    const std::function<void(const std::string&)>& on_text = {});

  ThreadPool& pool() { return pool_; }

 private:
  const Model& model_;
  ThreadPool pool_;
};

}  // namespace lingua

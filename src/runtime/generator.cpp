// Generator: prompt batching, the sampling loop, stop conditions and timings.
#include "runtime/generator.h"

#include "core/system_memory.h"
#include "graph/cost_model.h"
#include "graph/kv_cache.h"
#include "plan/units.h"

#include <algorithm>
#include <chrono>

namespace lingua {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Generator::Generator(const Model& model, int threads) : model_(model), pool_(threads) {}

Expected<GenerateResult> Generator::generate(const std::string& prompt, const GenerateOptions& options,
                                             const std::function<void(const std::string&)>& on_text) {
  if (options.n_predict < 0) return Status::error("the number of tokens to generate (-n) must be 0 or more");
  LINGUA_TRY(validate(options.sampling));
  const Vocab& vocab = model_.vocab();
  TokenizeOptions topt;
  topt.add_bos = vocab.add_bos && vocab.bos >= 0 && !options.no_bos;
  topt.parse_special = options.parse_special;
  auto encoded = model_.tokenizer().encode(prompt, topt);
  if (!encoded) return encoded.status().with_context("prompt");

  GenerateResult result;
  result.prompt_tokens = std::move(*encoded);
  const int64_t context = options.context > 0 ? options.context : model_.train_context();
  if (result.prompt_tokens.empty()) return Status::error("the prompt gives no tokens and the model has no BOS token");
  if (static_cast<int64_t>(result.prompt_tokens.size()) >= context) {
    if (!options.truncate_prompt)
      return Status::error("the prompt is " + std::to_string(result.prompt_tokens.size()) +
                           " tokens, the context holds " + std::to_string(context) +
                           " (use a shorter prompt, a larger --ctx-size, or --truncate)");
    const int64_t keep = std::max<int64_t>(1, context - std::max(1, options.n_predict));
    auto& pt = result.prompt_tokens;
    const bool had_bos = (topt.add_bos || options.no_bos) && pt.front() == vocab.bos;
    pt.erase(pt.begin() + (had_bos ? 1 : 0), pt.end() - (keep - (had_bos ? 1 : 0)));
  }

  ExecutorConfig config;
  config.context = context;
  config.max_batch = std::max<int64_t>(1, options.batch);
  std::vector<float> logits;
  std::unique_ptr<InProcessPipeline> in_process;
  Pipeline* pipeline = options.pipeline;
  if (!pipeline) {
    LINGUA_ASSIGN_OR_RETURN(Partition partition, partition_for(model_.graph(), options.split, options.segments));
    result.segments = partition.size();
    in_process = std::make_unique<InProcessPipeline>(model_.graph(), std::move(partition), config, pool_);
    pipeline = in_process.get();
  } else {
    result.segments = pipeline->devices();
  }
  constexpr uint64_t kSequence = 1;
  // One forward pass; its logits land in `logits`.
  auto forward = [&](const int32_t* tokens, int64_t n, int64_t pos, bool want) -> Status {
    LINGUA_TRY(pipeline->submit(kSequence, tokens, n, pos, want, options.keep_all_logits));
    if (!want) return Status::ok();
    LINGUA_ASSIGN_OR_RETURN(StepLogits answer, pipeline->next());
    logits = std::move(answer.logits);
    return Status::ok();
  };
  Sampler sampler(options.sampling);
  for (TokenId t : result.prompt_tokens) sampler.accept(t);

  const int32_t n_vocab = static_cast<int32_t>(model_.graph().vocab_size());
  auto keep_rows = [&](int64_t rows) {
    if (!options.keep_all_logits) return;
    for (int64_t r = 0; r < rows; ++r)
      result.logits.emplace_back(logits.begin() + r * n_vocab, logits.begin() + (r + 1) * n_vocab);
  };

  // Prompt, in batches; only the last batch's last row of logits matters for sampling.
  auto t0 = std::chrono::steady_clock::now();
  const auto n_prompt = static_cast<int64_t>(result.prompt_tokens.size());
  for (int64_t pos = 0; pos < n_prompt; pos += config.max_batch) {
    const int64_t n = std::min(config.max_batch, n_prompt - pos);
    const bool last_batch = pos + n >= n_prompt;
    LINGUA_TRY(forward(result.prompt_tokens.data() + pos, n, pos, last_batch || options.keep_all_logits));
    keep_rows(n);
  }
  result.prompt_ms = ms_since(t0);
  const float* last = logits.data() + (options.keep_all_logits ? logits.size() - static_cast<size_t>(n_vocab) : 0);

  Utf8Streamer streamer;
  TokenId previous = result.prompt_tokens.back();
  int64_t pos = n_prompt;
  result.stop_reason = "length";
  for (int i = 0; i < options.n_predict; ++i) {
    auto t_step = std::chrono::steady_clock::now();
    const TokenId next = sampler.sample(last, n_vocab);
    sampler.accept(next);
    if (!options.ignore_eos && vocab.is_eog(next)) {
      result.stop_reason = "eos";
      break;
    }
    result.tokens.push_back(next);
    const std::string piece = streamer.push(model_.tokenizer().piece_bytes(next, previous));
    result.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    previous = next;
    if (i + 1 == options.n_predict) break;  // the last token needs no forward pass
    if (options.should_stop && options.should_stop()) {
      result.stop_reason = "stopped";
      break;
    }
    if (pos >= context) {
      result.stop_reason = "context";
      break;
    }
    LINGUA_TRY(forward(&next, 1, pos, true));
    keep_rows(1);
    last = logits.data();
    ++pos;
    result.per_token_ms.push_back(ms_since(t_step));
    result.gen_ms += result.per_token_ms.back();
  }
  const std::string rest = streamer.flush();
  result.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  LINGUA_TRY(pipeline->end_sequence(kSequence));
  return result;
}

Expected<int64_t> choose_context(const Model& model, int64_t requested, bool fit_this_machine,
                                 std::vector<std::string>& notes, uint64_t available) {
  if (available == 0 && fit_this_machine) available = available_memory_bytes();
  const std::vector<KVLayer> kv_layers = KVCache::layers_of(model.graph());
  const int64_t trained = model.file_context();
  if (requested > 0) {
    if (fit_this_machine) LINGUA_TRY(KVCache::check_fits(kv_layers, requested, available));
    if (requested > trained)
      notes.push_back("warning: --ctx-size " + std::to_string(requested) + " is beyond the " + std::to_string(trained) +
                      " positions the model was trained with; text past them may be poor");
    return requested;
  }
  int64_t context = model.train_context();
  if (context < trained)
    notes.push_back("the model claims a context of " + std::to_string(trained) + " positions: using " +
                    std::to_string(context) + " (--ctx-size for another)");
  // The cache is refused when the whole context would not fit; a default that large would make
  // every run fail, so it shrinks to what leaves half the memory for everything else.
  // Sliding-window layers stop growing at their window, so the fit is searched, not divided.
  const uint64_t budget = available / 2;
  if (!fit_this_machine || available == 0 || KVCache::bytes_for(kv_layers, context) <= budget) return context;
  int64_t smaller = 1;
  while (smaller * 2 < context && KVCache::bytes_for(kv_layers, smaller * 2) <= budget) smaller *= 2;
  notes.push_back("a context of " + std::to_string(context) + " positions needs a KV cache of " +
                  format_bytes(KVCache::bytes_for(kv_layers, context)) + ", and " + format_bytes(available) +
                  " of memory is available: using " + std::to_string(smaller) + " (--ctx-size for another)");
  return smaller;
}

Expected<Partition> partition_for(const Graph& graph, const std::vector<int>& split, int segments) {
  if (!split.empty() && segments > 1) return Status::error("give either --split or --segments, not both");
  if (!split.empty()) return Partition::from_starts(graph, split);
  if (segments > 1)
    return Partition::balanced(graph, predicted_decode_seconds(op_costs(graph), default_compute_rates()), segments);
  if (segments < 0) return Status::error("--segments must be 1 or more");
  return Partition::whole(graph);
}

}  // namespace lingua

// Token selection. The stage order and the draw are fixed and documented in sampler.h because
// reproducibility (same seed, same text) is what users and tests rely on.
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace lingua {
namespace {

std::string show(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Most likely first; equal logits go to the lower id so results never depend on sort internals.
bool more_likely(TokenId a_id, float a, TokenId b_id, float b) {
  return a > b || (a == b && a_id < b_id);
}

}  // namespace

Status validate(const SamplerConfig& c) {
  if (!std::isfinite(c.temperature) || c.temperature < 0) {
    return Status::error("temperature must be >= 0 (0 means greedy), got " + show(c.temperature));
  }
  if (c.top_k < 0) {
    return Status::error("top_k must be >= 0 (0 keeps every token), got " + std::to_string(c.top_k));
  }
  if (!(c.top_p > 0 && c.top_p <= 1)) {
    return Status::error("top_p must be in (0, 1] (1 keeps every token), got " + show(c.top_p));
  }
  if (!(c.min_p >= 0 && c.min_p <= 1)) {
    return Status::error("min_p must be in [0, 1] (0 keeps every token), got " + show(c.min_p));
  }
  if (!std::isfinite(c.repeat_penalty) || c.repeat_penalty <= 0) {
    return Status::error("repeat_penalty must be > 0 (1 turns it off), got " + show(c.repeat_penalty));
  }
  if (c.repeat_last_n < 0) {
    return Status::error("repeat_last_n must be >= 0, got " + std::to_string(c.repeat_last_n));
  }
  return Status::ok();
}

Sampler::Sampler(SamplerConfig config) : config_(config), rng_(config.seed) {}

void Sampler::accept(TokenId id) {
  if (config_.repeat_last_n <= 0) return;
  history_.push_back(id);
  while (history_.size() > static_cast<size_t>(config_.repeat_last_n)) history_.pop_front();
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(config_.seed);
}

void Sampler::apply_penalty(std::vector<Candidate>& candidates) const {
  const float penalty = config_.repeat_penalty;
  if (penalty == 1.0f || !(penalty > 0) || history_.empty()) return;
  // A token repeated five times is penalised once, as in llama.cpp.
  std::vector<TokenId> seen(history_.begin(), history_.end());
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  for (TokenId id : seen) {
    if (id < 0 || static_cast<size_t>(id) >= candidates.size()) continue;
    float& logit = candidates[id].logit;
    logit = logit > 0 ? logit / penalty : logit * penalty;
  }
}

TokenId Sampler::sample(const float* logits, int32_t n_vocab) {
  if (n_vocab <= 0 || logits == nullptr) return -1;
  auto& cand = candidates_;
  cand.resize(static_cast<size_t>(n_vocab));
  for (int32_t i = 0; i < n_vocab; ++i) {
    // NaN would break the orderings below; a NaN logit is treated as "never".
    const float l = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
    cand[i] = {i, l, 0.0f};
  }
  apply_penalty(cand);

  if (!(config_.temperature > 0)) {
    size_t best = 0;
    for (size_t i = 1; i < cand.size(); ++i) {
      if (cand[i].logit > cand[best].logit) best = i;  // strict: ties keep the lower id
    }
    return cand[best].id;
  }

  auto order = [](const Candidate& a, const Candidate& b) {
    return more_likely(a.id, a.logit, b.id, b.logit);
  };
  const size_t k = config_.top_k > 0 ? std::min<size_t>(config_.top_k, cand.size()) : cand.size();
  std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(k), cand.end(), order);
  cand.resize(k);

  const float max_logit = cand[0].logit;
  if (!std::isfinite(max_logit)) return cand[0].id;  // nothing to weigh against
  double sum = 0;
  for (Candidate& c : cand) {
    c.p = std::exp((c.logit - max_logit) / config_.temperature);
    sum += c.p;
  }
  for (Candidate& c : cand) c.p = static_cast<float>(c.p / sum);

  if (config_.top_p < 1.0f) {
    double cumulative = 0;
    size_t keep = 0;
    while (keep < cand.size()) {
      cumulative += cand[keep].p;
      ++keep;
      if (cumulative >= config_.top_p) break;
    }
    cand.resize(keep);
  }

  if (config_.min_p > 0) {
    const float threshold = config_.min_p * cand[0].p;
    size_t keep = 1;
    while (keep < cand.size() && cand[keep].p >= threshold) ++keep;
    cand.resize(keep);
  }

  double total = 0;
  for (const Candidate& c : cand) total += c.p;
  // 53 random bits make a double in [0, 1) without std::uniform_real_distribution, whose
  // algorithm differs between standard libraries.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0;
  for (const Candidate& c : cand) {
    cumulative += c.p;
    if (u < cumulative) return c.id;
  }
  return cand.back().id;  // rounding left u at the very top
}

}  // namespace lingua

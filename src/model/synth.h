// Random-weight models of any shape and type, with a working SentencePiece vocabulary, for tests
// and benchmarks when no real model of that shape is at hand (`lingua synth`). llama.cpp loads
// what this writes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "core/status.h"

namespace lingua {

struct SynthSpec {
  std::string arch = "llama";
  int64_t dim = 256, layers = 4, heads = 8, kv_heads = 4, ffn = 768, vocab = 512, ctx = 2048;
  float rope_base = 10000.0f;
  bool tied_output = false;
  DType type = DType::F32;   // of the 2-D matrices; norms stay f32
  uint64_t seed = 1;
  std::string name;          // general.name
};

// Fills the shape fields from a preset name ("tinyllama-1.1b", "llama-3.2-1b"); error lists them.
Status apply_synth_preset(const std::string& preset, SynthSpec& spec);
std::string synth_presets();

// Checks the shape (positive sizes, heads divide dim, block-aligned widths for the type).
Status validate(const SynthSpec& spec);

// progress(bytes_done, bytes_total) is called as tensors are written.
Status write_synth_model(const SynthSpec& spec, const std::string& path,
                         const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace lingua

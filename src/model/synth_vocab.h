// The synthetic SentencePiece vocabulary written by `lingua synth`: specials, 256 byte tokens,
// then pieces of growing length whose scores make every piece reachable by merges.
#pragma once
#include <cstdint>

#include "model/vocab.h"

namespace lingua {

constexpr int64_t kMinSynthVocab = 3 + 256 + 1;

// A Vocab (model "llama") of exactly `size` tokens (size >= kMinSynthVocab).
Vocab make_synth_vocab(int64_t size);

}  // namespace lingua

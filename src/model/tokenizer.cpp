// The model-independent half of Tokenizer: choosing the implementation for a vocabulary and
// decoding whole sequences, so callers never name a concrete tokenizer.
#include "model/tokenizer.h"

#include "model/tokenizer_bpe.h"
#include "model/tokenizer_spm.h"

namespace lingua {

Expected<std::unique_ptr<Tokenizer>> Tokenizer::create(Vocab vocab) {
  if (vocab.model == "llama") return SpmTokenizer::create(std::move(vocab));
  if (vocab.model == "gpt2") return BpeTokenizer::create(std::move(vocab));
  return Status::error("unsupported tokenizer model '" + vocab.model +
                       "' (tokenizer.ggml.model); supported: llama, gpt2");
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool render_special) const {
  std::string out;
  TokenId previous = -1;
  for (TokenId id : ids) {
    out += piece_bytes(id, previous, render_special);
    previous = id;
  }
  return out;
}

}  // namespace lingua

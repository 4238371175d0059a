// Import of llama2.c checkpoints (run.c's float32 .bin and its tokenizer .bin) as llama GGUF
// files, so the TinyStories-class models trained with llama2.c run here without Python tools.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "model/vocab.h"

namespace lingua {

inline constexpr size_t kLlama2cHeaderBytes = 7 * sizeof(int32_t);

// The checkpoint header, validated. `vocab` is the absolute vocabulary size; the sign it had in
// the file is kept in `shared_classifier` (positive: the output layer reuses the embedding).
struct Llama2cConfig {
  int64_t dim = 0, hidden_dim = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0, seq_len = 0;
  bool shared_classifier = true;

  int64_t head_size() const { return dim / heads; }
  int64_t kv_dim() const { return head_size() * kv_heads; }
  uint64_t file_bytes() const;  // header + every tensor run.c reads or skips
  std::string describe() const;
};

// Parses the header of a checkpoint of `size` bytes and checks that the file holds exactly the
// tensors the header implies: a truncated or oversized file is an error naming both sizes.
Expected<Llama2cConfig> parse_llama2c_header(const uint8_t* data, size_t size, const std::string& name);

// Parses a llama2.c tokenizer into the GGUF view of a SentencePiece vocabulary (pieces with
// U+2581 for spaces, token types, bos 1 / eos 2 / unk 0). It must hold exactly `vocab_size` entries.
Expected<Vocab> parse_llama2c_tokenizer(const uint8_t* data, size_t size, int64_t vocab_size,
                                        const std::string& name);

// Writes `out_path` as an F32 llama GGUF. A shared classifier is written as no output.weight
// (the llama graph falls back to token_embd.weight), keeping the tie and the file size.
// progress(done, total) is called in bytes of tensor data.
Status convert_llama2c(const std::string& model_path, const std::string& tokenizer_path,
                       const std::string& out_path,
                       const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace lingua

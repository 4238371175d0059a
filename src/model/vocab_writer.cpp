// Writes a Vocab back as GGUF keys, with the key names and value types llama.cpp reads (ids u32,
// types i32, scores f32), so its files and ours are interchangeable.
#include "model/vocab_writer.h"

#include <utility>
#include <vector>

namespace lingua {

void set_vocab_keys(gguf::Writer& w, const Vocab& v, const std::string& chat_template) {
  using gguf::Value;
  using gguf::ValueType;
  w.set("tokenizer.ggml.model", Value::str(v.model));
  if (!v.pre.empty()) w.set("tokenizer.ggml.pre", Value::str(v.pre));

  std::vector<Value> tokens, types;
  tokens.reserve(v.pieces.size());
  types.reserve(v.pieces.size());
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    tokens.push_back(Value::str(v.pieces[i]));
    const TokenType t = i < v.types.size() ? v.types[i] : TokenType::NORMAL;
    types.push_back(Value::i32(static_cast<int32_t>(t)));
  }
  w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, std::move(types)));
  if (v.model == "llama") {
    std::vector<Value> scores;
    scores.reserve(v.pieces.size());
    for (size_t i = 0; i < v.pieces.size(); ++i) scores.push_back(Value::f32(i < v.scores.size() ? v.scores[i] : 0.0f));
    w.set("tokenizer.ggml.scores", Value::array(ValueType::FLOAT32, std::move(scores)));
  }
  if (!v.merges.empty()) {
    std::vector<Value> merges;
    merges.reserve(v.merges.size());
    for (const std::string& m : v.merges) merges.push_back(Value::str(m));
    w.set("tokenizer.ggml.merges", Value::array(ValueType::STRING, std::move(merges)));
  }

  const std::pair<const char*, TokenId> ids[] = {
      {"tokenizer.ggml.bos_token_id", v.bos},     {"tokenizer.ggml.eos_token_id", v.eos},
      {"tokenizer.ggml.unknown_token_id", v.unk}, {"tokenizer.ggml.padding_token_id", v.pad},
      {"tokenizer.ggml.eot_token_id", v.eot},     {"tokenizer.ggml.eom_token_id", v.eom},
  };
  for (const auto& [key, id] : ids) {
    if (id >= 0) w.set(key, Value::u32(static_cast<uint32_t>(id)));
  }
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(v.add_bos));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(v.add_eos));
  if (v.model == "llama") w.set("tokenizer.ggml.add_space_prefix", Value::boolean(v.add_space_prefix));
  if (!v.normalizer.empty()) w.set("tokenizer.lingua.normalizer", Value::str(v.normalizer));
  if (!chat_template.empty()) w.set("tokenizer.chat_template", Value::str(chat_template));
}

}  // namespace lingua

// Reads a vocabulary from GGUF tokenizer.ggml.* metadata, checking that the parallel arrays agree
// and the special ids exist, so tokenizers can index without further checks.
#include "model/vocab.h"

#include <algorithm>

#include "model/gguf.h"

namespace lingua {
namespace {

using gguf::Value;
using gguf::ValueType;

constexpr const char* kModel = "tokenizer.ggml.model";
constexpr const char* kPre = "tokenizer.ggml.pre";
constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kScores = "tokenizer.ggml.scores";
constexpr const char* kTypes = "tokenizer.ggml.token_type";
constexpr const char* kMerges = "tokenizer.ggml.merges";
constexpr const char* kNormalizer = "tokenizer.lingua.normalizer";

// Texts of end-of-turn tokens, the ones llama.cpp (src/llama-vocab.cpp) looks for when a file
// names no eot token. The first one present becomes eot.
constexpr const char* kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"};  // DeepSeek
// Every text that ends generation wherever it appears in a vocabulary: ends of turn and of text,
// and the fill-in-the-middle pad, repository and file-separator tokens (both peers end there).
constexpr const char* kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>",
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
    "<|file_sep|>"};

class Reader {
 public:
  explicit Reader(const gguf::File& file) : file_(file) {}

  Status error(const std::string& key, const std::string& problem) const {
    return Status::error(file_.path() + ": " + key + " " + problem);
  }

  // The array stored under `key`, or nullptr when absent; an error when present but not an array
  // whose elements satisfy `accept`.
  Expected<const gguf::Array*> array(const std::string& key, bool (*accept)(ValueType),
                                     const char* wanted) const {
    const Value* v = file_.find(key);
    if (!v) return static_cast<const gguf::Array*>(nullptr);
    const gguf::Array* a = v->as_array();
    if (!a)
      return error(key, std::string("must be an array of ") + wanted + ", but it is a " +
                            gguf::value_type_name(v->type));
    if (!accept(a->element_type))
      return error(key, std::string("must be an array of ") + wanted + ", but it is an array of " +
                            gguf::value_type_name(a->element_type));
    return a;
  }

  Status same_length(const std::string& key, const gguf::Array* a, size_t n) const {
    if (a && a->items.size() != n)
      return error(key, "has " + std::to_string(a->items.size()) + " entries, but there are " +
                            std::to_string(n) + " tokens");
    return Status::ok();
  }

  Status special_id(const std::string& key, size_t vocab_size, TokenId& out) const {
    const Value* v = file_.find(key);
    if (!v) return Status::ok();
    // Converters write u32 0xFFFFFFFF (-1 as i32) for "no such token" (stories260K.gguf does).
    if (auto as_signed = v->as_i64(); as_signed && *as_signed == -1) return Status::ok();
    auto id = v->as_u64();
    if (!id) return error(key, "must be a token id: " + id.error());
    if (*id == UINT32_MAX) return Status::ok();
    if (*id >= vocab_size)
      return error(key, "is " + std::to_string(*id) + ", but the vocabulary has only " +
                            std::to_string(vocab_size) + " tokens");
    out = static_cast<TokenId>(*id);
    return Status::ok();
  }

  Status flag(const std::string& key, bool& out) const {
    const Value* v = file_.find(key);
    if (!v) return Status::ok();
    auto b = v->as_bool();
    if (!b) return error(key, "must be a bool: " + b.error());
    out = *b;
    return Status::ok();
  }

 private:
  const gguf::File& file_;
};

bool is_string(ValueType t) { return t == ValueType::STRING; }
bool is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }
bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

}  // namespace

Expected<Vocab> Vocab::from_gguf(const gguf::File& file) {
  const Reader r(file);
  Vocab v;

  const Value* model = file.find(kModel);
  if (!model) return r.error(kModel, "is missing: the file has no tokenizer");
  auto model_name = model->as_string();
  if (!model_name) return r.error(kModel, "must be a string: " + model_name.error());
  v.model = *model_name;

  if (const Value* pre = file.find(kPre)) {
    auto s = pre->as_string();
    if (!s) return r.error(kPre, "must be a string: " + s.error());
    v.pre = *s;
  }

  LINGUA_ASSIGN_OR_RETURN(const gguf::Array* tokens, r.array(kTokens, is_string, "strings"));
  if (!tokens) return r.error(kTokens, "is missing: the file has no vocabulary");
  if (tokens->items.empty()) return r.error(kTokens, "is empty");
  // Token ids are int32 everywhere (and in llama.cpp's API).
  if (tokens->items.size() > static_cast<size_t>(INT32_MAX)) return r.error(kTokens, "has too many tokens");
  const size_t n = tokens->items.size();
  v.pieces.reserve(n);
  for (const Value& t : tokens->items) {
    const std::string* piece = std::get_if<std::string>(&t.data);
    if (!piece) return r.error(kTokens, "holds a non-string entry");
    v.pieces.push_back(*piece);
  }

  LINGUA_ASSIGN_OR_RETURN(const gguf::Array* scores, r.array(kScores, is_float, "f32"));
  LINGUA_TRY(r.same_length(kScores, scores, n));
  v.scores.assign(n, 0.0f);
  if (scores) {
    for (size_t i = 0; i < n; ++i) {
      auto score = scores->items[i].as_f64();
      if (!score) return r.error(kScores, "entry " + std::to_string(i) + ": " + score.error());
      v.scores[i] = static_cast<float>(*score);
    }
  }

  LINGUA_ASSIGN_OR_RETURN(const gguf::Array* types, r.array(kTypes, is_integer, "i32"));
  LINGUA_TRY(r.same_length(kTypes, types, n));
  v.types.assign(n, TokenType::NORMAL);
  if (types) {
    for (size_t i = 0; i < n; ++i) {
      auto t = types->items[i].as_i64();
      if (!t || *t < 0 || *t > static_cast<int64_t>(TokenType::BYTE))
        return r.error(kTypes, "entry " + std::to_string(i) + " is " + types->items[i].to_display() +
                                   ", not a known token type (0 to 6)");
      v.types[i] = static_cast<TokenType>(*t);
    }
  }

  LINGUA_ASSIGN_OR_RETURN(const gguf::Array* merges, r.array(kMerges, is_string, "strings"));
  if (merges) {
    v.merges.reserve(merges->items.size());
    for (const Value& m : merges->items) {
      const std::string* merge = std::get_if<std::string>(&m.data);
      if (!merge) return r.error(kMerges, "holds a non-string entry");
      v.merges.push_back(*merge);
    }
  }

  LINGUA_TRY(r.special_id("tokenizer.ggml.bos_token_id", n, v.bos));
  LINGUA_TRY(r.special_id("tokenizer.ggml.eos_token_id", n, v.eos));
  LINGUA_TRY(r.special_id("tokenizer.ggml.unknown_token_id", n, v.unk));
  LINGUA_TRY(r.special_id("tokenizer.ggml.padding_token_id", n, v.pad));
  LINGUA_TRY(r.special_id("tokenizer.ggml.eot_token_id", n, v.eot));
  LINGUA_TRY(r.special_id("tokenizer.ggml.eom_token_id", n, v.eom));

  // When the flags are absent, use the defaults llama.cpp applies per tokenizer family, so a file
  // tokenizes the same here as there.
  v.add_space_prefix = v.model == "llama";
  // llama.cpp turns BOS on for the Llama 3 pre-tokenizer family unless the file says otherwise.
  const bool llama3_pre = v.model == "gpt2" && (v.pre == "llama3" || v.pre == "llama-v3" ||
                                                v.pre == "llama-bpe" || v.pre == "falcon3");
  v.add_bos = v.model == "llama" || v.model == "bert" || llama3_pre;
  v.add_eos = v.model == "t5";
  LINGUA_TRY(r.flag("tokenizer.ggml.add_bos_token", v.add_bos));
  LINGUA_TRY(r.flag("tokenizer.ggml.add_eos_token", v.add_eos));
  LINGUA_TRY(r.flag("tokenizer.ggml.add_space_prefix", v.add_space_prefix));

  // Qwen 2 and 3 normalise to NFC (their tokenizer.json says so; llama.cpp skips it).
  v.normalizer = v.model == "gpt2" && v.pre == "qwen2" ? "nfc" : "";
  if (const Value* norm = file.find(kNormalizer)) {
    auto s = norm->as_string();
    if (!s) return r.error(kNormalizer, "must be a string: " + s.error());
    if (!s->empty() && *s != "nfc") return r.error(kNormalizer, "is '" + *s + "'; supported: nfc, or empty for none");
    v.normalizer = *s;
  }
  v.find_end_of_generation();
  return v;
}

bool Vocab::is_eog(TokenId id) const {
  if (id < 0) return false;
  return id == eos || id == eot || id == eom || std::binary_search(eog.begin(), eog.end(), id);
}

void Vocab::find_end_of_generation() {
  auto find_text = [&](std::string_view text) -> TokenId {
    for (TokenId id = 0; id < size(); ++id)
      if (pieces[static_cast<size_t>(id)] == text) return id;
    return -1;
  };
  if (eot < 0) {
    for (const char* text : kEndOfTurnTexts) {
      if (eot = find_text(text); eot >= 0) break;
    }
  }
  if (eom < 0) eom = find_text("<|eom_id|>");
  eog.clear();
  for (TokenId id : {eos, eot, eom})
    if (id >= 0) eog.push_back(id);
  for (const char* text : kEndOfGenerationTexts) {
    if (const TokenId id = find_text(text); id >= 0) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  // llama.cpp makes every end-of-generation text a control token, whatever the file says.
  if (!types.empty()) {
    for (const char* text : kEndOfGenerationTexts) {
      if (const TokenId id = find_text(text); id >= 0) types[static_cast<size_t>(id)] = TokenType::CONTROL;
    }
  }
}

Status Vocab::validate() const {
  const size_t n = pieces.size();
  if (!scores.empty() && scores.size() != n)
    return Status::error("vocabulary has " + std::to_string(n) + " pieces but " + std::to_string(scores.size()) +
                         " scores");
  if (!types.empty() && types.size() != n)
    return Status::error("vocabulary has " + std::to_string(n) + " pieces but " + std::to_string(types.size()) +
                         " token types");
  for (auto [name, id] : {std::pair<const char*, TokenId>{"bos", bos}, {"eos", eos}, {"unk", unk}, {"pad", pad},
                                                                 {"eot", eot}, {"eom", eom}}) {
    if (id < -1 || id >= static_cast<TokenId>(n))
      return Status::error(std::string(name) + " token id " + std::to_string(id) + " is outside the vocabulary of " +
                           std::to_string(n));
  }
  return Status::ok();
}

}  // namespace lingua

// llama2.c checkpoint and tokenizer readers, and their conversion to a llama GGUF that the llama
// graph builder loads with no special cases (same tensor names and keys as write_synth_model).
#include "model/llama2c.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/mapped_file.h"
#include "model/gguf.h"

namespace lingua {

namespace {

// Bounds that no llama2.c-sized model comes near, but that keep every size computation below far
// from overflow and reject garbage headers (a random file, a GGUF) with a clear message.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxHidden = 1 << 18;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxVocab = 1 << 20;
constexpr int64_t kMaxSeqLen = 1 << 20;
// Ids run.c and SentencePiece reserve; the tokenizer's own text for them is replaced.
constexpr TokenId kUnk = 0, kBos = 1, kEos = 2;

uint32_t read_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float read_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

// "<0xNN>": SentencePiece's byte-fallback pieces, stored the same way in both formats.
bool is_byte_piece(const std::string& s) {
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && is_hex(s[3]) && is_hex(s[4]) && s[5] == '>';
}

// llama2.c's exporter turned SentencePiece's U+2581 into plain spaces; GGUF keeps U+2581.
std::string to_sentencepiece(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == ' ')
      out.append("\xE2\x96\x81");
    else
      out.push_back(c);
  }
  return out;
}

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }
uint64_t u64(int64_t v) { return static_cast<uint64_t>(v); }

struct TensorPlan {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: innermost first
  uint64_t source;             // byte offset in the checkpoint
};

// Where each tensor sits in the checkpoint (run.c order) and under which GGUF name it goes.
std::vector<TensorPlan> plan_tensors(const Llama2cConfig& c) {
  const uint64_t dim = u64(c.dim), hidden = u64(c.hidden_dim), layers = u64(c.layers);
  const uint64_t kv_dim = u64(c.kv_dim()), vocab = u64(c.vocab), f = sizeof(float);
  uint64_t at = kLlama2cHeaderBytes;
  // Each per-layer array in the checkpoint holds all layers back to back; returns its start.
  auto section = [&](uint64_t elements_per_layer, uint64_t count) {
    const uint64_t start = at;
    at += elements_per_layer * count * f;
    return start;
  };
  const uint64_t embedding = section(vocab * dim, 1);
  const uint64_t rms_att = section(dim, layers);
  const uint64_t wq = section(dim * dim, layers);
  const uint64_t wk = section(kv_dim * dim, layers);
  const uint64_t wv = section(kv_dim * dim, layers);
  const uint64_t wo = section(dim * dim, layers);
  const uint64_t rms_ffn = section(dim, layers);
  const uint64_t w1 = section(hidden * dim, layers);
  const uint64_t w2 = section(dim * hidden, layers);
  const uint64_t w3 = section(hidden * dim, layers);
  const uint64_t rms_final = section(dim, 1);
  section(u64(c.seq_len) * u64(c.head_size()), 1);  // freq_cis_real and _imag: RoPE is recomputed
  const uint64_t wcls = section(vocab * dim, 1);

  // Rows of a llama2.c matrix are output features, as in GGUF, so every matrix is copied as is.
  // run.c's RoPE rotates adjacent pairs like the llama builder, so wq/wk need no permutation.
  std::vector<TensorPlan> plan;
  plan.push_back({"token_embd.weight", {dim, vocab}, embedding});
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    plan.push_back({p + "attn_norm.weight", {dim}, rms_att + l * dim * f});
    plan.push_back({p + "attn_q.weight", {dim, dim}, wq + l * dim * dim * f});
    plan.push_back({p + "attn_k.weight", {dim, kv_dim}, wk + l * kv_dim * dim * f});
    plan.push_back({p + "attn_v.weight", {dim, kv_dim}, wv + l * kv_dim * dim * f});
    plan.push_back({p + "attn_output.weight", {dim, dim}, wo + l * dim * dim * f});
    plan.push_back({p + "ffn_norm.weight", {dim}, rms_ffn + l * dim * f});
    plan.push_back({p + "ffn_gate.weight", {dim, hidden}, w1 + l * hidden * dim * f});
    plan.push_back({p + "ffn_down.weight", {hidden, dim}, w2 + l * dim * hidden * f});
    plan.push_back({p + "ffn_up.weight", {dim, hidden}, w3 + l * hidden * dim * f});
  }
  plan.push_back({"output_norm.weight", {dim}, rms_final});
  if (!c.shared_classifier) plan.push_back({"output.weight", {dim, vocab}, wcls});
  return plan;
}

}  // namespace

uint64_t Llama2cConfig::file_bytes() const {
  const uint64_t d = u64(dim), hidden = u64(hidden_dim), kv = u64(kv_dim());
  const uint64_t per_layer = 2 * d + 2 * d * d + 2 * kv * d + 3 * hidden * d;
  uint64_t floats = u64(vocab) * d + u64(layers) * per_layer + d + u64(seq_len) * u64(head_size());
  if (!shared_classifier) floats += u64(vocab) * d;
  return kLlama2cHeaderBytes + floats * sizeof(float);
}

std::string Llama2cConfig::describe() const {
  return "dim " + std::to_string(dim) + ", hidden " + std::to_string(hidden_dim) + ", " + std::to_string(layers) +
         " layers, " + std::to_string(heads) + "/" + std::to_string(kv_heads) + " heads, vocab " +
         std::to_string(vocab) + (shared_classifier ? " (shared classifier)" : " (separate classifier)") +
         ", seq_len " + std::to_string(seq_len);
}

Expected<Llama2cConfig> parse_llama2c_header(const uint8_t* data, size_t size, const std::string& name) {
  const std::string where = "llama2.c checkpoint '" + name + "'";
  if (size < kLlama2cHeaderBytes)
    return Status::error(where + " is " + std::to_string(size) + " bytes, shorter than its " +
                         std::to_string(kLlama2cHeaderBytes) + "-byte header");
  if (std::memcmp(data, "GGUF", 4) == 0)
    return Status::error(where + " is already a GGUF file; use it directly with -m");
  int64_t h[7];
  for (size_t i = 0; i < 7; ++i) h[i] = read_i32(data + i * 4);
  Llama2cConfig c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.layers = h[2];
  c.heads = h[3];
  c.kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab = h[5] < 0 ? -h[5] : h[5];  // int64, so INT32_MIN cannot overflow
  c.seq_len = h[6];

  auto check = [&](const char* field, int64_t v, int64_t min, int64_t max) -> Status {
    if (v >= min && v <= max) return Status::ok();
    return Status::error(where + ": header field " + field + " is " + std::to_string(v) + ", expected " +
                         std::to_string(min) + ".." + std::to_string(max) + " (not a llama2.c checkpoint?)");
  };
  LINGUA_TRY(check("dim", c.dim, 1, kMaxDim));
  LINGUA_TRY(check("hidden_dim", c.hidden_dim, 1, kMaxHidden));
  LINGUA_TRY(check("n_layers", c.layers, 1, kMaxLayers));
  LINGUA_TRY(check("n_heads", c.heads, 1, kMaxHeads));
  LINGUA_TRY(check("n_kv_heads", c.kv_heads, 1, kMaxHeads));
  // Ids 0..2 are <unk>, <s>, </s> in every llama2.c vocabulary.
  LINGUA_TRY(check("vocab_size (absolute value)", c.vocab, 3, kMaxVocab));
  LINGUA_TRY(check("seq_len", c.seq_len, 1, kMaxSeqLen));
  if (c.dim % c.heads != 0)
    return Status::error(where + ": dim " + std::to_string(c.dim) + " is not a multiple of n_heads " +
                         std::to_string(c.heads));
  if (c.heads % c.kv_heads != 0)
    return Status::error(where + ": n_heads " + std::to_string(c.heads) + " is not a multiple of n_kv_heads " +
                         std::to_string(c.kv_heads));
  if (c.head_size() % 2 != 0)
    return Status::error(where + ": head size " + std::to_string(c.head_size()) + " is odd; RoPE needs pairs");

  const uint64_t expected = c.file_bytes();
  if (size != expected)
    return Status::error(where + " is " + std::to_string(size) + " bytes but its header (" + c.describe() +
                         ") implies " + std::to_string(expected) + " bytes" +
                         (size < expected ? ": the file is truncated" : ": the file has extra bytes"));
  return c;
}

Expected<Vocab> parse_llama2c_tokenizer(const uint8_t* data, size_t size, int64_t vocab_size,
                                        const std::string& name) {
  const std::string where = "llama2.c tokenizer '" + name + "'";
  if (size < 4) return Status::error(where + " is " + std::to_string(size) + " bytes, too short for a tokenizer");
  // max_token_length (the first u32) sizes a buffer in run.c; nothing here needs it.
  Vocab v;
  v.model = "llama";
  v.pre = "default";
  v.bos = kBos;
  v.eos = kEos;
  v.unk = kUnk;
  size_t at = 4;
  while (at < size) {
    const size_t start = at;
    auto entry = [&] { return "entry " + std::to_string(v.pieces.size()) + " at byte " + std::to_string(start); };
    if (size - at < 8)
      return Status::error(where + " is truncated: " + entry() + " needs 8 header bytes, " +
                           std::to_string(size - at) + " remain");
    const float score = read_f32(data + at);
    const uint32_t len = read_u32(data + at + 4);
    at += 8;
    if (len > size - at)
      return Status::error(where + " is truncated: " + entry() + " claims " + std::to_string(len) + " bytes, " +
                           std::to_string(size - at) + " remain");
    if (!std::isfinite(score)) return Status::error(where + ": " + entry() + " has a non-finite score");
    std::string text(reinterpret_cast<const char*>(data + at), len);
    at += len;

    const TokenId id = static_cast<TokenId>(v.pieces.size());
    TokenType type = TokenType::NORMAL;
    // llama2.c stores <s> and </s> as "\n<s>\n" and "\n</s>\n" (its decoder's rendering); GGUF
    // vocabularies, and tokenizers that parse special tokens, expect the SentencePiece names.
    if (id == kUnk) {
      text = "<unk>";
      type = TokenType::UNKNOWN;
    } else if (id == kBos) {
      text = "<s>";
      type = TokenType::CONTROL;
    } else if (id == kEos) {
      text = "</s>";
      type = TokenType::CONTROL;
    } else if (text.empty()) {
      type = TokenType::CONTROL;  // an empty piece can never be produced by tokenizing text
    } else if (is_byte_piece(text)) {
      type = TokenType::BYTE;
    } else {
      text = to_sentencepiece(text);
    }
    v.pieces.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
    if (static_cast<int64_t>(v.pieces.size()) > kMaxVocab)
      return Status::error(where + " holds more than " + std::to_string(kMaxVocab) + " tokens");
  }
  if (static_cast<int64_t>(v.pieces.size()) != vocab_size)
    return Status::error(where + " holds " + std::to_string(v.pieces.size()) + " tokens but the model's vocab_size is " +
                         std::to_string(vocab_size) + " (wrong tokenizer for this checkpoint?)");
  return v;
}

Status convert_llama2c(const std::string& model_path, const std::string& tokenizer_path, const std::string& out_path,
                       const std::function<void(uint64_t, uint64_t)>& progress) {
  LINGUA_ASSIGN_OR_RETURN(MappedFile model, MappedFile::open(model_path));
  LINGUA_ASSIGN_OR_RETURN(const Llama2cConfig c, parse_llama2c_header(model.data(), model.size(), model_path));
  LINGUA_ASSIGN_OR_RETURN(MappedFile tok_file, MappedFile::open(tokenizer_path));
  LINGUA_ASSIGN_OR_RETURN(const Vocab vocab,
                          parse_llama2c_tokenizer(tok_file.data(), tok_file.size(), c.vocab, tokenizer_path));

  gguf::Writer w;
  using gguf::Value;
  w.set("general.architecture", Value::str("llama"));
  std::string stem = std::filesystem::path(model_path).stem().string();
  w.set("general.name", Value::str(stem.empty() ? "llama2c" : stem));
  w.set("general.file_type", Value::u32(0));  // all F32, as trained
  // llama2.c trains and runs with positions 0..seq_len-1 only; RoPE base 10000 is run.c's constant.
  w.set("llama.context_length", Value::u32(u32(c.seq_len)));
  w.set("llama.embedding_length", Value::u32(u32(c.dim)));
  w.set("llama.block_count", Value::u32(u32(c.layers)));
  w.set("llama.feed_forward_length", Value::u32(u32(c.hidden_dim)));
  w.set("llama.rope.dimension_count", Value::u32(u32(c.head_size())));
  w.set("llama.attention.head_count", Value::u32(u32(c.heads)));
  w.set("llama.attention.head_count_kv", Value::u32(u32(c.kv_heads)));
  w.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
  w.set("llama.rope.freq_base", Value::f32(10000.0f));
  w.set("llama.vocab_size", Value::u32(u32(c.vocab)));

  std::vector<Value> tokens, scores, types;
  for (size_t i = 0; i < vocab.pieces.size(); ++i) {
    tokens.push_back(Value::str(vocab.pieces[i]));
    scores.push_back(Value::f32(vocab.scores[i]));
    types.push_back(Value::i32(static_cast<int32_t>(vocab.types[i])));
  }
  w.set("tokenizer.ggml.model", Value::str(vocab.model));
  w.set("tokenizer.ggml.pre", Value::str(vocab.pre));
  w.set("tokenizer.ggml.tokens", Value::array(gguf::ValueType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.scores", Value::array(gguf::ValueType::FLOAT32, std::move(scores)));
  w.set("tokenizer.ggml.token_type", Value::array(gguf::ValueType::INT32, std::move(types)));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(static_cast<uint32_t>(vocab.bos)));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(static_cast<uint32_t>(vocab.eos)));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(static_cast<uint32_t>(vocab.unk)));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(false));

  const std::vector<TensorPlan> plan = plan_tensors(c);
  uint64_t total = 0;
  for (const auto& t : plan) {
    LINGUA_TRY(w.add_tensor(t.name, DType::F32, t.dims));
    uint64_t elements = 1;
    for (uint64_t d : t.dims) elements *= d;
    total += elements * sizeof(float);
  }
  uint64_t done = 0;
  auto fill = [&](size_t index, uint8_t* dst, uint64_t bytes) -> Status {
    const TensorPlan& t = plan[index];
    // The header check made the file exactly as long as the plan; this guards the plan itself.
    if (t.source > model.size() || bytes > model.size() - t.source)
      return Status::error("internal error: tensor " + t.name + " lies outside '" + model_path + "'");
    std::memcpy(dst, model.data() + t.source, bytes);
    done += bytes;
    if (progress) progress(done, total);
    return Status::ok();
  };
  return w.write(out_path, fill);
}

}  // namespace lingua

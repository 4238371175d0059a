// llama2.c import: the real stories260K checkpoint must convert to a GGUF that generates the golden
// greedy tokens and equals llama.cpp's conversion; built checkpoints cover layouts and bad inputs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "model/gguf.h"
#include "model/llama2c.h"
#include "model/model.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

fs::path scratch(const std::string& file) {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("lingua-llama2c-test-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return dir / (std::string(info->name()) + "-" + file);
}

void write_file(const fs::path& p, const Bytes& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <class T>
void put(Bytes& b, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  b.insert(b.end(), raw, raw + sizeof(T));
}

// A small checkpoint whose every float is distinct and deterministic, so a misplaced tensor shows.
struct TinyCheckpoint {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 300, seq_len = 16;
  bool shared = true;

  int32_t header_field(int i) const {
    const int32_t h[7] = {dim, hidden, layers, heads, kv_heads, shared ? vocab : -vocab, seq_len};
    return h[i];
  }
  Bytes header() const {
    Bytes b;
    for (int i = 0; i < 7; ++i) put(b, header_field(i));
    return b;
  }
  size_t float_count() const {
    const auto z = [](int32_t v) { return static_cast<size_t>(v); };
    const size_t d = z(dim), h = z(hidden), kv = d / z(heads) * z(kv_heads);
    size_t n = z(vocab) * d + z(layers) * (2 * d + 2 * d * d + 2 * kv * d + 3 * h * d);
    n += d + z(seq_len) * (d / z(heads));
    if (!shared) n += z(vocab) * d;
    return n;
  }
  Bytes bytes() const {
    Bytes b = header();
    for (size_t i = 0; i < float_count(); ++i) put(b, static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 0.1));
    return b;
  }
};

// A vocabulary shaped like llama2.c's exports: specials as run.c renders them, 256 byte pieces,
// then pieces with plain spaces (where SentencePiece has U+2581).
Bytes tokenizer_bytes(int32_t vocab) {
  Bytes b;
  put(b, uint32_t{16});
  auto entry = [&](float score, const std::string& s) {
    put(b, score);
    put(b, static_cast<uint32_t>(s.size()));
    b.insert(b.end(), s.begin(), s.end());
  };
  entry(0.0f, "<unk>");
  entry(0.0f, "\n<s>\n");
  entry(0.0f, "\n</s>\n");
  for (int i = 0; i < 256 && 3 + i < vocab; ++i) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>", i);
    entry(0.0f, piece);
  }
  for (int32_t id = 259; id < vocab; ++id) entry(-static_cast<float>(id), " w" + std::to_string(id));
  return b;
}

std::string convert_error(const Bytes& model, const Bytes& tokenizer) {
  const fs::path m = scratch("model.bin"), t = scratch("tok.bin"), out = scratch("out.gguf");
  write_file(m, model);
  write_file(t, tokenizer);
  fs::remove(out);
  const Status st = convert_llama2c(m.string(), t.string(), out.string());
  EXPECT_EQ(fs::exists(out), st.is_ok()) << "a failed conversion must leave no output";
  EXPECT_EQ(st.message().find('\n'), std::string::npos) << "one line: " << st.message();
  return st.is_ok() ? "ok" : st.message();
}

const gguf::TensorInfo& tensor(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) throw std::runtime_error("missing tensor " + name);
  return *t;
}

bool same_bytes(const gguf::TensorInfo& a, const gguf::TensorInfo& b) {
  return a.dims == b.dims && a.type == b.type && a.bytes == b.bytes && std::memcmp(a.data, b.data, a.bytes) == 0;
}

std::vector<TokenId> greedy(const Model& model, int n) {
  ThreadPool pool(2);
  auto exec = Executor::create(model.graph(), ExecutorConfig{128, 8});
  EXPECT_TRUE(exec.has_value()) << exec.error();
  if (!exec) return {};
  std::vector<float> logits;
  std::vector<TokenId> out;
  TokenId tok = model.vocab().bos;
  for (int pos = 0; pos < n; ++pos) {
    const Status st = exec->forward(&tok, 1, pos, pool, logits);
    EXPECT_TRUE(st.is_ok()) << st.message();
    if (!st) break;
    tok = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(tok);
  }
  return out;
}

std::string stories_bin() { return testing::shared_model("llama2c/stories260K.bin"); }
std::string tok512() { return testing::shared_model("llama2c/tok512.bin"); }

TEST(Llama2c, Stories260KGeneratesGoldenGreedyTokens) {
  LINGUA_REQUIRE_SHARED();
  const fs::path out = scratch("stories260K.gguf");
  ASSERT_TRUE(convert_llama2c(stories_bin(), tok512(), out.string()).is_ok());
  auto model = Model::load(out.string());
  ASSERT_TRUE(model.has_value()) << model.error();
  EXPECT_EQ((*model)->train_context(), 512);

  std::ifstream in(testing::shared_model("stories260K.greedy.json"));
  const auto golden = nlohmann::json::parse(in);
  const auto expected = golden.at("generated_ids").get<std::vector<TokenId>>();
  ASSERT_GE(expected.size(), 64u);
  const std::vector<TokenId> got = greedy(**model, 64);
  EXPECT_EQ(got, std::vector<TokenId>(expected.begin(), expected.begin() + 64));
}

// llama.cpp's converter made ../shared/models/stories260K.gguf from the same weights: every
// tensor must match byte for byte (its output.weight is a copy of the tied embedding, which this
// converter leaves out), and so must the vocabulary.
TEST(Llama2c, Stories260KMatchesReferenceGguf) {
  LINGUA_REQUIRE_SHARED();
  const fs::path out = scratch("stories260K.gguf");
  ASSERT_TRUE(convert_llama2c(stories_bin(), tok512(), out.string()).is_ok());
  auto ours = gguf::File::open(out.string());
  auto ref = gguf::File::open(testing::shared_model("stories260K.gguf"));
  ASSERT_TRUE(ours.has_value()) << ours.error();
  ASSERT_TRUE(ref.has_value()) << ref.error();

  EXPECT_EQ(ours->find_tensor("output.weight"), nullptr);
  EXPECT_EQ(ours->tensors().size() + 1, ref->tensors().size());
  for (const auto& t : ref->tensors()) {
    const std::string name = t.name == "output.weight" ? "token_embd.weight" : t.name;
    EXPECT_TRUE(same_bytes(tensor(*ours, name), t)) << t.name;
  }
  for (const char* key : {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                          "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count"})
    EXPECT_EQ(ours->get_u64(key).value(), ref->get_u64(key).value()) << key;
  EXPECT_EQ(ours->get_u64("llama.context_length").value(), 512u);  // seq_len, not llama.cpp's default

  auto a = Vocab::from_gguf(*ours), b = Vocab::from_gguf(*ref);
  ASSERT_TRUE(a.has_value()) << a.error();
  ASSERT_TRUE(b.has_value()) << b.error();
  EXPECT_EQ(a->model, b->model);
  EXPECT_EQ(a->pieces, b->pieces);
  EXPECT_EQ(a->scores, b->scores);
  EXPECT_EQ(a->types, b->types);
  EXPECT_EQ(a->bos, b->bos);
  EXPECT_EQ(a->eos, b->eos);
  EXPECT_EQ(a->unk, b->unk);
}

// Karpathy's Llama-2 tokenizer export must give back the Llama-2 SentencePiece vocabulary
// llama.cpp ships as a GGUF: pieces (U+2581 restored), types and scores.
TEST(Llama2c, Llama2TokenizerMatchesLlamaSpmVocab) {
  LINGUA_REQUIRE_SHARED();
  const Bytes tok = read_file(testing::shared_model("llama2c/tokenizer.bin"));
  auto ours = parse_llama2c_tokenizer(tok.data(), tok.size(), 32000, "tokenizer.bin");
  ASSERT_TRUE(ours.has_value()) << ours.error();
  auto f = gguf::File::open(testing::shared_model("vocab/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(f.has_value()) << f.error();
  auto ref = Vocab::from_gguf(*f);
  ASSERT_TRUE(ref.has_value()) << ref.error();
  EXPECT_EQ(ours->pieces, ref->pieces);
  EXPECT_EQ(ours->types, ref->types);
  EXPECT_EQ(ours->scores, ref->scores);
}

TEST(Llama2c, SeparateClassifierIsWrittenAsOutput) {
  TinyCheckpoint ck;
  ck.shared = false;
  const Bytes model = ck.bytes();
  const fs::path m = scratch("model.bin"), t = scratch("tok.bin"), out = scratch("out.gguf");
  write_file(m, model);
  write_file(t, tokenizer_bytes(ck.vocab));
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  const Status st = convert_llama2c(m.string(), t.string(), out.string(),
                                    [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().first, calls.back().second);
  EXPECT_EQ(calls.back().second, (model.size() - kLlama2cHeaderBytes) - 4u * 16u * 4u);  // less freq_cis

  auto f = gguf::File::open(out.string());
  ASSERT_TRUE(f.has_value()) << f.error();
  const auto floats = [&](size_t float_index) { return model.data() + kLlama2cHeaderBytes + float_index * 4; };
  const size_t d = 8, h = 12, kv = 4, v = 300;
  const auto& emb = tensor(*f, "token_embd.weight");
  EXPECT_EQ(emb.dims, (std::vector<uint64_t>{d, v}));
  EXPECT_EQ(std::memcmp(emb.data, floats(0), emb.bytes), 0);
  const auto& cls = tensor(*f, "output.weight");
  EXPECT_EQ(cls.dims, (std::vector<uint64_t>{d, v}));
  EXPECT_EQ(std::memcmp(cls.data, model.data() + model.size() - cls.bytes, cls.bytes), 0);
  EXPECT_NE(std::memcmp(cls.data, emb.data, cls.bytes), 0);
  // Layer 1's wk follows all of rms_att, all of wq and layer 0's wk.
  const auto& wk1 = tensor(*f, "blk.1.attn_k.weight");
  EXPECT_EQ(wk1.dims, (std::vector<uint64_t>{d, kv}));
  EXPECT_EQ(std::memcmp(wk1.data, floats(v * d + 2 * d + 2 * d * d + kv * d), wk1.bytes), 0);
  const auto& down0 = tensor(*f, "blk.0.ffn_down.weight");
  EXPECT_EQ(down0.dims, (std::vector<uint64_t>{h, d}));
  EXPECT_EQ(f->get_u64("llama.context_length").value(), 16u);
  EXPECT_EQ(f->get_u64("llama.rope.dimension_count").value(), 4u);
  EXPECT_EQ(f->get_u64("llama.attention.head_count_kv").value(), 1u);

  auto loaded = Model::load(out.string());
  ASSERT_TRUE(loaded.has_value()) << loaded.error();
  const Vocab& vocab = (*loaded)->vocab();
  EXPECT_EQ(vocab.pieces[1], "<s>");
  EXPECT_EQ(vocab.pieces[2], "</s>");
  EXPECT_EQ(vocab.types[0], TokenType::UNKNOWN);
  EXPECT_EQ(vocab.types[2], TokenType::CONTROL);
  EXPECT_EQ(vocab.pieces[3 + 0x41], "<0x41>");
  EXPECT_EQ(vocab.types[3 + 0x41], TokenType::BYTE);
  EXPECT_EQ(vocab.pieces[260], "\xE2\x96\x81w260");
  EXPECT_EQ(vocab.types[260], TokenType::NORMAL);
  EXPECT_EQ(greedy(**loaded, 3).size(), 3u);
}

TEST(Llama2c, SharedClassifierWritesNoOutputTensor) {
  TinyCheckpoint ck;
  const fs::path m = scratch("model.bin"), t = scratch("tok.bin"), out = scratch("out.gguf");
  write_file(m, ck.bytes());
  write_file(t, tokenizer_bytes(ck.vocab));
  ASSERT_TRUE(convert_llama2c(m.string(), t.string(), out.string()).is_ok());
  auto loaded = Model::load(out.string());
  ASSERT_TRUE(loaded.has_value()) << loaded.error();
  EXPECT_EQ((*loaded)->file().find_tensor("output.weight"), nullptr);
  EXPECT_EQ((*loaded)->file().tensors().size(), 2u + 9u * 2u);
  EXPECT_EQ(greedy(**loaded, 3).size(), 3u);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Llama2c, SizeMismatchNamesBothSizes) {
  TinyCheckpoint ck;
  Bytes model = ck.bytes();
  const std::string expected = std::to_string(model.size());
  const Bytes tok = tokenizer_bytes(ck.vocab);

  Bytes cut(model.begin(), model.end() - 1);
  std::string e = convert_error(cut, tok);
  EXPECT_TRUE(contains(e, "truncated") && contains(e, expected) && contains(e, std::to_string(cut.size()))) << e;

  Bytes longer = model;
  put(longer, 1.0f);
  e = convert_error(longer, tok);
  EXPECT_TRUE(contains(e, "extra bytes") && contains(e, expected) && contains(e, std::to_string(longer.size()))) << e;

  // A separate-classifier header over a shared-classifier body is short by one vocab x dim matrix.
  TinyCheckpoint sep = ck;
  sep.shared = false;
  Bytes mismatched = sep.header();
  mismatched.insert(mismatched.end(), model.begin() + kLlama2cHeaderBytes, model.end());
  e = convert_error(mismatched, tok);
  EXPECT_TRUE(contains(e, "truncated") && contains(e, "separate classifier")) << e;

  e = convert_error(Bytes(model.begin(), model.begin() + 10), tok);
  EXPECT_TRUE(contains(e, "shorter than its 28-byte header")) << e;
  e = convert_error({}, tok);
  EXPECT_TRUE(contains(e, "0 bytes")) << e;
}

TEST(Llama2c, BadHeaderValuesAreRejected) {
  const Bytes tok = tokenizer_bytes(300);
  struct Case {
    int field;
    int32_t value;
    const char* message;
  };
  const Case cases[] = {
      {0, 0, "field dim is 0"},          {1, -5, "field hidden_dim is -5"}, {2, 0, "field n_layers is 0"},
      {3, -1, "field n_heads is -1"},    {4, 0, "field n_kv_heads is 0"},   {5, 0, "vocab_size"},
      {5, INT32_MIN, "vocab_size"},      {6, 0, "field seq_len is 0"},      {0, 1 << 30, "field dim is 1073741824"},
      {3, 3, "not a multiple of n_heads"}, {4, 3, "not a multiple of n_kv_heads"}, {3, 8, "odd"},
  };
  for (const Case& c : cases) {
    TinyCheckpoint ck;
    Bytes model = ck.bytes();
    std::memcpy(model.data() + 4 * c.field, &c.value, 4);
    const std::string e = convert_error(model, tok);
    EXPECT_TRUE(contains(e, c.message)) << "field " << c.field << " = " << c.value << ": " << e;
  }
  Bytes gguf_magic = TinyCheckpoint().bytes();
  std::memcpy(gguf_magic.data(), "GGUF", 4);
  EXPECT_TRUE(contains(convert_error(gguf_magic, tok), "already a GGUF"));
}

TEST(Llama2c, BadTokenizersAreRejected) {
  TinyCheckpoint ck;
  const Bytes model = ck.bytes();
  const Bytes tok = tokenizer_bytes(ck.vocab);
  ASSERT_EQ(convert_error(model, tok), "ok");

  std::string e = convert_error(model, Bytes(tok.begin(), tok.end() - 1));
  EXPECT_TRUE(contains(e, "truncated") && contains(e, "entry 299")) << e;
  e = convert_error(model, Bytes(tok.begin(), tok.begin() + 2));
  EXPECT_TRUE(contains(e, "too short")) << e;
  e = convert_error(model, tokenizer_bytes(299));
  EXPECT_TRUE(contains(e, "holds 299 tokens") && contains(e, "vocab_size is 300")) << e;
  e = convert_error(model, tokenizer_bytes(301));
  EXPECT_TRUE(contains(e, "holds 301 tokens")) << e;
  const Bytes header_cut(tok.begin(), tok.end() - 8);  // into the 8-byte header of " w299" (13 bytes)
  e = convert_error(model, header_cut);
  EXPECT_TRUE(contains(e, "needs 8 header bytes")) << e;
  Bytes nan_score = tok;
  const float nan = std::nanf("");
  std::memcpy(nan_score.data() + 4, &nan, 4);
  EXPECT_TRUE(contains(convert_error(model, nan_score), "non-finite score"));
}

TEST(Llama2c, MissingFilesAndWrongTokenizerForRealModel) {
  const Status st = convert_llama2c("/nonexistent/model.bin", "/nonexistent/tok.bin", scratch("x.gguf").string());
  EXPECT_TRUE(contains(st.message(), "cannot open '/nonexistent/model.bin'")) << st.message();
  if (!testing::shared_available()) return;
  const Status wrong = convert_llama2c(stories_bin(), testing::shared_model("llama2c/tokenizer.bin"),
                                       scratch("y.gguf").string());
  EXPECT_TRUE(contains(wrong.message(), "holds 32000 tokens but the model's vocab_size is 512")) << wrong.message();
}

}  // namespace
}  // namespace lingua

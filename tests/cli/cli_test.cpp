// The `lingua` command as a user meets it: the guide, --help everywhere, JSON outputs, and every
// kind of bad input ending in a one-line message and exit code 1, never a crash or a hang.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;

using testing::CliRun;
using testing::slurp;

fs::path scratch_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("lingua-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

CliRun lingua(const std::vector<std::string>& args) { return testing::run_lingua(args, scratch_dir()); }

std::string shipped() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

// A user error: exit 1, one line on stderr that mentions `needle`.
void expect_user_error(const CliRun& r, const std::string& needle) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

std::string small_synth(const std::string& type) {
  const fs::path p = scratch_dir() / ("small-" + type + ".gguf");
  if (!fs::exists(p)) {
    SynthSpec s;
    s.dim = 64, s.layers = 2, s.heads = 4, s.kv_heads = 2, s.ffn = 128, s.vocab = 300, s.ctx = 64;
    s.type = parse_dtype(type).value();
    EXPECT_TRUE(write_synth_model(s, p.string()).is_ok());
  }
  return p.string();
}

TEST(Cli, GuideWithoutArguments) {
  CliRun r = lingua({});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("generate"), std::string::npos);
  EXPECT_NE(r.out.find("tokenize"), std::string::npos);
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"generate", "tokenize", "info", "synth", "bench"}) {
    CliRun r = lingua({sub, "--help"});
    EXPECT_EQ(r.rc, 0) << sub;
    EXPECT_NE(r.out.find("--"), std::string::npos) << sub;
  }
}

TEST(Cli, GenerateJsonOnShippedModel) {
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "8", "--temp", "0", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["tokens"], (std::vector<int>{352, 369, 1955, 300, 407, 344, 415, 290}));
  EXPECT_EQ(doc["devices"], 1);
  EXPECT_EQ(doc["timings"]["per_token_ms"].size(), 7u);  // the last token needs no forward pass
  EXPECT_TRUE(doc["timings"]["gen_tokens_per_s"].get<double>() > 0);
  EXPECT_TRUE(doc["migrations"].empty());
}

TEST(Cli, GenerateStreamsText) {
  CliRun r = lingua({"generate", "-m", shipped(), "-p", "And God said", "-n", "12", "--temp", "0"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind(" unto him, I will not go", 0), 0u) << r.out;
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
}

TEST(Cli, SampledGenerationIsReproducibleWithSeed) {
  auto run = [] {
    return lingua({"generate", "-m", shipped(), "-p", "Love is", "-n", "16", "--temp", "0.9", "--seed", "7", "--json"});
  };
  CliRun a = run(), b = run();
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["tokens"], nlohmann::json::parse(b.out)["tokens"]);
}

TEST(Cli, TokenizeJson) {
  CliRun r = lingua({"tokenize", "-m", shipped(), "--json", "--bos", "--", "And God said"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"], (std::vector<int>{1, 324, 431, 425}));
}

TEST(Cli, InfoJson) {
  CliRun r = lingua({"info", "-m", shipped(), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["tensors"].size(), 57u);
  EXPECT_EQ(doc["parameters"], 3148224);
  EXPECT_EQ(doc["metadata"]["general.architecture"], "llama");
}

TEST(Cli, SynthThenGenerateAndBench) {
  const std::string out = (scratch_dir() / "synth-q8.gguf").string();
  CliRun s = lingua({"synth", "--arch", "llama", "--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                  "--ffn", "128", "--vocab", "300", "--type", "q8_0", "--seed", "3", "-o", out});
  ASSERT_EQ(s.rc, 0) << s.err;
  CliRun g = lingua({"generate", "-m", out, "-p", "hello world", "-n", "16", "--temp", "0", "--ignore-eos", "--json"});
  ASSERT_EQ(g.rc, 0) << g.err;
  EXPECT_EQ(nlohmann::json::parse(g.out)["tokens"].size(), 16u);
  CliRun b = lingua({"bench", "-m", out, "-p", "8", "-n", "4", "-t", "1", "-r", "1", "--json"});
  ASSERT_EQ(b.rc, 0) << b.err;
  auto doc = nlohmann::json::parse(b.out);
  EXPECT_GT(doc["pp_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(doc["tg_tokens_per_s"].get<double>(), 0);
  // Same seed, same bytes.
  const std::string again = (scratch_dir() / "synth-q8-again.gguf").string();
  CliRun s2 = lingua({"synth", "--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
                   "--vocab", "300", "--type", "q8_0", "--seed", "3", "-o", again});
  ASSERT_EQ(s2.rc, 0) << s2.err;
  EXPECT_EQ(slurp(out), slurp(again));
}

// Every architecture synth can write generates through the CLI, as a new user would try it.
TEST(Cli, SynthEachArchitectureThenGenerate) {
  for (const char* arch : {"qwen2", "qwen3", "bloom"}) {
    const std::string out = (scratch_dir() / (std::string("synth-") + arch + ".gguf")).string();
    CliRun s = lingua({"synth", "--arch", arch, "--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                       "--ffn", "128", "--vocab", "300", "--seed", "3", "-o", out});
    ASSERT_EQ(s.rc, 0) << arch << ": " << s.err;
    CliRun g = lingua({"generate", "-m", out, "-p", "a b c", "-n", "8", "--temp", "0", "--ignore-eos", "--json"});
    ASSERT_EQ(g.rc, 0) << arch << ": " << g.err;
    EXPECT_EQ(nlohmann::json::parse(g.out)["tokens"].size(), 8u) << arch;
    CliRun i = lingua({"info", "-m", out, "--json"});
    ASSERT_EQ(i.rc, 0) << i.err;
    EXPECT_NE(i.out.find(std::string("\"") + arch + "\""), std::string::npos) << arch;
  }
}

// A cut between attention and FFN of block 1 (the residual stream crosses it like any tensor)
// gives the unsegmented tokens; so do cost-balanced segments.
TEST(Cli, GenerateSplitInsideABlockGivesTheSameTokens) {
  auto model = Model::load(shipped());
  ASSERT_TRUE(model) << model.error();
  int residual = -1;
  for (const Op& op : (*model)->graph().ops())
    if (op.name == "blk.1.attn_residual") residual = op.id;
  ASSERT_GT(residual, 0);
  ASSERT_EQ((*model)->graph().op(residual).kind, OpKind::kAdd);
  auto tokens = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "-m", shipped(), "-p", "And God said", "-n", "24", "--temp", "0", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = lingua(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  };
  const auto plain = tokens({});
  const auto split = tokens({"--split", std::to_string(residual)});
  const auto balanced = tokens({"--segments", "5"});
  EXPECT_EQ(plain["segments"], 1);
  EXPECT_EQ(split["segments"], 2);
  EXPECT_EQ(balanced["segments"], 5);
  EXPECT_EQ(split["tokens"], plain["tokens"]);
  EXPECT_EQ(balanced["tokens"], plain["tokens"]);
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "x", "-n", "2", "--split", "40,20"}), "op 20");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "x", "-n", "2", "--split", "9999"}), "op 9999");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "x", "-n", "2", "--split", "30", "--segments", "2"}),
                    "either --split or --segments");
}

TEST(Cli, BenchTimesEachSegmentAndOneSegmentAlone) {
  CliRun all = lingua({"bench", "-m", shipped(), "-p", "0", "-n", "4", "-t", "1", "-r", "1", "--segments", "3", "--json"});
  ASSERT_EQ(all.rc, 0) << all.err;
  const auto doc = nlohmann::json::parse(all.out);
  ASSERT_EQ(doc["segments"].size(), 3u);
  EXPECT_EQ(doc["segments"][0]["first_op"], 0);
  for (const auto& seg : doc["segments"]) EXPECT_GT(seg["decode_ms"].get<double>(), 0.0);
  CliRun one = lingua({"bench", "-m", shipped(), "-p", "0", "-n", "4", "-t", "1", "-r", "1", "--segments", "3",
                       "--only-segment", "1", "--json"});
  ASSERT_EQ(one.rc, 0) << one.err;
  const auto single = nlohmann::json::parse(one.out);
  ASSERT_EQ(single["segments"].size(), 1u);
  EXPECT_EQ(single["segments"][0]["first_op"], doc["segments"][1]["first_op"]);
  EXPECT_GT(single["peak_rss_bytes"].get<double>(), 0.0);
  expect_user_error(lingua({"bench", "-m", shipped(), "-n", "4", "--segments", "3", "--only-segment", "3"}),
                    "--only-segment 3");
}

TEST(Cli, BenchDecodesThroughLocalDevicesAloneAndBatched) {
  CliRun r = lingua({"bench", "-m", shipped(), "-p", "0", "-n", "4", "-t", "2", "-r", "1", "--parallel", "4",
                     "--local-devices", "2", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["local_devices"], 2);
  EXPECT_GT(doc["tg_tokens_per_s"].get<double>(), 0.0);
  EXPECT_EQ(doc["tg_parallel"]["sequences"], 4);
  EXPECT_GT(doc["tg_parallel"]["tokens_per_s"].get<double>(), 0.0);
  expect_user_error(lingua({"bench", "-m", shipped(), "-n", "4", "--local-devices", "2", "--segments", "3"}),
                    "--local-devices cuts the model itself");
  expect_user_error(lingua({"bench", "-m", shipped(), "-p", "4", "-n", "0", "--local-devices", "2"}), "give -n > 0");
}

TEST(CliBadInput, MissingFile) {
  expect_user_error(lingua({"generate", "-m", "/nonexistent/model.gguf", "-p", "hi", "-n", "4"}), "/nonexistent/model.gguf");
}

TEST(CliBadInput, NotGguf) {
  const fs::path p = scratch_dir() / "not.gguf";
  std::ofstream(p) << "this is a text file, not a model\n";
  expect_user_error(lingua({"generate", "-m", p.string(), "-p", "hi", "-n", "4"}), "GGUF");
  expect_user_error(lingua({"info", "-m", p.string()}), "GGUF");
}

TEST(CliBadInput, Truncated) {
  const std::string bytes = slurp(small_synth("f32"));
  for (size_t cut : {size_t{3}, size_t{24}, size_t{1000}, bytes.size() / 2, bytes.size() - 1}) {
    const fs::path p = scratch_dir() / "truncated.gguf";
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    CliRun r = lingua({"generate", "-m", p.string(), "-p", "hi", "-n", "4"});
    expect_user_error(r, "truncated.gguf");
  }
}

TEST(CliBadInput, UnknownArchitecture) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::str("mamba9"));
  const fs::path p = scratch_dir() / "mamba9.gguf";
  ASSERT_TRUE(w.write(p.string(), [](size_t, uint8_t*, uint64_t) { return Status::ok(); }).is_ok());
  CliRun r = lingua({"generate", "-m", p.string(), "-p", "hi", "-n", "4"});
  expect_user_error(r, "mamba9");
  EXPECT_NE(r.err.find("llama"), std::string::npos) << "should list the supported ones: " << r.err;
}

TEST(CliBadInput, UnknownAndUncomputableDtype) {
  std::string bytes = slurp(small_synth("f32"));
  // The type id follows the name, n_dims and dims of the tensor's info record.
  const std::string name = "token_embd.weight";
  size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  at += name.size();
  uint32_t n_dims;
  std::memcpy(&n_dims, bytes.data() + at, 4);
  const size_t type_at = at + 4 + 8 * n_dims;
  const uint32_t unknown = 77;
  std::memcpy(bytes.data() + type_at, &unknown, 4);
  const fs::path p = scratch_dir() / "dtype77.gguf";
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  expect_user_error(lingua({"generate", "-m", p.string(), "-p", "hi", "-n", "4"}), "77");
  // A type GGUF knows but Lingua cannot compute (Q2_K): the same record rewritten in a model whose
  // rows are 256 wide, so the smaller Q2_K data still lies inside the file.
  SynthSpec wide;
  wide.dim = 256, wide.layers = 1, wide.heads = 4, wide.kv_heads = 4, wide.ffn = 256, wide.vocab = 300;
  const fs::path w = scratch_dir() / "wide.gguf";
  ASSERT_TRUE(write_synth_model(wide, w.string()).is_ok());
  std::string wide_bytes = slurp(w);
  const size_t wide_type_at = wide_bytes.find(name) + name.size() + 4 + 8 * 2;
  const uint32_t q2_k = static_cast<uint32_t>(DType::Q2_K);
  std::memcpy(wide_bytes.data() + wide_type_at, &q2_k, 4);
  const fs::path q = scratch_dir() / "q2k.gguf";
  std::ofstream(q, std::ios::binary).write(wide_bytes.data(), static_cast<std::streamsize>(wide_bytes.size()));
  CliRun r = lingua({"generate", "-m", q.string(), "-p", "hi", "-n", "4"});
  expect_user_error(r, "q2_k");
  EXPECT_NE(r.err.find("cannot compute"), std::string::npos) << r.err;
  EXPECT_EQ(lingua({"info", "-m", q.string()}).rc, 0) << "info shows any known type";
}

// Tensors whose type or shape is not what the architecture expects: a norm weight stored as Q8_0
// (norms and biases are float vectors in every GGUF writer), and a matrix of the wrong shape.
TEST(CliBadInput, TensorTypeOrShapeAgainstArchitecture) {
  auto rewrite = [](std::string bytes, const std::string& name, auto edit) {
    const size_t at = bytes.find(name);
    EXPECT_NE(at, std::string::npos) << name;
    edit(bytes, at + name.size());  // offset of the record's n_dims
    return bytes;
  };
  auto write = [](const std::string& bytes, const std::string& file) {
    const fs::path p = scratch_dir() / file;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
  };
  const std::string original = slurp(small_synth("f32"));
  const std::string norm = "blk.0.attn_norm.weight";
  const std::string quantized_norm = rewrite(original, norm, [](std::string& b, size_t at) {
    const uint32_t q8_0 = static_cast<uint32_t>(DType::Q8_0);
    std::memcpy(b.data() + at + 4 + 8, &q8_0, 4);  // one dimension, then the type
  });
  CliRun r = lingua({"generate", "-m", write(quantized_norm, "q8norm.gguf"), "-p", "hi", "-n", "4"});
  expect_user_error(r, norm);
  EXPECT_NE(r.err.find("expects a float vector"), std::string::npos) << r.err;

  // attn_q reshaped from cols x rows to (cols/2) x (rows*2): same bytes, a shape the block cannot use.
  const std::string q = "blk.0.attn_q.weight";
  const std::string reshaped_q = rewrite(original, q, [](std::string& b, size_t at) {
    uint64_t dims[2];
    std::memcpy(dims, b.data() + at + 4, sizeof dims);
    dims[0] /= 2;
    dims[1] *= 2;
    std::memcpy(b.data() + at + 4, dims, sizeof dims);
  });
  r = lingua({"generate", "-m", write(reshaped_q, "reshaped_q.gguf"), "-p", "hi", "-n", "4"});
  expect_user_error(r, q);
  EXPECT_NE(r.err.find("inputs"), std::string::npos) << r.err;
}

TEST(CliBadInput, PromptLongerThanContext) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "And God said unto Moses. ";
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", prompt, "-n", "4"}), "context");
  CliRun ok = lingua({"generate", "-m", shipped(), "-p", prompt, "-n", "4", "--truncate", "--temp", "0", "--json"});
  EXPECT_EQ(ok.rc, 0) << ok.err;
}

TEST(CliBadInput, BadNumbers) {
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "hi", "-n", "0"}), "-n");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "hi", "-n", "4", "-t", "-1"}), "-t");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "hi", "-n", "4", "-t", "100000"}), "-t");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "hi", "-n", "4", "--temp", "-1"}), "temperature");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "hi", "-n", "many"}), "many");
  expect_user_error(lingua({"generate", "-m", shipped(), "-p", "hi", "--frobnicate"}), "frobnicate");
  expect_user_error(lingua({"bench", "-m", shipped(), "-p", "0", "-n", "0"}), "nothing to measure");
  expect_user_error(lingua({"synth", "--dim", "100", "--heads", "3", "-o", (scratch_dir() / "x.gguf").string()}), "--heads");
  expect_user_error(lingua({"synth", "--type", "q9_9", "-o", (scratch_dir() / "x.gguf").string()}), "q9_9");
  CliRun arch = lingua({"synth", "--arch", "gpt7", "-o", (scratch_dir() / "x.gguf").string()});
  expect_user_error(arch, "gpt7");
  EXPECT_NE(arch.err.find("bloom"), std::string::npos) << "lists the supported ones: " << arch.err;
  expect_user_error(lingua({"synth", "--arch", "llama", "--preset", "bloom-560m", "-o", (scratch_dir() / "x.gguf").string()}),
                    "bloom-560m is a bloom model");
}

TEST(CliBadInput, UnknownCommand) {
  CliRun r = lingua({"generat", "-m", shipped()});
  expect_user_error(r, "unknown command 'generat'");
  EXPECT_NE(r.err.find("generate"), std::string::npos);
}

TEST(CliBadInput, InvalidUtf8Prompt) {
  CliRun r = lingua({"generate", "-m", shipped(), "-p", std::string("bad \xff\xfe bytes"), "-n", "4"});
  expect_user_error(r, "UTF-8");
}

TEST(CliBadInput, UnwritableSynthOutput) {
  expect_user_error(lingua({"synth", "-o", "/nonexistent-dir/x.gguf"}), "/nonexistent-dir/x.gguf");
}

}  // namespace
}  // namespace lingua

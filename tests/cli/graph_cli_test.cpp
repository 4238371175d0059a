// `lingua graph` as a user runs it: the op graph of a small synthetic llama with its costs, the
// segments `--cuts K` and `--split I,J,...` produce, the transmission map, the DOT drawing, and
// every bad input ending in one line on stderr and exit code 1.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using CliResult = testing::CliRun;
using testing::slurp;

// A synthetic llama (3 blocks) written by the binary itself into a directory removed afterwards.
class GraphCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lingua-graph-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    model_ = (dir_ / "synth-llama.gguf").string();
    CliResult s = lingua({"synth", "--dim", "64", "--layers", "3", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
                    "--vocab", "300", "-o", model_});
    ASSERT_EQ(s.rc, 0) << s.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static CliResult lingua(const std::vector<std::string>& args) { return testing::run_lingua(args, dir_); }


  static json graph_json(std::vector<std::string> extra) {
    std::vector<std::string> args = {"graph", "-m", model_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = lingua(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return json::parse(r.out);
  }

  // Exit 1, one line on stderr mentioning `needle`, nothing on stdout.
  static void expect_user_error(const std::vector<std::string>& extra, const std::string& needle) {
    std::vector<std::string> args = {"graph", "-m", model_};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = lingua(args);
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
    EXPECT_TRUE(r.out.empty()) << "stdout: " << r.out;
  }

  // The id of the first op whose name starts with `prefix`, or -1.
  static int first_op_named(const json& doc, const std::string& prefix) {
    for (const auto& op : doc["ops"])
      if (op["name"].get<std::string>().rfind(prefix, 0) == 0) return op["id"].get<int>();
    return -1;
  }

  static inline fs::path dir_;
  static inline std::string model_;
};

// Segments are contiguous, in order, start at op 0 and end at the last op.
void expect_segments_cover_ops(const json& doc) {
  const auto& segs = doc["segments"];
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs.front()["first_op"], 0);
  EXPECT_EQ(segs.back()["last_op"].get<int>(), static_cast<int>(doc["ops"].size()) - 1);
  for (size_t i = 0; i < segs.size(); ++i) {
    EXPECT_LE(segs[i]["first_op"].get<int>(), segs[i]["last_op"].get<int>()) << "segment " << i;
    if (i > 0) {
      EXPECT_EQ(segs[i]["first_op"].get<int>(), segs[i - 1]["last_op"].get<int>() + 1) << "segment " << i;
    }
  }
}

TEST_F(GraphCli, JsonHasTheDesignKeysForEveryOpSegmentAndTransmission) {
  const json doc = graph_json({"--cuts", "2"});
  ASSERT_TRUE(doc.contains("ops") && doc.contains("segments") && doc.contains("transmissions"));
  ASSERT_FALSE(doc["ops"].empty());
  for (size_t i = 0; i < doc["ops"].size(); ++i) {
    const auto& op = doc["ops"][i];
    for (const char* k : {"id", "name", "kind", "inputs", "flops_prefill_per_token", "flops_decode", "weight_bytes",
                          "kv_bytes_per_token", "out_bytes_per_token"})
      EXPECT_TRUE(op.contains(k)) << "op " << i << " lacks " << k;
    EXPECT_EQ(op["id"].get<size_t>(), i);
    for (const auto& in : op["inputs"]) EXPECT_LT(in.get<size_t>(), i) << "op " << i << " reads a later op";
  }
  for (const auto& s : doc["segments"])
    for (const char* k : {"first_op", "last_op", "weight_bytes"}) EXPECT_TRUE(s.contains(k)) << k;
  for (const auto& t : doc["transmissions"])
    for (const char* k : {"tensor", "from", "to", "bytes_per_token"}) EXPECT_TRUE(t.contains(k)) << k;
  // Names tie ops to blocks, residual additions are `add`, and attention carries the KV cache.
  EXPECT_GE(first_op_named(doc, "blk.2."), 0);
  bool has_add = false, has_kv = false;
  for (const auto& op : doc["ops"]) {
    has_add = has_add || op["kind"] == "add";
    has_kv = has_kv || op["kv_bytes_per_token"].get<uint64_t>() > 0;
  }
  EXPECT_TRUE(has_add);
  EXPECT_TRUE(has_kv);
}

TEST_F(GraphCli, CutsThreeGivesThreeContiguousSegmentsCoveringAllOps) {
  const json doc = graph_json({"--cuts", "3"});
  ASSERT_EQ(doc["segments"].size(), 3u);
  expect_segments_cover_ops(doc);
}

TEST_F(GraphCli, TransmissionsFlowForwardOnceEachToEveryReadingSegment) {
  const json doc = graph_json({"--cuts", "3"});
  const auto& segs = doc["segments"];
  auto segment_of = [&](int op) {
    for (size_t s = 0; s < segs.size(); ++s)
      if (op >= segs[s]["first_op"].get<int>() && op <= segs[s]["last_op"].get<int>()) return static_cast<int>(s);
    return -1;
  };
  ASSERT_FALSE(doc["transmissions"].empty());
  std::set<std::string> seen;
  for (const auto& t : doc["transmissions"]) {
    const std::string tensor = t["tensor"];
    EXPECT_TRUE(seen.insert(tensor).second) << tensor << " appears twice";
    const int from = t["from"];
    int prev = from;
    ASSERT_FALSE(t["to"].empty()) << tensor;
    for (const auto& to : t["to"]) {
      EXPECT_GT(to.get<int>(), prev) << tensor << ": destinations must be later segments, increasing";
      prev = to.get<int>();
    }
    EXPECT_GT(t["bytes_per_token"].get<uint64_t>(), 0u) << tensor;
  }
  // Every op input read across a cut is in the map, from the producer's segment to the reader's.
  for (const auto& op : doc["ops"]) {
    const int reader = segment_of(op["id"]);
    for (const auto& in : op["inputs"]) {
      const int producer = segment_of(in);
      if (producer == reader) continue;
      const std::string tensor = doc["ops"][in.get<size_t>()]["name"];
      bool found = false;
      for (const auto& t : doc["transmissions"])
        if (t["tensor"] == tensor && t["from"] == producer) {
          const auto& to = t["to"];
          found = std::find(to.begin(), to.end(), json(reader)) != to.end();
        }
      EXPECT_TRUE(found) << tensor << " is read by segment " << reader << " but not sent there";
    }
  }
}

TEST_F(GraphCli, OpWeightBytesSumToTheTensorBytesOfTheFile) {
  const json doc = graph_json({});
  uint64_t ops_total = 0;
  for (const auto& op : doc["ops"]) ops_total += op["weight_bytes"].get<uint64_t>();
  CliResult info = lingua({"info", "-m", model_, "--json"});
  ASSERT_EQ(info.rc, 0) << info.err;
  const json file = json::parse(info.out);
  uint64_t file_total = 0;
  for (const auto& t : file["tensors"]) file_total += t["bytes"].get<uint64_t>();
  EXPECT_EQ(file_total, file["tensor_bytes"].get<uint64_t>());
  EXPECT_EQ(ops_total, file_total);
  // One segment (no cut) needs every tensor; there is nothing to transmit.
  ASSERT_EQ(doc["segments"].size(), 1u);
  EXPECT_EQ(doc["segments"][0]["weight_bytes"].get<uint64_t>(), file_total);
  EXPECT_TRUE(doc["transmissions"].empty());
}

TEST_F(GraphCli, SplitPutsSegmentsAtTheGivenOpsEvenInsideABlock) {
  const json whole = graph_json({});
  const int n = static_cast<int>(whole["ops"].size());
  const int inside = first_op_named(whole, "blk.1.ffn");  // between attention and FFN of block 1
  const int next_block = first_op_named(whole, "blk.2.");
  ASSERT_GT(inside, 0);
  ASSERT_GT(next_block, inside);
  const json doc = graph_json({"--split", std::to_string(inside) + "," + std::to_string(next_block)});
  const auto& segs = doc["segments"];
  ASSERT_EQ(segs.size(), 3u);
  expect_segments_cover_ops(doc);
  EXPECT_EQ(segs[0]["last_op"].get<int>(), inside - 1);
  EXPECT_EQ(segs[1]["first_op"].get<int>(), inside);
  EXPECT_EQ(segs[2]["first_op"].get<int>(), next_block);
  EXPECT_EQ(segs[2]["last_op"].get<int>(), n - 1);
  // A cut inside a block sends the residual stream (an `add`) as an ordinary transmission.
  bool residual_sent = false;
  for (const auto& t : doc["transmissions"])
    residual_sent = residual_sent || (t["from"] == 0 && doc["ops"][t["op"].get<size_t>()]["kind"] == "add");
  EXPECT_TRUE(residual_sent);
}

TEST_F(GraphCli, DotStartsWithDigraphAndDrawsOneClusterPerSegment) {
  CliResult r = lingua({"graph", "-m", model_, "--dot", "--cuts", "3"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("digraph", 0), 0u) << r.out.substr(0, 80);
  auto count = [&](const std::string& needle) {
    size_t c = 0;
    for (size_t p = r.out.find(needle); p != std::string::npos; p = r.out.find(needle, p + 1)) ++c;
    return c;
  };
  EXPECT_EQ(count("subgraph cluster_"), 3u);
  EXPECT_GT(count("color=red"), 0u);  // cut-crossing edges stand out
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "}\n");

  CliResult one = lingua({"graph", "-m", model_, "--dot"});
  ASSERT_EQ(one.rc, 0) << one.err;
  EXPECT_NE(one.out.find("subgraph cluster_0"), std::string::npos);
  EXPECT_EQ(one.out.find("subgraph cluster_1"), std::string::npos);
  EXPECT_EQ(one.out.find("color=red"), std::string::npos);
}

TEST_F(GraphCli, TableListsEveryOpThenSegmentsAndTransmissions) {
  CliResult r = lingua({"graph", "-m", model_, "--cuts", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json doc = graph_json({"--cuts", "2"});
  for (const auto& op : doc["ops"]) EXPECT_NE(r.out.find(op["name"].get<std::string>()), std::string::npos);
  const size_t segs = r.out.find("\nsegments:"), tx = r.out.find("\ntransmissions:");
  ASSERT_NE(segs, std::string::npos);
  ASSERT_NE(tx, std::string::npos);
  EXPECT_LT(segs, tx);
}

TEST_F(GraphCli, BadInputsEndInOneLineAndExitOne) {
  expect_user_error({"--cuts", "2", "--split", "3"}, "--split");
  expect_user_error({"--cuts", "0"}, "--cuts");
  expect_user_error({"--cuts", "-2"}, "--cuts");
  expect_user_error({"--split", "3,x"}, "'x'");
  expect_user_error({"--split", "3,,5"}, "--split");
  expect_user_error({"--split", "9,4"}, "op 4");
  expect_user_error({"--split", "0"}, "op 0");
  expect_user_error({"--split", "100000"}, "op 100000");
  expect_user_error({"--json", "--dot"}, "--dot");

  CliResult missing = lingua({"graph", "-m", (dir_ / "no-such-model.gguf").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("no-such-model.gguf"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
}

}  // namespace
}  // namespace lingua

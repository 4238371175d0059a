// `lingua plan`, `lingua profile` and `generate --plan` as a user runs them: on a model that needs
// two of three devices, the optimized plan beats the baselines, DP and MILP agree, a written plan
// runs with the unsegmented tokens, and impossible clusters, bad files and foreign plans are
// refused with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "test_paths.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliRun;

class PlanCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("lingua-plan-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // One profile per build tree, shared by every test process (measuring takes seconds).
    setenv("LINGUA_CACHE_DIR", (fs::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
    model_ = (dir_ / "model.gguf").string();
    CliRun s = lingua({"synth", "--dim", "512", "--layers", "8", "--heads", "8", "--kv-heads", "4", "--ffn", "1536",
                       "--vocab", "512", "--type", "q8_0", "-o", model_});
    ASSERT_EQ(s.rc, 0) << s.err;
    devices_ = write("three.yaml",
                     "devices:\n"
                     "  - {name: fast, threads: 1, memory: 36MiB}\n"
                     "  - {name: mid, threads: 1, memory: 36MiB, slowdown: 2.0}\n"
                     "  - {name: slow, threads: 1, memory: 48MiB, slowdown: 4.0}\n"
                     "links:\n"
                     "  default: {bandwidth: 1Gbit/s, latency: 1ms}\n");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static CliRun lingua(const std::vector<std::string>& args) { return testing::run_lingua(args, dir_, 300); }
  static json plan_json(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"plan", "-m", model_, "--devices", devices_, "-c", "256", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = lingua(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return json::parse(r.out.empty() ? "{}" : r.out);
  }
  static const json& plan_named(const json& doc, const std::string& name) {
    for (const auto& p : doc["plans"])
      if (p["name"] == name) return p;
    static const json none;
    return none;
  }
  static inline fs::path dir_;
  static inline std::string model_, devices_;
};

TEST_F(PlanCli, OptimizedBeatsBaselinesAndDpEqualsMilp) {
  for (const char* objective : {"latency", "throughput"}) {
    const json dp = plan_json({"--objective", objective, "--solver", "dp"});
    const json milp = plan_json({"--objective", objective, "--solver", "milp"});
    const double best = plan_named(dp, "optimized")["predicted_tokens_per_s"].get<double>();
    EXPECT_NEAR(plan_named(milp, "optimized")["predicted_tokens_per_s"].get<double>(), best, 1e-6 * best) << objective;
    for (const char* baseline : {"even", "memory"}) {
      const json& b = plan_named(dp, baseline);
      ASSERT_FALSE(b.is_null()) << baseline;
      if (b["feasible"]) {
        EXPECT_GE(best, b["predicted_tokens_per_s"].get<double>() * (1 - 1e-9)) << baseline << " " << objective;
      }
    }
    // The optimized plan keeps every device within its memory and covers every op once.
    int next = 0;
    for (const auto& a : plan_named(dp, "optimized")["assignments"]) {
      EXPECT_EQ(a["first_op"].get<int>(), next);
      next = a["last_op"].get<int>() + 1;
      EXPECT_LE(a["memory_bytes"].get<double>(), a["memory_budget_bytes"].get<double>());
    }
    EXPECT_GT(next, 0);
    EXPECT_TRUE(plan_named(dp, "single").is_null()) << "no device holds this model alone";
  }
}

TEST_F(PlanCli, WrittenPlanRunsWithTheUnsegmentedTokens) {
  const std::string plan = (dir_ / "even.plan.json").string();
  CliRun w = lingua({"plan", "-m", model_, "--devices", devices_, "-c", "256", "--pick", "even", "--out", plan});
  ASSERT_EQ(w.rc, 0) << w.err;
  const json file = json::parse(testing::slurp(plan));
  EXPECT_EQ(file["format"], "lingua-plan");
  EXPECT_EQ(file["name"], "even");
  EXPECT_EQ(file["segments"].size(), 3u);
  auto tokens = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "-m", model_, "-p", "a b c", "-n", "12", "--temp", "0", "--ignore-eos", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = lingua(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return json::parse(r.out.empty() ? "{}" : r.out);
  };
  const json plain = tokens({}), planned = tokens({"--plan", plan});
  EXPECT_EQ(planned["segments"], 3);
  EXPECT_EQ(planned["tokens"], plain["tokens"]);

  // The same plan on another model is refused, naming the mismatch.
  const std::string other = testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf";
  CliRun r = lingua({"generate", "-m", other, "-p", "x", "-n", "2", "--plan", plan});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("ops"), std::string::npos) << r.err;
  const std::string broken = write("broken.plan.json", "{\"format\": \"lingua-plan\", \"version\": 1, \"n_ops\": ");
  r = lingua({"generate", "-m", model_, "-p", "x", "-n", "2", "--plan", broken});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("malformed"), std::string::npos) << r.err;
}

// --evaluate prices a plan file made elsewhere on these devices: the even plan written out comes
// back priced as the even row; a plan naming a device the file lacks is refused by name.
TEST_F(PlanCli, EvaluatePricesAPlanFileOnTheseDevices) {
  const std::string plan = (dir_ / "even-eval.plan.json").string();
  CliRun w = lingua({"plan", "-m", model_, "--devices", devices_, "-c", "256", "--pick", "even", "--out", plan});
  ASSERT_EQ(w.rc, 0) << w.err;
  CliRun r = lingua({"plan", "-m", model_, "--devices", devices_, "-c", "256", "--evaluate", plan, "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json doc = json::parse(r.out);
  const json* even = nullptr;
  const json* evaluated = nullptr;
  for (const json& p : doc["plans"]) {
    if (p["name"] == "even") even = &p;
    if (p["name"] == "evaluated") evaluated = &p;
  }
  ASSERT_TRUE(even && evaluated) << r.out;
  EXPECT_DOUBLE_EQ((*evaluated)["predicted_tokens_per_s"].get<double>(), (*even)["predicted_tokens_per_s"].get<double>());
  EXPECT_EQ((*evaluated)["assignments"], (*even)["assignments"]);
  json renamed = json::parse(testing::slurp(plan));
  renamed["segments"][0]["device"] = "nowhere";
  const std::string other = write("renamed.plan.json", renamed.dump());
  r = lingua({"plan", "-m", model_, "--devices", devices_, "-c", "256", "--evaluate", other});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("'nowhere'"), std::string::npos) << r.err;
}

TEST_F(PlanCli, ClusterTooSmallSaysHowMuchIsMissing) {
  const std::string tiny = write("tiny.yaml", "devices:\n  - {name: a, memory: 20MiB}\n  - {name: b, memory: 20MiB}\n");
  CliRun r = lingua({"plan", "-m", model_, "--devices", tiny, "-c", "256"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("does not fit"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("MiB missing"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(PlanCli, BadDevicesFileAndFlagsAreOneLineErrors) {
  const std::string bad = write("bad.yaml", "devices:\n  - {name: a, memory: 0MiB}\n");
  CliRun r = lingua({"plan", "-m", model_, "--devices", bad});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("bad.yaml:2"), std::string::npos) << r.err;
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"--objective", "speed"}, {"--solver", "gurobi"}, {"--pick", "best"}}) {
    std::vector<std::string> args = {"plan", "-m", model_, "--devices", devices_};
    args.insert(args.end(), flags.begin(), flags.end());
    r = lingua(args);
    EXPECT_EQ(r.rc, 1) << flags[0];
    EXPECT_NE(r.err.find(flags[1]), std::string::npos) << r.err;
  }
  r = lingua({"plan", "-m", model_, "--devices", (dir_ / "missing.yaml").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
}

// A slow link between the two fastest devices: the optimized chain no longer puts them side by
// side, DP and MILP agree, and the links the plan priced are listed with where they came from.
TEST_F(PlanCli, PerPairLinkChangesTheChainAndIsListed) {
  const auto adjacent_fast_mid = [](const json& plan) {
    const auto& a = plan["assignments"];
    for (size_t i = 1; i < a.size(); ++i) {
      const std::string x = a[i - 1]["device"], y = a[i]["device"];
      if ((x == "fast" && y == "mid") || (x == "mid" && y == "fast")) return true;
    }
    return false;
  };
  EXPECT_TRUE(adjacent_fast_mid(plan_named(plan_json({}), "optimized"))) << "with alike links fast and mid share the model";
  const std::string slow_pair = write("slow-pair.yaml",
                                      "devices:\n"
                                      "  - {name: fast, threads: 1, memory: 36MiB}\n"
                                      "  - {name: mid, threads: 1, memory: 36MiB, slowdown: 2.0}\n"
                                      "  - {name: slow, threads: 1, memory: 48MiB, slowdown: 4.0}\n"
                                      "links:\n"
                                      "  default: {bandwidth: 1Gbit/s, latency: 1ms}\n"
                                      "  \"fast <-> mid\": {bandwidth: 1Mbit/s, latency: 500ms}\n");
  for (const char* solver : {"dp", "milp"}) {
    CliRun r = lingua({"plan", "-m", model_, "--devices", slow_pair, "-c", "256", "--solver", solver, "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const json doc = json::parse(r.out);
    EXPECT_FALSE(adjacent_fast_mid(plan_named(doc, "optimized"))) << solver << ": " << plan_named(doc, "optimized").dump();
    int given = 0;
    for (const auto& l : doc["links"]) {
      const bool pair = (l["from"] == "fast" && l["to"] == "mid") || (l["from"] == "mid" && l["to"] == "fast");
      EXPECT_EQ(l["source"], pair ? "given in the file" : "default") << l.dump();
      EXPECT_DOUBLE_EQ(l["latency_ms"].get<double>(), pair ? 500.0 : 1.0) << l.dump();
      given += pair;
    }
    EXPECT_EQ(doc["links"].size(), 6u);
    EXPECT_EQ(given, 2);
  }
  CliRun text = lingua({"plan", "-m", model_, "--devices", slow_pair, "-c", "256"});
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_NE(text.out.find("per-pair links"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("| fast | mid |"), std::string::npos) << text.out;
}

TEST_F(PlanCli, ProfilePrintsADevicesEntryAndJson) {
  CliRun r = lingua({"profile", "-t", "1", "--cached", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["threads"], 1);
  EXPECT_GT(doc["bytes_per_s"].get<double>(), 0);
  EXPECT_GT(doc["flops_per_s"]["q8_0"].get<double>(), 0);
  r = lingua({"profile", "-t", "1", "--cached"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string entry = write("entry.yaml", r.out);
  // What profile prints is a devices file plan accepts.
  CliRun p = lingua({"plan", "-m", model_, "--devices", entry, "-c", "256", "--json"});
  EXPECT_EQ(p.rc, 0) << p.err;
}

}  // namespace
}  // namespace lingua

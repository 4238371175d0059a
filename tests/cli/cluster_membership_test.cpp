// Devices joining and leaving between requests (ClusterRun::update_devices) with real worker
// processes: the next generation runs on the new set, re-planned, with the single-device tokens.
#include <gtest/gtest.h>

#include <set>

#include "model/model.h"
#include "plan/devices_file.h"
#include "runtime/cluster_run.h"
#include "runtime/generator.h"
#include "test_paths.h"

namespace lingua {
namespace {

TEST(ClusterMembership, DevicesJoinAndLeaveBetweenRequests) {
  setenv("LINGUA_CACHE_DIR", (std::filesystem::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
  const std::string path = testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf";
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error();
  Generator gen(**model, 1);
  GenerateOptions g;
  g.n_predict = 16;
  g.sampling.temperature = 0;
  g.ignore_eos = true;
  g.context = 128;
  auto single = gen.generate("In the beginning", g);
  ASSERT_TRUE(single) << single.error();

  // Memory for about half the model each, so a plan needs two devices.
  const uint64_t half = (*model)->file().file_size() / 2 + (20u << 20);
  auto file = [&](const std::vector<std::string>& names) {
    std::string text = "devices:\n";
    for (const auto& n : names) text += "  - {name: " + n + ", threads: 1, memory: " + std::to_string(half) + "}\n";
    text += "links:\n  default: {bandwidth: 10Gbit/s, latency: 0.05ms}\n";
    auto f = parse_devices_yaml(text, "test");
    EXPECT_TRUE(f) << f.error();
    return *f;
  };
  const DevicesFile first = file({"p", "q"});
  ClusterRunOptions o;
  o.model_path = path;
  o.context = 128;
  o.all_local = true;
  o.insecure = true;
  o.worker_executable = testing::lingua_binary();
  std::vector<std::string> events;
  o.on_event = [&](const std::string& line) { events.push_back(line); };
  auto log = [&] {
    std::string all;
    for (const auto& e : events) all += e + "\n";
    return all;
  };
  const int cut = (*model)->graph().size() / 2;
  auto run = ClusterRun::start(**model, first, {{"p", 0, cut - 1}, {"q", cut, (*model)->graph().size() - 1}}, o);
  ASSERT_TRUE(run) << run.error();
  g.pipeline = run->get();
  auto a = gen.generate("In the beginning", g);
  ASSERT_TRUE(a) << a.error() << "\n" << log();
  EXPECT_EQ(a->tokens, single->tokens);

  // p leaves, r and s join: the next request runs on q, r, s only.
  {
    const Status st = (*run)->update_devices(file({"q", "r", "s"}));
    ASSERT_TRUE(st.is_ok()) << st.message() << "\n" << log();
  }
  std::set<std::string> used;
  for (const PlannedSegment& s : (*run)->current_plan()) used.insert(s.device);
  EXPECT_FALSE(used.count("p")) << "the device that left is still in the plan";
  EXPECT_GE(used.size(), 2u);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back().find("joined: r, s"), std::string::npos) << events.back();
  EXPECT_NE(events.back().find("left: p"), std::string::npos) << events.back();
  auto b = gen.generate("In the beginning", g);
  ASSERT_TRUE(b) << b.error() << "\n" << log();
  EXPECT_EQ(b->tokens, single->tokens);

  // Not while a request runs.
  const int32_t token = 1;
  ASSERT_TRUE((*run)->submit(1, &token, 1, 0, true).is_ok());
  EXPECT_FALSE((*run)->update_devices(file({"q", "r"})).is_ok());
  auto answer = (*run)->next();
  ASSERT_TRUE(answer) << answer.error() << "\n" << log();
  ASSERT_TRUE((*run)->end_sequence(1).is_ok());
}

}  // namespace
}  // namespace lingua

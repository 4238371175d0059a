// A link that runs far slower than it is priced (a devices file that says 1 Gbit/s and no latency
// for a pair behind a 30 ms relay) is measured again during the run when the balancer asks, and the
// run moves to a chain that avoids it, with the same tokens as one device.
// (Three workers: the planner does not price the logits' trip back to the head, so with two the
// chains through the relay would still tie after the new measurement.)
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "core/host_limits.h"
#include "profile_cache.h"
#include "test_paths.h"
#include "worker_process.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::LinguaProcess;
using testing::run_lingua;

std::string model_path() { return testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf"; }

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(LinkRecheck, ALinkSlowerThanItsPriceIsMeasuredAgainAndAvoided) {
  const fs::path root = fs::temp_directory_path() / ("lingua-link-recheck-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const fs::path cache = root / "cache";
  testing::prefill_cache(cache, 1, read_host_limits().cpu_quota_cores);
  const std::string relay = (fs::path(testing::lingua_binary()).parent_path() / "lingua-delay-relay").string();
  ASSERT_TRUE(fs::exists(relay)) << relay;

  auto worker = [&](const std::string& name) {
    return std::make_unique<LinguaProcess>(
        std::vector<std::string>{"worker", "--insecure", "--listen", "tcp://127.0.0.1:0", "--threads", "1", "--name", name},
        root / (name + ".out"), root / (name + ".err"), std::vector<std::pair<std::string, std::string>>{{"LINGUA_CACHE_DIR", cache.string()}});
  };
  auto a = worker("a"), b = worker("b"), c = worker("c");
  const std::string a_endpoint = a->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 60).value_or("");
  ASSERT_FALSE(a_endpoint.empty()) << a->err();
  const std::string b_endpoint = b->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 60).value_or("");
  const std::string c_endpoint = c->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 60).value_or("");
  ASSERT_FALSE(b_endpoint.empty()) << b->err();
  ASSERT_FALSE(c_endpoint.empty()) << c->err();
  // Everything sent to c waits 30 ms each way.
  const int relay_port = free_port();
  ASSERT_GT(relay_port, 0);
  LinguaProcess delay(relay,
                      {"--listen", "127.0.0.1:" + std::to_string(relay_port), "--to", c_endpoint.substr(std::string("tcp://").size()),
                       "--delay", "30ms"},
                      root / "relay.out", root / "relay.err");
  // No device can hold the model alone, so every plan is a chain of two; the file's pair link
  // makes a -> c look as good as a -> b at the start.
  const fs::path devices = root / "devices.yaml";
  std::ofstream(devices) << "devices:\n"
                         << "  - name: a\n    endpoint: " << a_endpoint << "\n    memory: 24MiB\n"
                         << "  - name: b\n    endpoint: " << b_endpoint << "\n    memory: 24MiB\n"
                         << "  - name: c\n    endpoint: tcp://127.0.0.1:" << relay_port << "\n    memory: 24MiB\n"
                         << "links:\n  default: {bandwidth: 1Gbit/s, latency: 0ms}\n"
                         << "  \"a <-> c\": {bandwidth: 1Gbit/s, latency: 0ms}\n";
  const fs::path plan = root / "plan.json";
  auto planned = run_lingua({"plan", "-m", model_path(), "--devices", devices.string(), "--insecure", "-c", "64", "--out", plan.string()}, root, 120);
  ASSERT_EQ(planned.rc, 0) << planned.err;
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(plan));
  ASSERT_EQ(doc["segments"].size(), 2u) << doc.dump();
  doc["segments"][0]["device"] = "a";  // start on a -> c, the slow way
  doc["segments"][1]["device"] = "c";
  std::ofstream(plan) << doc.dump();

  const std::vector<std::string> gen = {"-m", model_path(), "-p", "And God said", "-n", "40", "--temp", "0", "-c", "64", "--json"};
  std::vector<std::string> alone = {"generate"};
  alone.insert(alone.end(), gen.begin(), gen.end());
  auto one = run_lingua(alone, root, 60);
  ASSERT_EQ(one.rc, 0) << one.err;
  std::vector<std::string> args = {"generate", "--devices", devices.string(), "--insecure", "--plan", plan.string()};
  args.insert(args.end(), gen.begin(), gen.end());
  auto run = run_lingua(args, root, 180);
  ASSERT_EQ(run.rc, 0) << run.err;
  const nlohmann::json out = nlohmann::json::parse(run.out);
  EXPECT_EQ(out["tokens"], nlohmann::json::parse(one.out)["tokens"]) << "the same tokens as one device";
  ASSERT_GE(out["link_remeasures"].size(), 1u) << run.err;
  const nlohmann::json& m = out["link_remeasures"][0];
  EXPECT_EQ(m["from"], "a");
  EXPECT_EQ(m["to"], "c");
  EXPECT_EQ(m["error"], "");
  EXPECT_GT(m["observed_ms_per_token"].get<double>(), 20.0);
  EXPECT_LT(m["priced_ms_per_token"].get<double>(), 5.0);
  EXPECT_GT(m["rtt_ms"].get<double>(), 50.0) << "30 ms each way through the relay";
  ASSERT_GE(out["migrations"].size(), 1u) << run.err;
  EXPECT_GE(out["migrations"][0]["at_token"].get<int64_t>(), m["at_token"].get<int64_t>());
  for (const auto& segment : out["final_plan"]) EXPECT_NE(segment["device"], "c") << out["final_plan"].dump();
  EXPECT_NE(run.err.find("measured again"), std::string::npos) << run.err;
  fs::remove_all(root);
}

}  // namespace
}  // namespace lingua

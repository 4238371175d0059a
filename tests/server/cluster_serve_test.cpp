// `lingua serve --local-devices 2`: the scheduler's batches go through a ClusterRun over two
// worker processes; concurrent greedy streams equal the prompt run alone by `lingua generate`,
// /metrics shows both devices and no sequence left, and SIGTERM stops it cleanly.
#include <cstdlib>
#include <unistd.h>

#include "serve_process.h"
#include "server_harness.h"

namespace lingua {
namespace {

using json = nlohmann::json;

TEST(ClusterServe, ConcurrentStreamsOnTwoLocalDevices) {
  const auto dir = std::filesystem::temp_directory_path() / ("lingua-serve-cluster-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // As the distributed CLI tests: the machine profile cached per build tree, keys in scratch.
  setenv("LINGUA_CACHE_DIR", (std::filesystem::path(testing::lingua_binary()).parent_path() / "test-profile-cache").c_str(), 1);
  setenv("LINGUA_KEYS", (dir / "keys").c_str(), 1);
  testing::ServeProcess serve({"-m", testing::shipped_model(), "--local-devices", "2", "-t", "2", "--parallel", "4"},
                              dir / "serve.log");
  ASSERT_GT(serve.port(), 0) << serve.log();
  const std::vector<std::string> prompts = {"And God said", "Thou shalt not", "The Lord is my shepherd"};
  std::vector<std::string> alone;
  for (const auto& p : prompts) alone.push_back(testing::greedy_generate(testing::shipped_model(), p, 32).text);
  constexpr int kClients = 6;
  std::vector<std::string> got(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", serve.port());
      c.set_read_timeout(120, 0);
      json body = {{"prompt", prompts[static_cast<size_t>(i) % prompts.size()]}, {"max_tokens", 32}, {"temperature", 0}, {"stream", true}};
      auto res = c.Post("/v1/completions", body.dump(), "application/json");
      if (res && res->status == 200) got[static_cast<size_t>(i)] = testing::streamed_text(testing::sse_documents(res->body));
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], alone[static_cast<size_t>(i) % prompts.size()]) << i;
  // Each sequence leaves (its KV caches freed on both devices) at the step after its last token.
  httplib::Client c("127.0.0.1", serve.port());
  auto m = c.Get("/metrics");
  for (int i = 0; i < 200 && m && testing::metric(m->body, "lingua_active_sequences") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    m = c.Get("/metrics");
  }
  ASSERT_TRUE(m);
  EXPECT_EQ(testing::metric(m->body, "lingua_devices"), 2) << m->body;
  EXPECT_EQ(testing::metric(m->body, "lingua_active_sequences"), 0) << m->body;
  EXPECT_NE(m->body.find("lingua_device_compute_seconds{device=\"dev0\"}"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("lingua_device_compute_seconds{device=\"dev1\"}"), std::string::npos) << m->body;
  EXPECT_EQ(serve.stop(), 0) << serve.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lingua

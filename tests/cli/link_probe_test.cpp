// Measured links through real worker processes on loopback: the head's link to each worker and a
// worker's links to others, in plain mode and with CURVE keys (where a worker admits another's
// key for probes only, after its head says so, and for nothing else); a worker stopped with
// SIGSTOP is a measurement with an error within the timeout and 2 s, and the head goes on.
// Nothing here asserts how fast a link is: only that it was measured.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/keys.h"
#include "net/wire.h"
#include "runtime/link_probe.h"
#include "runtime/local_devices.h"
#include "runtime/remote_pipeline.h"
#include "test_paths.h"
#include "worker_process.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using testing::LinguaProcess;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void expect_measured(const LinkMeasurement& m, const std::string& from, const std::string& to) {
  EXPECT_EQ(m.from, from);
  EXPECT_EQ(m.to, to);
  EXPECT_EQ(m.error, "") << from << " -> " << to;
  EXPECT_GT(m.rtt_s, 0) << from << " -> " << to;
  EXPECT_GT(m.bytes_per_s, 0) << from << " -> " << to;
  EXPECT_GT(m.bytes, 0u) << from << " -> " << to;
}

class LinkProbeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lingua-link-probe-test-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    workers_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A worker by hand on a free loopback port; its endpoint, or "" (with a failure) when it does not start.
  std::string start_worker(const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"worker", "--listen", "tcp://127.0.0.1:0", "--name", name, "--no-profile"};
    args.insert(args.end(), extra.begin(), extra.end());
    workers_.push_back(std::make_unique<LinguaProcess>(args, dir_ / (name + ".out"), dir_ / (name + ".err")));
    const std::string endpoint = workers_.back()->wait_for_log("listening on (tcp://127\\.0\\.0\\.1:[0-9]+)", 10).value_or("");
    EXPECT_FALSE(endpoint.empty()) << workers_.back()->err();
    return endpoint;
  }

  fs::path dir_;
  std::vector<std::unique_ptr<LinguaProcess>> workers_;
};

RemoteOptions insecure_head() {
  RemoteOptions ro;
  ro.channel.insecure = true;
  ro.heartbeat_ms = 5000;  // a worker stopped for a few seconds is not taken for lost
  return ro;
}

TEST_F(LinkProbeCli, HeadAndPeerLinksAreMeasuredInPlainMode) {
  const std::string a = start_worker("wa", {"--insecure"}), b = start_worker("wb", {"--insecure"}),
                    c = start_worker("wc", {"--insecure"});
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  // The head's names, not the workers' own --name, are the ones reported.
  auto remote = RemotePipeline::connect({{"a", a, "", 1, 0, {}}, {"b", b, "", 1, 0, {}}, {"c", c, "", 1, 0, {}}}, insecure_head());
  ASSERT_TRUE(remote) << remote.error();
  RemotePipeline& pipe = **remote;
  const ProbeOptions options{3, 256 * 1024, 5};
  for (int d = 0; d < 3; ++d) {
    auto m = pipe.measure_link(d, options);
    ASSERT_TRUE(m) << m.error();
    expect_measured(*m, "head", pipe.all_devices()[static_cast<size_t>(d)].name);
  }
  auto links = pipe.measure_peer_links(0, {1, 2}, options);
  ASSERT_TRUE(links) << links.error();
  ASSERT_EQ(links->size(), 2u);
  expect_measured((*links)[0], "a", "b");
  expect_measured((*links)[1], "a", "c");
  // Per target: itself is an error in place, the others are measured.
  auto back = pipe.measure_peer_links(2, {0, 2, 1}, {2, 4096, 1});
  ASSERT_TRUE(back) << back.error();
  ASSERT_EQ(back->size(), 3u);
  expect_measured((*back)[0], "c", "a");
  EXPECT_NE((*back)[1].error.find("itself"), std::string::npos) << (*back)[1].error;
  expect_measured((*back)[2], "c", "b");
  // Again, as the balancer would ask: the cache is the caller's, the links answer every time.
  auto again = pipe.measure_peer_links(1, {0}, options);
  ASSERT_TRUE(again) << again.error();
  expect_measured(again->at(0), "b", "a");

  // The head's own mistakes are the Expected's error.
  EXPECT_FALSE(pipe.measure_link(3, options));
  EXPECT_FALSE(pipe.measure_link(-1, options));
  EXPECT_FALSE(pipe.measure_peer_links(0, {7}, options));
  auto bad = pipe.measure_link(0, {0, 1024, 1});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("timeout_s"), std::string::npos) << bad.error();
  EXPECT_FALSE(pipe.measure_peer_links(0, {1}, {3, 8u << 20, 1}));
  pipe.forget(2);
  auto gone = pipe.measure_link(2, options);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().find("device c is not connected"), std::string::npos) << gone.error();
  auto to_gone = pipe.measure_peer_links(0, {2}, options);
  ASSERT_TRUE(to_gone) << to_gone.error();
  EXPECT_NE(to_gone->at(0).error.find("not connected"), std::string::npos) << to_gone->at(0).error;
}

TEST_F(LinkProbeCli, StoppedWorkerIsAnErrorWithinTheTimeoutAndTheHeadGoesOn) {
  const std::string a = start_worker("wa", {"--insecure"}), b = start_worker("wb", {"--insecure"});
  ASSERT_FALSE(a.empty() || b.empty());
  auto remote = RemotePipeline::connect({{"a", a, "", 1, 0, {}}, {"b", b, "", 1, 0, {}}}, insecure_head());
  ASSERT_TRUE(remote) << remote.error();
  RemotePipeline& pipe = **remote;
  const ProbeOptions options{1, 64 * 1024, 3};

  ASSERT_EQ(::kill(workers_[1]->pid(), SIGSTOP), 0);
  auto t0 = Clock::now();
  auto head_to_b = pipe.measure_link(1, options);
  double took = seconds_since(t0);
  ASSERT_TRUE(head_to_b) << head_to_b.error();
  EXPECT_NE(head_to_b->error.find("no answer within 1 s"), std::string::npos) << head_to_b->error;
  EXPECT_LT(took, 1 + 2.0);
  EXPECT_EQ(head_to_b->bytes_per_s, 0);

  t0 = Clock::now();
  auto a_to_b = pipe.measure_peer_links(0, {1}, options);
  took = seconds_since(t0);
  ASSERT_TRUE(a_to_b) << a_to_b.error();
  EXPECT_NE(a_to_b->at(0).error.find("no answer within 1 s"), std::string::npos) << a_to_b->at(0).error;
  EXPECT_LT(took, 1 + 2.0);

  // The prober itself stopped: the head gives up on its report, not on the run.
  t0 = Clock::now();
  auto b_to_a = pipe.measure_peer_links(1, {0}, options);
  took = seconds_since(t0);
  ASSERT_TRUE(b_to_a) << b_to_a.error();
  EXPECT_NE(b_to_a->at(0).error.find("no answer within 1 s"), std::string::npos) << b_to_a->at(0).error;
  EXPECT_LT(took, 1 + 2.0);

  // Meanwhile the other worker answers as before.
  auto head_to_a = pipe.measure_link(0, options);
  ASSERT_TRUE(head_to_a) << head_to_a.error();
  expect_measured(*head_to_a, "head", "a");

  // Woken again, the stopped one is measured again, and its late answers confuse nothing.
  ASSERT_EQ(::kill(workers_[1]->pid(), SIGCONT), 0);
  auto woken = pipe.measure_link(1, options);
  ASSERT_TRUE(woken) << woken.error();
  expect_measured(*woken, "head", "b");
  auto peers = pipe.measure_peer_links(1, {0}, options);
  ASSERT_TRUE(peers) << peers.error();
  expect_measured(peers->at(0), "b", "a");
  auto peers_back = pipe.measure_peer_links(0, {1}, options);
  ASSERT_TRUE(peers_back) << peers_back.error();
  expect_measured(peers_back->at(0), "a", "b");
}

// Workers by hand with keys directories: each trusts the head's key; neither trusts the other.
TEST_F(LinkProbeCli, CurveWorkersAcceptAProberForProbesOnly) {
  auto head = generate_keypair();
  ASSERT_TRUE(head) << head.error();
  std::vector<KeyPair> keys;
  std::vector<std::string> endpoints;
  for (const std::string name : {"ka", "kb"}) {
    const fs::path kd = dir_ / (name + "-keys");
    auto own = generate_keypair();
    ASSERT_TRUE(own) << own.error();
    ASSERT_TRUE(write_keypair(kd, "lingua", *own, false).is_ok());
    ASSERT_TRUE(write_public_key(kd / "heads", "head", head->public_key, false).is_ok());
    keys.push_back(*own);
    endpoints.push_back(start_worker(name, {"--keys", kd.string()}));
    ASSERT_FALSE(endpoints.back().empty());
  }
  RemoteOptions ro;
  ro.channel.own = *head;
  auto remote = RemotePipeline::connect(
      {{"ka", endpoints[0], keys[0].public_key, 1, 0, {}}, {"kb", endpoints[1], keys[1].public_key, 1, 0, {}}}, ro);
  ASSERT_TRUE(remote) << remote.error();
  RemotePipeline& pipe = **remote;
  const ProbeOptions options{3, 128 * 1024, 3};

  // Before any link test, ka's key is nobody at kb.
  zmq::context_t context(1);
  ChannelOptions as_ka;
  as_ka.own = keys[0];
  as_ka.server_public = keys[1].public_key;
  const LinkMeasurement before = measure_link_to(context, endpoints[1], as_ka, "ka", "kb", {1, 4096, 1});
  EXPECT_FALSE(before.error.empty());
  EXPECT_NE(before.error.find("refused"), std::string::npos) << before.error;

  for (int d = 0; d < 2; ++d) {
    auto m = pipe.measure_link(d, options);
    ASSERT_TRUE(m) << m.error();
    expect_measured(*m, "head", d == 0 ? "ka" : "kb");
  }
  auto ab = pipe.measure_peer_links(0, {1}, options);
  ASSERT_TRUE(ab) << ab.error();
  expect_measured(ab->at(0), "ka", "kb");
  auto ba = pipe.measure_peer_links(1, {0}, options);
  ASSERT_TRUE(ba) << ba.error();
  expect_measured(ba->at(0), "kb", "ka");

  // Now ka's key may probe kb...
  const LinkMeasurement after = measure_link_to(context, endpoints[1], as_ka, "ka", "kb", {3, 4096, 1});
  EXPECT_EQ(after.error, "");
  EXPECT_GT(after.rtt_s, 0);
  // ...and do nothing else there: a HELLO (or an ASSIGN) under that key is dropped unanswered.
  auto client = Client::connect(context, endpoints[1], as_ka);
  ASSERT_TRUE(client) << client.error();
  ASSERT_TRUE(client->send(encode_frame(bytes_frame(MessageType::kHello, 0, "{\"name\":\"intruder\"}"))).is_ok());
  ASSERT_TRUE(client->send(encode_frame(bytes_frame(MessageType::kAssign, 0, "{\"standby\":true}"))).is_ok());
  auto answer = client->receive(1500);
  EXPECT_FALSE(answer) << "a prober key got an answer to a HELLO";
  EXPECT_TRUE(workers_[1]->wait_for_log("dropped a HELLO frame from a key admitted for link probes only", 5))
      << workers_[1]->err();
  // The head still holds kb.
  auto still = pipe.measure_peer_links(0, {1}, options);
  ASSERT_TRUE(still) << still.error();
  expect_measured(still->at(0), "ka", "kb");
}

// The head starts the workers itself (--local-devices' way), with keys made on the fly.
TEST_F(LinkProbeCli, LocalCurveDevicesMeasureEachOther) {
  auto head = generate_keypair();
  ASSERT_TRUE(head) << head.error();
  auto local = LocalDevices::start(testing::lingua_binary(), {"m0", "m1", "m2"}, *head, false);
  ASSERT_TRUE(local) << local.error();
  std::vector<RemoteDevice> devices;
  for (const LocalWorker& w : (*local)->workers()) devices.push_back({w.name, w.endpoint, w.public_key, 1, 0, {}});
  RemoteOptions ro;
  ro.channel.own = *head;
  auto remote = RemotePipeline::connect(devices, ro);
  ASSERT_TRUE(remote) << remote.error();
  auto links = (*remote)->measure_peer_links(2, {0, 1}, {});
  ASSERT_TRUE(links) << links.error();
  expect_measured(links->at(0), "m2", "m0");
  expect_measured(links->at(1), "m2", "m1");
  auto head_link = (*remote)->measure_link(1, {});
  ASSERT_TRUE(head_link) << head_link.error();
  expect_measured(*head_link, "head", "m1");
}

}  // namespace
}  // namespace lingua

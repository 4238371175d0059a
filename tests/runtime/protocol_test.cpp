// The head/worker control messages (runtime/protocol.h): a valid assignment survives the round
// trip, and every malformed one (missing or mistyped fields, values out of range, a broken
// partition, random corruption of the text) is an error naming the problem, never a crash.
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "runtime/protocol.h"
#include "runtime/segment_weights.h"

namespace lingua {
namespace {

SegmentAssignment sample() {
  SegmentAssignment a;
  a.device = "phone-a";
  a.model_path = "/models/m.gguf";
  a.weights_hash = 0x0123456789abcdefULL;
  a.weights_tensors = {"blk.0.attn_q.weight", "output.weight"};
  a.file_bytes = 12345678;
  a.partition = {{0, 40}, {41, 80}, {81, 92}};
  a.segment = 1;
  a.context = 256;
  a.max_batch = 32;
  a.max_sequences = 4;
  a.threads = 2;
  a.memory_bytes = 1 << 30;
  a.slowdown = 2.5;
  a.slowdown_after_tokens = 8;
  a.wire_dtype = DType::F16;
  a.peers = {{2, "tcp://127.0.0.1:7001", "", 0.005, 12.5e6}};
  a.trusted_peers = {"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"};
  a.resume = true;
  a.sequences = {{1, 24}, {7, 3}};
  return a;
}

TEST(Protocol, AssignmentRoundTrip) {
  const SegmentAssignment a = sample();
  auto b = parse_assignment(to_json(a));
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->device, a.device);
  EXPECT_EQ(b->model_path, a.model_path);
  EXPECT_EQ(b->weights_hash, a.weights_hash);
  EXPECT_EQ(b->weights_tensors, a.weights_tensors);
  EXPECT_EQ(b->file_bytes, a.file_bytes);
  ASSERT_EQ(b->partition.size(), 3u);
  EXPECT_EQ(b->partition[1].first_op, 41);
  EXPECT_EQ(b->partition[1].last_op, 80);
  EXPECT_EQ(b->segment, 1);
  EXPECT_EQ(b->context, 256);
  EXPECT_EQ(b->max_batch, 32);
  EXPECT_EQ(b->max_sequences, 4);
  EXPECT_EQ(b->threads, 2);
  EXPECT_EQ(b->memory_bytes, uint64_t{1} << 30);
  EXPECT_DOUBLE_EQ(b->slowdown, 2.5);
  EXPECT_EQ(b->slowdown_after_tokens, 8);
  EXPECT_EQ(b->wire_dtype, DType::F16);
  ASSERT_EQ(b->peers.size(), 1u);
  EXPECT_EQ(b->peers[0].segment, 2);
  EXPECT_EQ(b->peers[0].endpoint, "tcp://127.0.0.1:7001");
  EXPECT_DOUBLE_EQ(b->peers[0].bytes_per_s, 12.5e6);
  EXPECT_EQ(b->trusted_peers, a.trusted_peers);
  EXPECT_TRUE(b->resume);
  EXPECT_EQ(b->sequences, a.sequences);
}

TEST(Protocol, KvExportRequestRoundTripAndGarbage) {
  auto r = parse_kv_export_request(to_json(KvExportRequest{12, 40}));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->keep_first, 12);
  EXPECT_EQ(r->keep_last, 40);
  auto none = parse_kv_export_request(to_json(KvExportRequest{}));
  ASSERT_TRUE(none);
  EXPECT_GT(none->keep_first, none->keep_last) << "the default keeps nothing";
  for (const char* bad : {"", "{}", "{\"keep\":[1]}", "{\"keep\":\"x\"}", "[1,2]"}) EXPECT_FALSE(parse_kv_export_request(bad)) << bad;
}

TEST(Protocol, BatchStepRoundTripAndBadGroups) {
  BatchStep b;
  b.groups.push_back({7, 0, {1, 2, 3}});
  b.groups.push_back({0xfedcba9876543210ULL, 41, {5}});
  auto back = parse_batch_step(to_json(b));
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->groups.size(), 2u);
  EXPECT_EQ(back->groups[1].sequence, 0xfedcba9876543210ULL);
  EXPECT_EQ(back->groups[1].pos0, 41);
  EXPECT_EQ(back->groups[0].tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(back->rows(), 4);
  const std::pair<const char*, const char*> bad[] = {
      {"[]", "not a JSON object"},
      {"{}", "'groups'"},
      {"{\"groups\":[]}", "0 groups"},
      {"{\"groups\":[{\"sequence\":0,\"pos0\":0,\"tokens\":[1]}]}", "reserved"},
      {"{\"groups\":[{\"sequence\":-3,\"pos0\":0,\"tokens\":[1]}]}", "groups[0].sequence"},
      {"{\"groups\":[{\"sequence\":1,\"pos0\":0,\"tokens\":[1]},{\"sequence\":1,\"pos0\":4,\"tokens\":[1]}]}", "appears twice"},
      {"{\"groups\":[{\"sequence\":1,\"pos0\":-1,\"tokens\":[1]}]}", "pos0 is negative"},
      {"{\"groups\":[{\"sequence\":1,\"pos0\":0,\"tokens\":[]}]}", "groups[0].tokens"},
      {"{\"groups\":[{\"sequence\":1,\"pos0\":0,\"tokens\":[-2]}]}", "negative id"},
      {"{\"groups\":[{\"sequence\":1,\"pos0\":0,\"tokens\":\"x\"}]}", "tokens"},
      {"{\"groups\":[5]}", "not an object"},
  };
  for (const auto& [text, why] : bad) {
    auto r = parse_batch_step(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_NE(r.error().find(why), std::string::npos) << text << ": " << r.error();
  }
  nlohmann::json groups = nlohmann::json::array();
  for (size_t i = 0; i <= kMaxBatchGroups; ++i) groups.push_back({{"sequence", i + 1}, {"pos0", 0}, {"tokens", {1}}});
  auto too_many = parse_batch_step(nlohmann::json{{"groups", groups}}.dump());
  ASSERT_FALSE(too_many.has_value());
  EXPECT_NE(too_many.error().find("257 groups"), std::string::npos) << too_many.error();
}

TEST(Protocol, StepReportRoundTripAndBadValues) {
  StepReport r;
  r.sequence = 3, r.position = 17, r.tokens = 1, r.compute_s = 0.0125, r.wait_s = 0.002, r.link_s = 0.0051;
  r.memory_bytes = 123456789, r.temperature_c = 41.5;
  r.links = {{2, 0.003}, {3, 0.0021}};
  auto b = parse_step_report(to_json(r));
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->sequence, 3u);
  EXPECT_EQ(b->position, 17);
  EXPECT_EQ(b->tokens, 1);
  EXPECT_DOUBLE_EQ(b->compute_s, 0.0125);
  EXPECT_DOUBLE_EQ(b->wait_s, 0.002);
  EXPECT_DOUBLE_EQ(b->link_s, 0.0051);
  EXPECT_EQ(b->memory_bytes, 123456789u);
  EXPECT_DOUBLE_EQ(b->temperature_c, 41.5);
  EXPECT_DOUBLE_EQ(b->battery, -1);
  EXPECT_EQ(b->links, r.links);
  for (const char* bad : {"", "[]", "{\"sequence\":1}", "{\"sequence\":1,\"position\":0,\"tokens\":1,\"compute_s\":-1,"
                          "\"wait_s\":0,\"link_s\":0,\"memory_bytes\":0}",
                          "{\"sequence\":1,\"position\":0,\"tokens\":0,\"compute_s\":0,\"wait_s\":0,\"link_s\":0,\"memory_bytes\":0}",
                          "{\"sequence\":1,\"position\":0,\"tokens\":1,\"compute_s\":\"x\",\"wait_s\":0,\"link_s\":0,\"memory_bytes\":0}"}) {
    auto got = parse_step_report(bad);
    EXPECT_FALSE(got) << bad;
    if (!got) {
      EXPECT_NE(got.error().find("step report"), std::string::npos) << got.error();
    }
  }
}

TEST(Protocol, HelloRoundTripAndGarbage) {
  auto h = parse_worker_hello(to_json(WorkerHello{"w1", "key", 8, std::nullopt}));
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->name, "w1");
  EXPECT_EQ(h->public_key, "key");
  EXPECT_EQ(h->cores, 8);
  EXPECT_FALSE(parse_worker_hello("not json"));
  EXPECT_FALSE(parse_worker_hello("[1,2]"));
  EXPECT_FALSE(parse_worker_hello("{\"name\":3,\"public_key\":\"k\"}"));
  EXPECT_FALSE(h->profile.has_value());
  EXPECT_EQ(nlohmann::json::parse(to_json(*h)).count("profile"), 0u);
}

DeviceProfile sample_profile() {
  DeviceProfile p;
  p.threads = 2;
  p.cores = 4;
  p.cpu_quota_cores = 0.5;
  p.memory_bytes = 300ull << 20;
  p.mem_available_bytes = 2ull << 30;
  p.memory_flag_bytes = 300ull << 20;
  p.rates.flops_per_s[static_cast<size_t>(DType::F32)] = 4e9;
  p.rates.flops_per_s[static_cast<size_t>(DType::Q4_K)] = 6e9;
  p.rates.bytes_per_s = 3e9;
  p.rates.seconds_per_op = 1e-6;
  p.temperature_c = 48;
  p.source = "measured now";
  return p;
}

TEST(Protocol, HelloCarriesTheWorkersProfile) {
  auto h = parse_worker_hello(to_json(WorkerHello{"w1", "key", 4, sample_profile()}));
  ASSERT_TRUE(h) << h.error();
  ASSERT_TRUE(h->profile.has_value());
  EXPECT_EQ(h->profile->threads, 2);
  EXPECT_DOUBLE_EQ(h->profile->cpu_quota_cores, 0.5);
  EXPECT_EQ(h->profile->memory_bytes, 300ull << 20);
  EXPECT_EQ(h->profile->memory_flag_bytes, 300ull << 20);
  EXPECT_DOUBLE_EQ(h->profile->rates.flops_for(DType::Q4_K), 6e9);
  EXPECT_DOUBLE_EQ(h->profile->temperature_c, 48);
  // null is an absent profile (an older worker may write it so).
  auto none = parse_worker_hello("{\"name\":\"w\",\"public_key\":\"\",\"profile\":null}");
  ASSERT_TRUE(none) << none.error();
  EXPECT_FALSE(none->profile.has_value());
}

TEST(Protocol, HelloWithABadProfileNamesTheField) {
  nlohmann::json j = nlohmann::json::parse(to_json(WorkerHello{"w1", "key", 4, sample_profile()}));
  j["profile"]["rates"]["bytes_per_s"] = -3;
  auto h = parse_worker_hello(j.dump());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().find("worker HELLO"), std::string::npos) << h.error();
  EXPECT_NE(h.error().find("'rates.bytes_per_s'"), std::string::npos) << h.error();
  j = nlohmann::json::parse(to_json(WorkerHello{"w1", "key", 4, sample_profile()}));
  j["profile"] = "fast";
  h = parse_worker_hello(j.dump());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().find("device profile"), std::string::npos) << h.error();
  j = nlohmann::json::parse(to_json(WorkerHello{"w1", "key", 4, sample_profile()}));
  j["profile"]["threads"] = 0;
  h = parse_worker_hello(j.dump());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().find("'threads'"), std::string::npos) << h.error();
}

TEST(Protocol, AssignmentThreadsZeroMeansTheWorkersOwn) {
  SegmentAssignment a = sample();
  a.threads = 0;
  auto back = parse_assignment(to_json(a));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->threads, 0);
  a.threads = -1;
  EXPECT_FALSE(parse_assignment(to_json(a)));
}

// Each case breaks one thing; the error must name the field or the rule.
TEST(Protocol, BadAssignmentsNameTheProblem) {
  struct Case {
    const char* what;
    void (*breakit)(nlohmann::json&);
    const char* expect;
  };
  const Case cases[] = {
      {"missing device", [](nlohmann::json& j) { j.erase("device"); }, "device"},
      {"context as text", [](nlohmann::json& j) { j["context"] = "many"; }, "context"},
      {"zero context", [](nlohmann::json& j) { j["context"] = 0; }, "context"},
      {"gap in partition", [](nlohmann::json& j) { j["partition"][1][0] = 50; }, "contiguous"},
      {"partition not from 0", [](nlohmann::json& j) { j["partition"][0][0] = 1; }, "contiguous"},
      {"segment past the end", [](nlohmann::json& j) { j["segment"] = 3; }, "segment"},
      {"negative segment", [](nlohmann::json& j) { j["segment"] = -1; }, "segment"},
      {"negative threads", [](nlohmann::json& j) { j["threads"] = -1; }, "threads"},
      {"speedup instead of slowdown", [](nlohmann::json& j) { j["slowdown"] = 0.5; }, "slowdown"},
      {"bad wire dtype", [](nlohmann::json& j) { j["wire_dtype"] = "q8_0"; }, "wire_dtype"},
      {"bad hash", [](nlohmann::json& j) { j["weights_hash"] = "xyz"; }, "hash"},
      {"no tensors", [](nlohmann::json& j) { j["weights_tensors"] = nlohmann::json::array(); }, "tensors"},
      {"peer before this segment", [](nlohmann::json& j) { j["peers"][0]["segment"] = 0; }, "peer"},
      {"peer without endpoint", [](nlohmann::json& j) { j["peers"][0]["endpoint"] = ""; }, "endpoint"},
      {"negative link latency", [](nlohmann::json& j) { j["peers"][0]["latency_s"] = -1; }, "link"},
      {"peers not a list", [](nlohmann::json& j) { j["peers"] = 5; }, "peers"},
      {"too many sequences", [](nlohmann::json& j) { j["max_sequences"] = 100000; }, "max_sequences"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = nlohmann::json::parse(to_json(sample()));
    c.breakit(j);
    auto r = parse_assignment(j.dump());
    ASSERT_FALSE(r) << c.what;
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << c.what << ": " << r.error();
  }
}

// Random byte flips, truncations and insertions in a valid assignment: parsed or refused, never a
// crash (this test runs under ASan+UBSan in tools/test.sh).
TEST(Protocol, CorruptedAssignmentsNeverCrash) {
  const std::string valid = to_json(sample());
  std::mt19937 rng(7);
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = static_cast<char>(rng() & 0xff); break;
        case 1: s.resize(at); break;
        default: s = s.substr(0, at) + "{}[],:\"0-e"[rng() % 10] + s.substr(at); break;
      }
      if (s.empty()) s.push_back('x');
    }
    if (!parse_assignment(s)) ++refused;
  }
  EXPECT_GT(refused, 15000);  // nearly every corruption breaks the JSON or a rule
}

TEST(Protocol, HashHex) {
  EXPECT_EQ(hash_hex(0xdeadbeefULL), "00000000deadbeef");
  auto h = parse_hash_hex("00000000deadbeef");
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, 0xdeadbeefULL);
  EXPECT_FALSE(parse_hash_hex("deadbeef"));
  EXPECT_FALSE(parse_hash_hex("00000000DEADBEEF"));
  EXPECT_FALSE(parse_hash_hex("0000000000000g00"));
}


// ---------------------------------------------------------------- LINK_TEST

constexpr const char* kKeyA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* kKeyB = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

LinkTestRequest sample_request() {
  LinkTestRequest r;
  r.targets = {{"phone-b", "tcp://192.168.1.21:7700", kKeyA}, {"laptop", "tcp://[::1]:7701", ""}};
  r.timeout_s = 2.5;
  r.bulk_bytes = 512 * 1024;
  r.pings = 7;
  r.accept_keys = {kKeyB};
  return r;
}

LinkTestReport sample_report() {
  LinkTestReport r;
  r.links = {{"phone-a", "phone-b", 0.0021, 11.5e6, 262144, ""}, {"phone-a", "laptop", 0, 0, 0, "no answer within 3 s"}};
  return r;
}

TEST(Protocol, LinkTestRequestRoundTrip) {
  const LinkTestRequest want = sample_request();
  auto got = parse_link_test_request(to_json(want));
  ASSERT_TRUE(got) << got.error();
  ASSERT_EQ(got->targets.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got->targets[i].name, want.targets[i].name);
    EXPECT_EQ(got->targets[i].endpoint, want.targets[i].endpoint);
    EXPECT_EQ(got->targets[i].public_key, want.targets[i].public_key);
  }
  EXPECT_EQ(got->timeout_s, 2.5);
  EXPECT_EQ(got->bulk_bytes, 512u * 1024);
  EXPECT_EQ(got->pings, 7);
  EXPECT_EQ(got->accept_keys, want.accept_keys);

  // A grant alone (no targets) and a request without accept_keys (older heads) are both valid.
  LinkTestRequest grant;
  grant.accept_keys = {kKeyA};
  auto g = parse_link_test_request(to_json(grant));
  ASSERT_TRUE(g) << g.error();
  EXPECT_TRUE(g->targets.empty());
  EXPECT_EQ(g->accept_keys.size(), 1u);
  nlohmann::json j = nlohmann::json::parse(to_json(want));
  j.erase("accept_keys");
  auto no_keys = parse_link_test_request(j.dump());
  ASSERT_TRUE(no_keys) << no_keys.error();
  EXPECT_TRUE(no_keys->accept_keys.empty());
}

TEST(Protocol, LinkTestReportRoundTrip) {
  const LinkTestReport want = sample_report();
  auto got = parse_link_test_report(to_json(want));
  ASSERT_TRUE(got) << got.error();
  ASSERT_EQ(got->links.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got->links[i].from, want.links[i].from);
    EXPECT_EQ(got->links[i].to, want.links[i].to);
    EXPECT_EQ(got->links[i].rtt_s, want.links[i].rtt_s);
    EXPECT_EQ(got->links[i].bytes_per_s, want.links[i].bytes_per_s);
    EXPECT_EQ(got->links[i].bytes, want.links[i].bytes);
    EXPECT_EQ(got->links[i].error, want.links[i].error);
  }
  auto empty = parse_link_test_report(to_json(LinkTestReport{}));
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_TRUE(empty->links.empty());
  // A name that is not UTF-8 (a worker's --name is any bytes) is replaced, never thrown over.
  LinkTestReport odd = want;
  odd.links[0].from = "dev\xff\xfe";
  auto replaced = parse_link_test_report(to_json(odd));
  ASSERT_TRUE(replaced) << replaced.error();
  EXPECT_EQ(replaced->links[0].from, "dev\xef\xbf\xbd\xef\xbf\xbd");
  // One measurement alone is the same object as in a report.
  EXPECT_EQ(nlohmann::json::parse(to_json(want.links[0])), nlohmann::json::parse(to_json(want))["links"][0]);
}

// Each case breaks one field; the error must name it.
TEST(Protocol, BadLinkTestRequestsNameTheField) {
  struct Case {
    const char* what;
    void (*breakit)(nlohmann::json&);
    const char* expect;
  };
  const Case cases[] = {
      {"not an object", [](nlohmann::json& j) { j = nlohmann::json::array(); }, "not a JSON object"},
      {"missing targets", [](nlohmann::json& j) { j.erase("targets"); }, "'targets'"},
      {"targets not a list", [](nlohmann::json& j) { j["targets"] = "b"; }, "'targets' is not a list"},
      {"65 targets",
       [](nlohmann::json& j) {
         for (int i = 0; i < 63; ++i) j["targets"].push_back(j["targets"][0]);
       },
       "at most 64"},
      {"target not an object", [](nlohmann::json& j) { j["targets"][1] = 3; }, "targets[1]"},
      {"target without name", [](nlohmann::json& j) { j["targets"][0].erase("name"); }, "targets[0]: missing field 'name'"},
      {"empty name", [](nlohmann::json& j) { j["targets"][0]["name"] = ""; }, "targets[0].name"},
      {"name with an escape", [](nlohmann::json& j) { j["targets"][0]["name"] = "a\x1b[2Jb"; }, "targets[0].name"},
      {"long name", [](nlohmann::json& j) { j["targets"][0]["name"] = std::string(300, 'n'); }, "targets[0].name"},
      {"bad endpoint scheme", [](nlohmann::json& j) { j["targets"][1]["endpoint"] = "http://x:1"; }, "targets[1].endpoint"},
      {"endpoint without port", [](nlohmann::json& j) { j["targets"][0]["endpoint"] = "tcp://10.0.0.2"; }, "targets[0].endpoint"},
      {"wildcard endpoint", [](nlohmann::json& j) { j["targets"][0]["endpoint"] = "tcp://*:7700"; }, "targets[0].endpoint"},
      {"bad key", [](nlohmann::json& j) { j["targets"][0]["public_key"] = "short"; }, "targets[0].public_key"},
      {"key of wrong type", [](nlohmann::json& j) { j["targets"][0]["public_key"] = 5; }, "public_key"},
      {"zero timeout", [](nlohmann::json& j) { j["timeout_s"] = 0; }, "timeout_s"},
      {"negative timeout", [](nlohmann::json& j) { j["timeout_s"] = -1; }, "timeout_s"},
      {"timeout past 60 s", [](nlohmann::json& j) { j["timeout_s"] = 60.5; }, "timeout_s"},
      {"timeout as text", [](nlohmann::json& j) { j["timeout_s"] = "3"; }, "timeout_s"},
      {"missing timeout", [](nlohmann::json& j) { j.erase("timeout_s"); }, "timeout_s"},
      {"bulk past 4 MiB", [](nlohmann::json& j) { j["bulk_bytes"] = 4 * 1024 * 1024 + 1; }, "bulk_bytes"},
      {"bulk below 1 KiB", [](nlohmann::json& j) { j["bulk_bytes"] = 100; }, "bulk_bytes"},
      {"negative bulk", [](nlohmann::json& j) { j["bulk_bytes"] = -1; }, "bulk_bytes"},
      {"fractional bulk", [](nlohmann::json& j) { j["bulk_bytes"] = 4096.5; }, "bulk_bytes"},
      {"huge bulk", [](nlohmann::json& j) { j["bulk_bytes"] = 1e30; }, "bulk_bytes"},
      {"no pings", [](nlohmann::json& j) { j["pings"] = 0; }, "pings"},
      {"51 pings", [](nlohmann::json& j) { j["pings"] = 51; }, "pings"},
      {"pings past int", [](nlohmann::json& j) { j["pings"] = 1e10; }, "pings"},
      {"missing pings", [](nlohmann::json& j) { j.erase("pings"); }, "pings"},
      {"bad accept key", [](nlohmann::json& j) { j["accept_keys"][0] = "0123456789"; }, "accept_keys[0]"},
      {"accept keys not a list", [](nlohmann::json& j) { j["accept_keys"] = "k"; }, "accept_keys"},
      {"65 accept keys",
       [](nlohmann::json& j) {
         for (int i = 0; i < 64; ++i) j["accept_keys"].push_back(kKeyA);
       },
       "accept_keys"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = nlohmann::json::parse(to_json(sample_request()));
    c.breakit(j);
    auto r = parse_link_test_request(j.dump());
    ASSERT_FALSE(r) << c.what;
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << c.what << ": " << r.error();
    EXPECT_NE(r.error().find("link test request"), std::string::npos) << c.what << ": " << r.error();
  }
  EXPECT_FALSE(parse_link_test_request("{\"targets\":"));
  EXPECT_FALSE(parse_link_test_request(""));
}

TEST(Protocol, BadLinkTestReportsNameTheField) {
  struct Case {
    const char* what;
    void (*breakit)(nlohmann::json&);
    const char* expect;
  };
  const Case cases[] = {
      {"missing links", [](nlohmann::json& j) { j.erase("links"); }, "'links'"},
      {"links not a list", [](nlohmann::json& j) { j["links"] = nlohmann::json::object(); }, "'links' is not a list"},
      {"65 links",
       [](nlohmann::json& j) {
         for (int i = 0; i < 63; ++i) j["links"].push_back(j["links"][0]);
       },
       "at most 64"},
      {"link not an object", [](nlohmann::json& j) { j["links"][0] = "x"; }, "links[0]"},
      {"missing from", [](nlohmann::json& j) { j["links"][1].erase("from"); }, "links[1]: missing field 'from'"},
      {"empty to", [](nlohmann::json& j) { j["links"][0]["to"] = ""; }, "links[0].to"},
      {"escape in error", [](nlohmann::json& j) { j["links"][1]["error"] = "\x1b]0;owned\x07"; }, "links[1].error"},
      {"long error", [](nlohmann::json& j) { j["links"][1]["error"] = std::string(1001, 'e'); }, "links[1].error"},
      {"negative rtt", [](nlohmann::json& j) { j["links"][0]["rtt_s"] = -0.1; }, "rtt_s"},
      {"rtt of a day", [](nlohmann::json& j) { j["links"][0]["rtt_s"] = 86400; }, "rtt_s"},
      {"negative bandwidth", [](nlohmann::json& j) { j["links"][0]["bytes_per_s"] = -5; }, "bytes_per_s"},
      {"absurd bandwidth", [](nlohmann::json& j) { j["links"][0]["bytes_per_s"] = 1e300; }, "bytes_per_s"},
      {"bytes past 4 MiB", [](nlohmann::json& j) { j["links"][0]["bytes"] = 5 * 1024 * 1024; }, "bytes"},
      {"negative bytes", [](nlohmann::json& j) { j["links"][0]["bytes"] = -1; }, "bytes"},
      {"measured without rtt", [](nlohmann::json& j) { j["links"][0]["rtt_s"] = 0; }, "links[0]"},
      {"measured without bandwidth", [](nlohmann::json& j) { j["links"][0]["bytes_per_s"] = 0; }, "links[0]"},
      {"error of wrong type", [](nlohmann::json& j) { j["links"][0]["error"] = nullptr; }, "error"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = nlohmann::json::parse(to_json(sample_report()));
    c.breakit(j);
    auto r = parse_link_test_report(j.dump());
    ASSERT_FALSE(r) << c.what;
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << c.what << ": " << r.error();
    EXPECT_NE(r.error().find("link test report"), std::string::npos) << c.what << ": " << r.error();
  }
}

// Random corruption of valid link messages: parsed or refused, never a crash (ASan+UBSan run it).
TEST(Protocol, CorruptedLinkMessagesNeverCrash) {
  const std::string valid[] = {to_json(sample_request()), to_json(sample_report())};
  std::mt19937 rng(11);
  int refused = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string s = valid[i % 2];
    const size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0: s[at] = static_cast<char>(rng() & 0xff); break;
      case 1: s.resize(at); break;
      default: s = s.substr(0, at) + "{}[],:\"0-e"[rng() % 10] + s.substr(at); break;
    }
    const bool ok = i % 2 == 0 ? parse_link_test_request(s).has_value() : parse_link_test_report(s).has_value();
    if (!ok) ++refused;
  }
  EXPECT_GT(refused, 5000);
}

// Keys trusted before a plan's assignments go out together: round trip, told apart from an
// assignment, and every bad form refused naming the field.
TEST(Protocol, TrustPeersRoundTripAndGarbage) {
  const TrustPeers t{{kKeyA, kKeyB}};
  const std::string text = to_json(t);
  EXPECT_TRUE(is_trust_peers(text));
  EXPECT_FALSE(is_trust_peers(kStandbyAssignment));
  auto got = parse_trust_peers(text);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->keys, t.keys);
  EXPECT_TRUE(parse_trust_peers("{\"trust_peers\":[]}"));
  for (const std::string bad : {"", "[]", "{}", "{\"trust_peers\":3}", "{\"trust_peers\":[\"short\"]}",
                                "{\"trust_peers\":[1]}", "not json"}) {
    auto r = parse_trust_peers(bad);
    EXPECT_FALSE(r) << bad;
  }
  std::vector<std::string> many(65, kKeyA);
  EXPECT_FALSE(parse_trust_peers(to_json(TrustPeers{many})));
  auto short_key = parse_trust_peers("{\"trust_peers\":[\"" + std::string(kKeyA).substr(1) + "\"]}");
  ASSERT_FALSE(short_key);
  EXPECT_NE(short_key.error().find("trust_peers[0]"), std::string::npos) << short_key.error();
}

}  // namespace
}  // namespace lingua

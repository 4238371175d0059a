// Several hundred bad requests of many kinds against one server: each is answered with an error
// status in OpenAI's shape (or, for bytes that are not HTTP, a 400 or a closed connection), a
// request that stalls half-sent is dropped after the read timeout, and the server still serves.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "server_harness.h"

namespace lingua {
namespace {

using json = nlohmann::json;

// A raw TCP exchange: sends `bytes`, then reads until the server closes or `timeout_ms` passes.
struct RawReply {
  int status = 0;        // from the status line, 0 when none came
  bool closed = false;   // the server closed the connection
  std::string text;
};

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes, `timeout_ms` passes, or (with `until_head`) a response head is in.
RawReply read_reply(int fd, int timeout_ms, bool until_head = false) {
  RawReply r;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.text.append(buffer, static_cast<size_t>(n));
    if (until_head && r.text.find("\r\n\r\n") != std::string::npos) break;
  }
  if (r.text.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(r.text.c_str() + 9);
  return r;
}

RawReply raw_exchange(int port, const std::string& bytes, int timeout_ms = 5000) {
  const int fd = connect_to(port);
  if (fd < 0) return {};
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may refuse before reading everything
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  RawReply r = read_reply(fd, timeout_ms);
  ::close(fd);
  return r;
}

std::string http_post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

class MalformedRequests : public testing::ShippedModelSuite {
 protected:
};

// The bodies the test sends, each one that must be refused.
std::vector<std::pair<std::string, std::string>> bad_bodies() {
  std::vector<std::pair<std::string, std::string>> out;  // path, body
  const std::string chat = "/v1/chat/completions", completions = "/v1/completions";
  const json good_chat = {{"model", "kjv-fortunes-3M-f32"}, {"messages", {{{"role", "user"}, {"content", "Hello there"}}}},
                          {"max_tokens", 8}, {"temperature", 0}, {"stop", {"\n"}}};
  const json good_completion = {{"prompt", "And God said"}, {"max_tokens", 8}, {"temperature", 0.5}, {"top_p", 0.9}};
  // Broken JSON: every truncation of valid bodies.
  for (const auto& [path, body] : {std::pair{chat, good_chat.dump()}, std::pair{completions, good_completion.dump()}})
    for (size_t cut = 0; cut < body.size(); cut += 2) out.emplace_back(path, body.substr(0, cut));
  // Wrong types, huge numbers and out-of-range values, field by field.
  const std::vector<std::pair<std::string, std::vector<json>>> wrong = {
      {"model", {5, true, json::array(), json::object()}},
      {"max_tokens", {"5", -1, 0, 1.5, 1e308, -1e308, json::parse("99999999999999999999999"), true, json::array(), json::object()}},
      {"temperature", {"x", -1, 3, 1e308, true, json::array()}},
      {"top_p", {"x", 0, 2, -1e308, json::object()}},
      {"seed", {"x", 1.5, true, json::array(), 1e300}},
      {"stop", {5, json::array({""}), json::array({1}), json::object(), true, json(std::vector<std::string>(17, "a"))}},
      {"n", {2, 0, "1", 1e308, 128}},
      {"stream", {"true", 1, json::array()}},
      {"stream_options", {1, "x", json{{"include_usage", "yes"}}}},
      {"presence_penalty", {1, "0", 5}},
      {"tools", {json::array({json{{"type", "function"}}})}},
      {"top_k", {-1, "5", 1e300}},
      {"min_p", {-0.5, 2, "0"}},
      {"repeat_penalty", {0, -1, "1"}},
  };
  for (const auto& [field, values] : wrong)
    for (const json& v : values) {
      json c = good_chat, p = good_completion;
      c[field] = v;
      p[field] = v;
      out.emplace_back(chat, c.dump());
      out.emplace_back(completions, p.dump());
    }
  for (const json& v : {json(5), json(true), json::object(), json::array({1, 2}), json::array({"a", "b"}), json::array()}) {
    json p = good_completion;
    p["prompt"] = v;
    out.emplace_back(completions, p.dump());
  }
  for (const json& v : {json("x"), json(5), json::array(), json::array({5}), json::array({json{{"role", 1}}}),
                        json::array({json{{"content", "x"}}}), json::array({json{{"role", "user"}, {"content", 5}}}),
                        json::array({json{{"role", "user"}, {"content", json::array({json{{"type", "image_url"}}})}}})}) {
    json c = good_chat;
    c["messages"] = v;
    out.emplace_back(chat, c.dump());
  }
  for (const json& v : {json(true), json(-1), json(6), json("1")}) {
    json p = good_completion;
    p["logprobs"] = v;
    out.emplace_back(completions, p.dump());
  }
  for (const json& v : {json(21), json(-1), json("1")}) {
    json c = good_chat;
    c["logprobs"] = true;
    c["top_logprobs"] = v;
    out.emplace_back(chat, c.dump());
  }
  // Bodies that are not objects.
  for (const char* body : {"", "null", "[]", "5", "\"x\"", "true", "{}", "{\"prompt\"}", "{'prompt': 'x'}", "\xef\xbb\xbf{}"}) {
    out.emplace_back(completions, body);
    out.emplace_back(chat, body);
  }
  // Giant prompts: far over the context in bytes, and just over it in tokens.
  out.emplace_back(completions, json{{"prompt", std::string(2 << 20, 'a')}}.dump());
  std::string words;
  for (int i = 0; i < 400; ++i) words += "And God said ";
  out.emplace_back(completions, json{{"prompt", words}}.dump());
  out.emplace_back(chat, json{{"messages", {{{"role", "user"}, {"content", words}}}}}.dump());
  // Invalid UTF-8, raw or escaped.
  for (const std::string bad : {"\xff", "\xc3\x28", "\xed\xa0\x80", "\xc0\xaf", "\xf8\x88\x80\x80\x80", "a\xe2\x82"}) {
    out.emplace_back(completions, "{\"prompt\":\"" + bad + "\"}");
    out.emplace_back(chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"" + bad + "\"}]}");
    out.emplace_back(chat, "{\"messages\":[{\"role\":\"" + bad + "\",\"content\":\"x\"}]}");
    out.emplace_back(completions, "{\"prompt\":\"x\",\"stop\":\"" + bad + "\"}");
  }
  for (const char* escaped : {R"("\ud800")", R"("\udc00x")", R"("\ud800\u0041")"}) {
    out.emplace_back(completions, std::string("{\"prompt\":") + escaped + "}");
  }
  // Deep nesting.
  out.emplace_back(chat, "{\"messages\":" + std::string(200000, '[') + std::string(200000, ']') + "}");
  out.emplace_back(completions, std::string(100000, '{'));
  return out;
}

TEST_F(MalformedRequests, EveryOneGetsAnErrorAndTheServerStillServes) {
  server::ServerOptions o;
  o.parallel = 2;
  o.read_timeout_s = 1;
  testing::RunningServer s(*model_, o);
  ASSERT_TRUE(s.error().empty()) << s.error();
  auto c = s.client();
  const json probe = {{"prompt", "And God said"}, {"max_tokens", 12}, {"temperature", 0}};
  auto before = c.Post("/v1/completions", probe.dump(), "application/json");
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200);

  int sent = 0;
  const auto bodies = bad_bodies();
  for (const auto& [path, body] : bodies) {
    auto r = c.Post(path, body, "application/json");
    ASSERT_TRUE(r) << "no answer to " << path << " " << body.substr(0, 200);
    EXPECT_EQ(r->status, 400) << path << " " << body.substr(0, 200) << " -> " << r->body.substr(0, 300);
    const json e = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(e.contains("error") && e["error"]["message"].is_string()) << r->body.substr(0, 300);
    ++sent;
  }
  // Random byte mutations of a valid body: any answer but a server error.
  std::mt19937 rng(7);
  const std::string valid = json{{"prompt", "And"}, {"max_tokens", 2}, {"temperature", 0}}.dump();
  for (int i = 0; i < 100; ++i) {
    std::string body = valid;
    for (int k = 0; k < 3; ++k) body[rng() % body.size()] = static_cast<char>(rng() % 256);
    auto r = c.Post("/v1/completions", body, "application/json");
    ASSERT_TRUE(r) << "no answer to a mutated body";
    EXPECT_TRUE(r->status == 200 || r->status == 400) << r->status << " " << r->body;
    ++sent;
  }
  // A body over the size limit: 413.
  auto big = c.Post("/v1/completions", std::string((8 << 20) + 10, ' '), "application/json");
  if (big) {
    EXPECT_EQ(big->status, 413);
  }
  ++sent;
  // Bytes that are not HTTP, or HTTP that lies: a 4xx, or the connection closed.
  const std::vector<std::string> raw = {
      "GARBAGE\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS hello
      "GET /health HTTP/9.9\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n",
      "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n",
      "GET /health HTTP/1.1\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n",
      std::string("\0\0\0\0\r\n\r\n", 8),
      http_post("/v1/completions", "{\"prompt\":\"x\"") ,
      http_post("/v1/nothing", "{}"),
      "BREW /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const std::string& bytes : raw) {
    const RawReply r = raw_exchange(s.port(), bytes);
    EXPECT_TRUE((r.status >= 400 && r.status < 500) || (r.status == 0 && r.closed))
        << "status " << r.status << " for " << bytes.substr(0, 60) << ": " << r.text.substr(0, 200);
    ++sent;
  }
  // Slow requests that stop half-way: each is dropped once the read timeout (1 s) passes, and
  // while they hang, a normal request is served.
  std::vector<int> slow;
  for (int i = 0; i < 10; ++i) {
    const int fd = connect_to(s.port());
    ASSERT_GE(fd, 0);
    const std::string part = i % 2 ? "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro"
                                   : "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le";
    ASSERT_GT(::send(fd, part.data(), part.size(), MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  auto during = c.Post("/v1/completions", probe.dump(), "application/json");
  ASSERT_TRUE(during);
  EXPECT_EQ(during->status, 200);
  for (int fd : slow) {
    const auto t0 = std::chrono::steady_clock::now();
    const RawReply r = read_reply(fd, 6000, true);
    EXPECT_TRUE(r.closed || r.status >= 400) << "a stalled request was not dropped";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6)) << "status " << r.status << " closed " << r.closed << " " << r.text;
    ::close(fd);
    ++sent;
  }
  EXPECT_GE(sent, 300);

  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto after = c.Post("/v1/completions", probe.dump(), "application/json");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->status, 200);
  EXPECT_EQ(json::parse(after->body)["choices"][0]["text"], json::parse(before->body)["choices"][0]["text"]);
  // The last sequence leaves at the step after its last token.
  auto m = c.Get("/metrics");
  for (int i = 0; i < 200 && m && testing::metric(m->body, "lingua_active_sequences") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    m = c.Get("/metrics");
  }
  ASSERT_TRUE(m);
  EXPECT_EQ(testing::metric(m->body, "lingua_active_sequences"), 0);
  EXPECT_GE(testing::metric(m->body, "lingua_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"), 200) << m->body;
}

}  // namespace
}  // namespace lingua

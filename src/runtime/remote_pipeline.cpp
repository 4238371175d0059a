// RemotePipeline: handshake, assignment, and the step loop over DEALER sockets, one per worker.
#include "runtime/remote_pipeline.h"

#include <chrono>
#include <cstring>
#include <thread>
#include <map>

#include "net/wire.h"
#include "runtime/protocol.h"
#include "runtime/segment_weights.h"

namespace lingua {
namespace {

// A worker's ERROR text as the head prints it: control characters (a terminal escape, say) become
// '?', and at most 500 bytes are kept. The text comes from another machine.
std::string printable_error(const std::vector<uint8_t>& payload) {
  std::string text;
  for (size_t i = 0; i < payload.size() && i < 500; ++i) {
    const auto c = static_cast<unsigned char>(payload[i]);
    text.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  return text.empty() ? "a device reported an error without saying which" : text;
}

}  // namespace

Expected<std::unique_ptr<RemotePipeline>> RemotePipeline::start(const Graph& graph, const Partition& partition,
                                                                 std::vector<RemoteDevice> devices, RemoteOptions options) {
  if (devices.size() != static_cast<size_t>(partition.size()))
    return Status::error("the plan has " + std::to_string(partition.size()) + " segments for " +
                         std::to_string(devices.size()) + " devices");
  std::unique_ptr<RemotePipeline> p(new RemotePipeline(std::move(devices), std::move(options)));
  p->n_vocab_ = static_cast<int>(graph.vocab_size());
  LINGUA_TRY(p->connect_all());
  LINGUA_TRY(p->assign_all(graph, partition));
  p->options_.on_weights = nullptr;  // weights go out only while assigning; the caller's callback need not outlive that
  return p;
}

RemotePipeline::~RemotePipeline() {
  // Only to workers still connected: a send to one that refused or dropped us would wait for the
  // whole send timeout.
  for (Client& c : clients_)
    if (c.state() == LinkState::kUp) (void)c.send(encode_frame(bytes_frame(MessageType::kBye, 0, "")));
  // Give the goodbyes a moment to leave before the sockets close (linger is 0).
  if (!clients_.empty() && !failed_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

Expected<Frame> RemotePipeline::receive_from(size_t d, int timeout_ms, MessageType expected) {
  const RemoteDevice& dev = devices_[d];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto bytes = clients_[d].receive(200);
    if (bytes) {
      auto f = decode_frame(*bytes);
      if (!f) return Status::error("device " + dev.name + " sent a bad frame: " + f.error());
      if (f->header.type == MessageType::kError)
        return Status::error(printable_error(f->payload));
      if (f->header.type == expected) return std::move(*f);
      continue;  // a late answer to something else
    }
    const LinkState s = clients_[d].state();
    if (s == LinkState::kRefused)
      return Status::error("device " + dev.name + " at " + dev.endpoint +
                           " refused this head's key (its keys directory must hold this head's public key under heads/)");
    if (s == LinkState::kBroken)
      return Status::error("device " + dev.name + " at " + dev.endpoint + ": the secure handshake failed (wrong worker key?)");
    if (s == LinkState::kLost) return Status::error("device " + dev.name + " at " + dev.endpoint + " dropped the connection");
    if (options_.liveness) {
      const std::string dead = options_.liveness();
      if (!dead.empty()) return Status::error(dead);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::error("device " + dev.name + " at " + dev.endpoint + " did not answer within " +
                           std::to_string(timeout_ms / 1000) + " s");
  }
}

Status RemotePipeline::connect_all() {
  for (const RemoteDevice& d : devices_) {
    ChannelOptions o = options_.channel;
    o.server_public = d.public_key;
    o.heartbeat_ms = options_.heartbeat_ms;
    auto c = Client::connect(context_, d.endpoint, o);
    if (!c) return Status::error("device " + d.name + ": " + c.error());
    clients_.push_back(std::move(*c));
  }
  for (size_t d = 0; d < clients_.size(); ++d) {
    LINGUA_TRY(clients_[d].send(encode_frame(bytes_frame(MessageType::kHello, 0, "{}"))));
  }
  for (size_t d = 0; d < clients_.size(); ++d) {
    LINGUA_ASSIGN_OR_RETURN(Frame f, receive_from(d, options_.hello_timeout_ms, MessageType::kHello));
    auto hello = parse_worker_hello(std::string(f.payload.begin(), f.payload.end()));
    if (!hello) return Status::error("device " + devices_[d].name + ": " + hello.error());
    // In CURVE mode the key is the one the head connected with, so it is authentic already.
    if (!options_.channel.insecure && hello->public_key != devices_[d].public_key)
      return Status::error("device " + devices_[d].name + " answered with another key than the one it was reached with");
  }
  return Status::ok();
}

Status RemotePipeline::assign_all(const Graph& graph, const Partition& partition) {
  const auto transmissions = transmission_map(graph, partition);
  std::map<std::pair<int, int>, uint64_t> bytes;
  for (const Transmission& t : transmissions)
    for (int to : t.to)
      bytes[{t.from, to}] += options_.wire_dtype == DType::F16 ? t.bytes_per_token / 2 : t.bytes_per_token;
  for (const auto& [k, b] : bytes) link_bytes_.push_back({k.first, k.second, b});

  // Last segment first, each acknowledged before the next: a worker trusts its upstream peers'
  // keys before any of them connects, so no handshake is refused (and no queued tensor lost).
  for (size_t s = devices_.size(); s-- > 0;) {
    const RemoteDevice& d = devices_[s];
    SegmentAssignment a;
    a.device = d.name;
    a.model_path = options_.model_path;
    a.partition = partition.segments();
    a.segment = static_cast<int>(s);
    a.context = options_.context;
    a.max_batch = options_.max_batch;
    a.max_sequences = options_.max_sequences;
    a.threads = d.threads;
    a.memory_bytes = d.memory_bytes;
    a.slowdown = d.slowdown.factor;
    a.slowdown_after_tokens = d.slowdown.after_tokens;
    a.wire_dtype = options_.wire_dtype;
    const Segment seg = partition.segments()[s];
    LINGUA_ASSIGN_OR_RETURN(SegmentWeights weights, segment_weights(*options_.file, graph, seg));
    a.weights_hash = weights.hash;
    a.weights_tensors = weights.tensors;
    a.file_bytes = options_.file->file_size();
    for (const auto& [k, b] : bytes) {
      if (k.first == static_cast<int>(s)) {
        const LinkShape shape = options_.link ? options_.link(k.first, k.second) : LinkShape{};
        a.peers.push_back({k.second, devices_[static_cast<size_t>(k.second)].endpoint,
                           devices_[static_cast<size_t>(k.second)].public_key, shape.latency_s, shape.bytes_per_s});
      }
      if (k.second == static_cast<int>(s) && !devices_[static_cast<size_t>(k.first)].public_key.empty())
        a.trusted_peers.push_back(devices_[static_cast<size_t>(k.first)].public_key);
    }
    const std::vector<uint8_t> assign = encode_frame(bytes_frame(MessageType::kAssign, 0, to_json(a)));
    LINGUA_TRY(clients_[s].send(assign));
    LINGUA_ASSIGN_OR_RETURN(Frame f, receive_from(s, options_.assign_timeout_ms, MessageType::kAssign));
    if (std::string(f.payload.begin(), f.payload.end()).find("need_weights") != std::string::npos) {
      LINGUA_TRY(send_weights(s, weights.tensors));
      LINGUA_TRY(clients_[s].send(assign));  // the same assignment again: the weights are there now
      LINGUA_ASSIGN_OR_RETURN(Frame done, receive_from(s, options_.assign_timeout_ms, MessageType::kAssign));
      if (std::string(done.payload.begin(), done.payload.end()).find("\"ok\"") == std::string::npos)
        return Status::error("device " + d.name + " did not take the weights it was sent");
    }
  }
  return Status::ok();
}

Status RemotePipeline::send_weights(size_t d, const std::vector<std::string>& tensors) {
  constexpr uint64_t kPiece = uint64_t{1} << 20;
  constexpr uint64_t kAckEvery = 32, kWindow = 64;  // pieces; the worker acknowledges every kAckEvery
  const gguf::File& file = *options_.file;
  const auto ranges = segment_file_ranges(file, tensors);
  uint64_t total = 0, sent = 0, pieces = 0, acked = 0;
  for (const FileRange& r : ranges) total += r.bytes;
  for (const FileRange& r : ranges) {
    for (uint64_t off = r.offset; off < r.offset + r.bytes; off += kPiece) {
      const uint64_t n = std::min(kPiece, r.offset + r.bytes - off);
      std::string payload(8 + n, '\0');
      for (int i = 0; i < 8; ++i) payload[static_cast<size_t>(i)] = static_cast<char>((off >> (8 * i)) & 0xff);
      std::memcpy(payload.data() + 8, file.bytes() + off, n);
      LINGUA_TRY(clients_[d].send(encode_frame(bytes_frame(MessageType::kWeights, 0, payload))));
      sent += n;
      ++pieces;
      while (pieces - acked >= kWindow) {
        LINGUA_TRY(receive_from(d, options_.assign_timeout_ms, MessageType::kWeights).status());
        acked += kAckEvery;
      }
      if (options_.on_weights) options_.on_weights(devices_[d].name, sent, total);
    }
  }
  return Status::ok();
}

Status RemotePipeline::submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                              bool all_logits) {
  if (failed_) return Status::error("the cluster has failed");
  if (all_logits) return Status::error("every position's logits are only kept in the in-process pipeline");
  if (sequence == 0) return Status::error("sequence 0 is reserved");
  const std::vector<uint8_t> bytes = encode_frame(token_frame(sequence, pos0, tokens, static_cast<uint64_t>(n)));
  for (size_t d = 0; d < clients_.size(); ++d)
    if (Status st = clients_[d].send(bytes); !st) return Status::error("device " + devices_[d].name + ": " + st.message());
  if (want_logits) wanted_.insert({sequence, pos0});
  return Status::ok();
}

Status RemotePipeline::check_health() {
  for (size_t d = 0; d < clients_.size(); ++d) {
    const LinkState s = clients_[d].state();
    if (s == LinkState::kLost)
      return Status::error("device " + devices_[d].name + " at " + devices_[d].endpoint +
                           " was lost: its connection dropped or it stopped answering heartbeats");
    if (s == LinkState::kRefused || s == LinkState::kBroken)
      return Status::error("device " + devices_[d].name + " at " + devices_[d].endpoint + " refused the connection");
  }
  if (options_.liveness) {
    const std::string dead = options_.liveness();
    if (!dead.empty()) return Status::error(dead);
  }
  return Status::ok();
}

Expected<StepLogits> RemotePipeline::next() {
  if (failed_) return Status::error("the cluster has failed");
  std::vector<Client*> all;
  for (Client& c : clients_) all.push_back(&c);
  for (;;) {
    const int ready = Client::wait_any(all, 100);
    if (ready < 0) {
      if (Status st = check_health(); !st) {
        failed_ = true;
        return st;
      }
      continue;
    }
    auto bytes = clients_[static_cast<size_t>(ready)].receive(0);
    if (!bytes) continue;
    auto f = decode_frame(*bytes);
    const std::string& name = devices_[static_cast<size_t>(ready)].name;
    if (!f) {
      failed_ = true;
      return Status::error("device " + name + " sent a bad frame: " + f.error());
    }
    if (f->header.type == MessageType::kError) {
      failed_ = true;
      return Status::error(printable_error(f->payload));
    }
    if (f->header.type != MessageType::kLogits) continue;
    const auto key = std::make_pair(f->header.sequence, f->header.position);
    if (!wanted_.erase(key)) continue;  // an intermediate prompt batch
    auto logits = tensor_payload_f32(*f);
    if (!logits || static_cast<int>(logits->size()) != n_vocab_) {
      failed_ = true;
      return Status::error("device " + name + " sent logits of the wrong size");
    }
    return StepLogits{f->header.sequence, f->header.position, std::move(*logits)};
  }
}

Status RemotePipeline::end_sequence(uint64_t sequence) {
  const std::vector<uint8_t> bytes = encode_frame(bytes_frame(MessageType::kBye, sequence, ""));
  for (Client& c : clients_) LINGUA_TRY(c.send(bytes));
  return Status::ok();
}

}  // namespace lingua

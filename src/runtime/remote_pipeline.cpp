// RemotePipeline: handshake, assignment, and the step loop over DEALER sockets, one per worker.
#include "runtime/remote_pipeline.h"

#include <unistd.h>

#include <algorithm>
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

// How a worker busy with this head names it to another head: host and process id.
std::string this_head_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "unknown host") + " pid " + std::to_string(::getpid());
}

}  // namespace

Expected<std::unique_ptr<RemotePipeline>> RemotePipeline::connect(std::vector<RemoteDevice> devices, RemoteOptions options) {
  if (devices.empty()) return Status::error("no devices to run on");
  std::unique_ptr<RemotePipeline> p(new RemotePipeline(std::move(devices), std::move(options)));
  p->alive_.assign(p->devices_.size(), true);
  LINGUA_TRY(p->connect_all());
  return p;
}

RemotePipeline::~RemotePipeline() {
  // Only to workers still connected: a send to one that refused or dropped us would wait for the
  // whole send timeout.
  for (size_t d = 0; d < clients_.size(); ++d)
    if (alive_[d] && clients_[d].state() == LinkState::kUp) (void)clients_[d].send(encode_frame(bytes_frame(MessageType::kBye, 0, "")));
  // Give the goodbyes a moment to leave before the sockets close (linger is 0).
  if (!clients_.empty() && !failed_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

Status RemotePipeline::lost(size_t d, const std::string& what) {
  lost_device_ = static_cast<int>(d);
  failed_ = true;
  return Status::error(what);
}

void RemotePipeline::forget(int device) {
  const auto d = static_cast<size_t>(device);
  if (d >= alive_.size() || !alive_[d]) return;
  alive_[d] = false;  // its socket stays open but unused: a lost peer has nothing to say
  if (std::find(holders_.begin(), holders_.end(), device) == holders_.end()) {
    failed_ = false;  // it held no segment: nothing in flight depended on it
    lost_device_ = -1;
  }
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
    if (s == LinkState::kLost) return lost(d, "device " + dev.name + " at " + dev.endpoint + " dropped the connection");
    LINGUA_TRY(check_health());
    if (std::chrono::steady_clock::now() >= deadline)
      return lost(d, "device " + dev.name + " at " + dev.endpoint + " did not answer within " + std::to_string(timeout_ms / 1000) + " s");
  }
}

Status RemotePipeline::connect_all() {
  const size_t from = clients_.size();
  for (size_t d = from; d < devices_.size(); ++d) {
    ChannelOptions o = options_.channel;
    o.server_public = devices_[d].public_key;
    o.heartbeat_ms = options_.heartbeat_ms;
    auto c = Client::connect(context_, devices_[d].endpoint, o);
    if (!c) return Status::error("device " + devices_[d].name + ": " + c.error());
    clients_.push_back(std::move(*c));
  }
  for (size_t d = from; d < clients_.size(); ++d) {
    LINGUA_TRY(clients_[d].send(encode_frame(bytes_frame(MessageType::kHello, 0, to_json(HeadHello{this_head_name()})))));
  }
  hellos_.resize(devices_.size());
  for (size_t d = from; d < clients_.size(); ++d) {
    LINGUA_ASSIGN_OR_RETURN(Frame f, receive_from(d, options_.hello_timeout_ms, MessageType::kHello));
    auto hello = parse_worker_hello(std::string(f.payload.begin(), f.payload.end()));
    if (!hello) return Status::error("device " + devices_[d].name + ": " + hello.error());
    // In CURVE mode the key is the one the head connected with, so it is authentic already.
    if (!options_.channel.insecure && hello->public_key != devices_[d].public_key)
      return Status::error("device " + devices_[d].name + " answered with another key than the one it was reached with");
    hellos_[d] = std::move(*hello);
  }
  return Status::ok();
}

Status RemotePipeline::add_device(RemoteDevice device) {
  for (size_t d = 0; d < devices_.size(); ++d)
    if (devices_[d].name == device.name && alive_[d]) return Status::error("device " + device.name + " is already connected");
  devices_.push_back(std::move(device));
  alive_.push_back(true);
  if (Status st = connect_all(); !st) {
    alive_.back() = false;  // kept (as lost) so indices stay aligned with clients_
    if (clients_.size() < devices_.size()) devices_.pop_back(), alive_.pop_back(), hellos_.resize(devices_.size());
    failed_ = false;  // nothing in flight depended on it
    lost_device_ = -1;
    return st;
  }
  return Status::ok();
}

void RemotePipeline::update_device(int device, int threads, uint64_t memory_bytes, SlowdownSpec slowdown) {
  RemoteDevice& d = devices_[static_cast<size_t>(device)];
  d.threads = threads;
  d.memory_bytes = memory_bytes;
  d.slowdown = slowdown;
}

Status RemotePipeline::configure(const Graph& graph, const Partition& partition, const std::vector<int>& holders,
                                 bool keep_kv, MoveCost* cost) {
  if (holders.size() != static_cast<size_t>(partition.size()))
    return Status::error("the plan has " + std::to_string(partition.size()) + " segments for " + std::to_string(holders.size()) +
                         " devices");
  for (int d : holders)
    if (d < 0 || static_cast<size_t>(d) >= devices_.size() || !alive_[static_cast<size_t>(d)])
      return Status::error("the plan uses a device that is not available");
  if (keep_kv && in_flight_ > 0) return Status::error("a boundary move with steps in flight");
  n_vocab_ = static_cast<int>(graph.vocab_size());
  failed_ = false;
  lost_device_ = -1;
  const auto t0 = std::chrono::steady_clock::now();
  if (keep_kv) {
    LINGUA_TRY(move_kv(partition, holders, cost));
  } else {
    positions_.clear();  // every sequence starts again (the caller replays what it needs)
    wanted_.clear();
    ready_.clear();
    in_flight_ = 0;
  }
  link_bytes_.clear();
  for (const Transmission& t : transmission_map(graph, partition))
    for (int to : t.to) {
      const uint64_t b = options_.wire_dtype == DType::F16 ? t.bytes_per_token / 2 : t.bytes_per_token;
      auto it = std::find_if(link_bytes_.begin(), link_bytes_.end(), [&](const LinkBytes& l) { return l.from == t.from && l.to == to; });
      if (it == link_bytes_.end()) link_bytes_.push_back({t.from, to, b});
      else it->bytes += b;
    }
  // Every holder first trusts the keys of the upstream workers that will connect to it (quick,
  // acknowledged), so no handshake is refused; then every assignment goes out at once and the
  // devices load their ranges side by side (a boundary move costs the slowest load, not the sum).
  LINGUA_TRY(trust_upstream(holders));
  std::vector<std::pair<size_t, SentAssignment>> sent;
  for (size_t s = holders.size(); s-- > 0;) {
    LINGUA_ASSIGN_OR_RETURN(SentAssignment a, send_assignment(graph, partition, holders, s, keep_kv));
    sent.emplace_back(s, std::move(a));
  }
  for (auto& [s, a] : sent) LINGUA_TRY(finish_assignment(holders, s, a));
  for (size_t d = 0; d < devices_.size(); ++d)
    if (alive_[d] && std::find(holders.begin(), holders.end(), static_cast<int>(d)) == holders.end()) LINGUA_TRY(standby(d));
  holders_ = holders;
  if (keep_kv) {
    // The layers each device gained: after its ASSIGN on the same connection, so before any step.
    std::map<int, size_t> owner_of_slot;  // graph-wide KV slot -> device in the new plan
    for (const Op& op : graph.ops())
      if (op.kind == OpKind::kAttention) owner_of_slot[op.kv_slot] = static_cast<size_t>(holders[static_cast<size_t>(partition.segment_of(op.id))]);
    for (const Frame& f : pending_imports_) {
      auto it = owner_of_slot.find(static_cast<int>(f.header.tensor_id));
      if (it == owner_of_slot.end()) return Status::error("a worker exported a KV cache of an unknown layer");
      LINGUA_TRY(clients_[it->second].send(encode_frame(f)));
    }
    pending_imports_.clear();
  }
  if (cost) cost->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::ok();
}

Status RemotePipeline::trust_upstream(const std::vector<int>& holders) {
  std::vector<TrustPeers> trust(holders.size());
  for (const LinkBytes& l : link_bytes_) {  // segment l.from sends to segment l.to
    const RemoteDevice& from = devices_[static_cast<size_t>(holders[static_cast<size_t>(l.from)])];
    auto& keys = trust[static_cast<size_t>(l.to)].keys;
    if (!from.public_key.empty() && std::find(keys.begin(), keys.end(), from.public_key) == keys.end()) keys.push_back(from.public_key);
  }
  for (size_t s = 0; s < holders.size(); ++s) {
    if (trust[s].keys.empty()) continue;
    const auto d = static_cast<size_t>(holders[s]);
    LINGUA_TRY(clients_[d].send(encode_frame(bytes_frame(MessageType::kAssign, 0, to_json(trust[s])))));
  }
  for (size_t s = 0; s < holders.size(); ++s)
    if (!trust[s].keys.empty())
      LINGUA_TRY(receive_from(static_cast<size_t>(holders[s]), options_.assign_timeout_ms, MessageType::kAssign).status());
  return Status::ok();
}

Expected<RemotePipeline::SentAssignment> RemotePipeline::send_assignment(const Graph& graph, const Partition& partition,
                                                                         const std::vector<int>& holders, size_t s, bool resume) {
  const auto d = static_cast<size_t>(holders[s]);
  const RemoteDevice& dev = devices_[d];
  SegmentAssignment a;
  a.device = dev.name;
  a.model_path = options_.model_path;
  a.partition = partition.segments();
  a.segment = static_cast<int>(s);
  a.context = options_.context;
  a.max_batch = options_.max_batch;
  a.max_sequences = options_.max_sequences;
  a.threads = dev.threads;
  a.memory_bytes = dev.memory_bytes;
  a.slowdown = dev.slowdown.factor;
  a.slowdown_after_tokens = dev.slowdown.after_tokens;
  a.wire_dtype = options_.wire_dtype;
  a.resume = resume;
  if (resume)
    for (const auto& [id, pos] : positions_) a.sequences.push_back({id, pos});
  const Segment seg = partition.segments()[s];
  LINGUA_ASSIGN_OR_RETURN(SegmentWeights weights, segment_weights(*options_.file, graph, seg, &digests_));
  a.weights_hash = weights.hash;
  a.tensors_hash = weights.tensors_hash;
  a.weights_tensors = weights.tensors;
  a.file_bytes = options_.file->file_size();
  for (const LinkBytes& l : link_bytes_) {
    const auto to = static_cast<size_t>(holders[static_cast<size_t>(l.to)]);
    const auto from = static_cast<size_t>(holders[static_cast<size_t>(l.from)]);
    if (l.from == static_cast<int>(s)) {
      const LinkShape shape = options_.link ? options_.link(static_cast<int>(d), static_cast<int>(to)) : LinkShape{};
      a.peers.push_back({l.to, devices_[to].endpoint, devices_[to].public_key, shape.latency_s, shape.bytes_per_s});
    }
    if (l.to == static_cast<int>(s) && !devices_[from].public_key.empty()) a.trusted_peers.push_back(devices_[from].public_key);
  }
  SentAssignment sent{encode_frame(bytes_frame(MessageType::kAssign, 0, to_json(a))), weights.tensors};
  LINGUA_TRY(clients_[d].send(sent.frame));
  return sent;
}

Status RemotePipeline::finish_assignment(const std::vector<int>& holders, size_t s, const SentAssignment& sent) {
  const auto d = static_cast<size_t>(holders[s]);
  const RemoteDevice& dev = devices_[d];
  LINGUA_ASSIGN_OR_RETURN(Frame f, receive_from(d, options_.assign_timeout_ms, MessageType::kAssign));
  if (std::string(f.payload.begin(), f.payload.end()).find("need_weights") != std::string::npos) {
    LINGUA_TRY(send_weights(d, sent.tensors));
    LINGUA_TRY(clients_[d].send(sent.frame));  // the same assignment again: the weights are there now
    LINGUA_ASSIGN_OR_RETURN(Frame done, receive_from(d, options_.assign_timeout_ms, MessageType::kAssign));
    if (std::string(done.payload.begin(), done.payload.end()).find("\"ok\"") == std::string::npos)
      return Status::error("device " + dev.name + " did not take the weights it was sent");
  }
  return Status::ok();
}

Status RemotePipeline::standby(size_t d) {
  LINGUA_TRY(clients_[d].send(encode_frame(bytes_frame(MessageType::kAssign, 0, kStandbyAssignment))));
  return receive_from(d, options_.assign_timeout_ms, MessageType::kAssign).status();
}

Status RemotePipeline::move_kv(const Partition& partition, const std::vector<int>& holders, MoveCost* cost) {
  pending_imports_.clear();
  for (size_t s = 0; s < holders_.size(); ++s) {
    const auto d = static_cast<size_t>(holders_[s]);
    // The range this device keeps: the segment it holds in the new plan, if any.
    KvExportRequest request;  // keeps nothing unless it holds a segment in the new plan
    for (size_t t = 0; t < holders.size(); ++t)
      if (static_cast<size_t>(holders[t]) == d) request = {partition.segments()[t].first_op, partition.segments()[t].last_op};
    LINGUA_TRY(clients_[d].send(encode_frame(bytes_frame(MessageType::kKvExport, 0, to_json(request)))));
    for (;;) {
      LINGUA_ASSIGN_OR_RETURN(Frame f, receive_from(d, options_.assign_timeout_ms, MessageType::kKvExport));
      if (f.header.sequence == 0) break;  // {"frames":n}: the last one
      if (cost) cost->kv_bytes += f.payload.size();
      f.header.type = MessageType::kKvImport;
      pending_imports_.push_back(std::move(f));
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
  if (holders_.empty()) return Status::error("no plan has been given to the devices");
  if (all_logits) return Status::error("every position's logits are only kept in the in-process pipeline");
  if (sequence == 0) return Status::error("sequence 0 is reserved");
  const std::vector<uint8_t> bytes = encode_frame(token_frame(sequence, pos0, tokens, static_cast<uint64_t>(n)));
  for (int d : holders_)
    if (Status st = clients_[static_cast<size_t>(d)].send(bytes); !st)
      return lost(static_cast<size_t>(d), "device " + devices_[static_cast<size_t>(d)].name + ": " + st.message());
  if (want_logits) wanted_.insert({sequence, pos0});
  positions_[sequence] = pos0 + n;
  ++in_flight_;
  return Status::ok();
}

Status RemotePipeline::submit_batch(const std::vector<SequenceStep>& steps) {
  if (failed_) return Status::error("the cluster has failed");
  if (holders_.empty()) return Status::error("no plan has been given to the devices");
  if (steps.empty()) return Status::error("a batch step without sequences");
  if (steps.size() > kMaxBatchGroups)
    return Status::error("a batch step of " + std::to_string(steps.size()) + " sequences (at most " + std::to_string(kMaxBatchGroups) + ")");
  BatchStep batch;
  std::set<uint64_t> seen;
  for (const SequenceStep& s : steps) {
    if (s.all_logits) return Status::error("every position's logits are only kept in the in-process pipeline");
    if (s.sequence == 0) return Status::error("sequence 0 is reserved");
    if (s.tokens.empty()) return Status::error("sequence " + std::to_string(s.sequence) + " has no tokens in the batch step");
    if (!seen.insert(s.sequence).second) return Status::error("sequence " + std::to_string(s.sequence) + " appears twice in a batch step");
    batch.groups.push_back(BatchStepGroup{s.sequence, s.pos0, s.tokens});
  }
  const std::vector<uint8_t> bytes = encode_frame(bytes_frame(MessageType::kBatch, ++batch_id_, to_json(batch)));
  for (int d : holders_)
    if (Status st = clients_[static_cast<size_t>(d)].send(bytes); !st)
      return lost(static_cast<size_t>(d), "device " + devices_[static_cast<size_t>(d)].name + ": " + st.message());
  for (const SequenceStep& s : steps) {
    if (s.want_logits) wanted_.insert({s.sequence, s.pos0});
    positions_[s.sequence] = s.pos0 + static_cast<int64_t>(s.tokens.size());
  }
  in_flight_ += static_cast<int64_t>(steps.size());
  return Status::ok();
}

Status RemotePipeline::check_health() {
  for (size_t d = 0; d < clients_.size(); ++d) {
    if (!alive_[d]) continue;
    const LinkState s = clients_[d].state();
    if (s == LinkState::kLost)
      return lost(d, "device " + devices_[d].name + " at " + devices_[d].endpoint +
                         " was lost: its connection dropped or it stopped answering heartbeats");
    if (s == LinkState::kRefused || s == LinkState::kBroken)
      return lost(d, "device " + devices_[d].name + " at " + devices_[d].endpoint + " refused the connection");
  }
  if (options_.liveness) {
    std::string what;
    const std::string dead = options_.liveness(&what);
    if (!dead.empty())
      for (size_t d = 0; d < devices_.size(); ++d)
        if (devices_[d].name == dead && alive_[d]) return lost(d, what);
  }
  return Status::ok();
}

// Waits up to 100 ms for one frame and handles it: a step report goes to on_report, an answer
// the caller wants to ready_; a lost device, an ERROR or a bad frame is the error returned.
Status RemotePipeline::pump() {
  std::vector<Client*> all;
  std::vector<size_t> index;
  for (size_t d = 0; d < clients_.size(); ++d)
    if (alive_[d]) {
      all.push_back(&clients_[d]);
      index.push_back(d);
    }
  // Health is checked at least every 100 ms, also while frames keep coming: a device on standby
  // that dies would otherwise go unnoticed.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_health_check_ > std::chrono::milliseconds(100)) {
    last_health_check_ = now;
    LINGUA_TRY(check_health());
  }
  const int ready = Client::wait_any(all, 100);
  if (ready < 0) return Status::ok();
  const size_t d = index[static_cast<size_t>(ready)];
  auto bytes = clients_[d].receive(0);
  if (!bytes) return Status::ok();
  auto f = decode_frame(*bytes);
  const std::string& name = devices_[d].name;
  if (!f) {
    failed_ = true;
    return Status::error("device " + name + " sent a bad frame: " + f.error());
  }
  if (f->header.type == MessageType::kError) {
    // A worker whose downstream peer died says so at once ("lost the connection to the peer
    // worker"), a moment before the head itself sees that peer's process end: that loss is the
    // error failover can act on, so it is given a short while to show.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    for (;;) {
      LINGUA_TRY(check_health());
      if (std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    failed_ = true;
    return Status::error(printable_error(f->payload));
  }
  if (f->header.type == MessageType::kBye && f->header.sequence != 0) {
    auto it = bye_pending_.find(f->header.sequence);
    if (it != bye_pending_.end()) --it->second;
    return Status::ok();
  }
  if (f->header.type == MessageType::kStats) {
    auto report = parse_step_report(std::string(f->payload.begin(), f->payload.end()));
    if (report && on_report_) on_report_(static_cast<int>(d), *report);
    return Status::ok();
  }
  if (f->header.type != MessageType::kLogits) return Status::ok();
  if (in_flight_ > 0) --in_flight_;
  const auto key = std::make_pair(f->header.sequence, f->header.position);
  if (!wanted_.erase(key)) return Status::ok();  // an intermediate prompt batch, or a replayed step
  auto logits = tensor_payload_f32(*f);
  if (!logits || static_cast<int>(logits->size()) != n_vocab_) {
    failed_ = true;
    return Status::error("device " + name + " sent logits of the wrong size");
  }
  ready_.push_back(StepLogits{f->header.sequence, f->header.position, std::move(*logits)});
  return Status::ok();
}

Expected<StepLogits> RemotePipeline::next() {
  if (failed_) return Status::error("the cluster has failed");
  while (ready_.empty()) {
    if (in_flight_ == 0) return Status::error("no step is waiting for an answer");
    LINGUA_TRY(pump());
  }
  StepLogits out = std::move(ready_.front());
  ready_.pop_front();
  return out;
}

Status RemotePipeline::drain(int64_t max_in_flight) {
  if (failed_) return Status::error("the cluster has failed");
  while (in_flight_ > max_in_flight) LINGUA_TRY(pump());
  return Status::ok();
}

Status RemotePipeline::end_sequence(uint64_t sequence) {
  const std::vector<uint8_t> bytes = encode_frame(bytes_frame(MessageType::kBye, sequence, ""));
  positions_.erase(sequence);
  for (int d : holders_)
    if (Status st = clients_[static_cast<size_t>(d)].send(bytes); !st)
      return lost(static_cast<size_t>(d), "device " + devices_[static_cast<size_t>(d)].name + ": " + st.message());
  // Wait for every holder's acknowledgement: the caller may start a sequence of the same id next,
  // and its first tensors must not reach a worker that still holds the old one.
  bye_pending_[sequence] = static_cast<int>(holders_.size());
  Status st;
  while (st.is_ok() && bye_pending_[sequence] > 0) st = pump();
  bye_pending_.erase(sequence);
  return st;
}

}  // namespace lingua

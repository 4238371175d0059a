// Worker: a single-threaded event loop over one ROUTER socket. Frames are validated by the wire
// decoder, then by role (only a head assigns; peers may only send tensors), then by session (one
// head at a time: another is refused as busy while the first is connected), then by step state.
#include "runtime/worker.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "core/system_memory.h"
#include "core/thread_pool.h"
#include "graph/cost_model.h"
#include "graph/executor.h"
#include "model/model.h"
#include "net/keys.h"
#include "net/wire.h"
#include "net/link_sender.h"
#include "runtime/device_readings.h"
#include "runtime/head_admission.h"
#include "runtime/protocol.h"
#include "runtime/segment_weights.h"
#include "runtime/slowdown_pacer.h"
#include "runtime/worker_probes.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxPendingSteps = 256;       // per sequence: more means a confused or hostile peer
constexpr size_t kMaxPendingBatches = 256;  // BATCH steps waiting at once
constexpr uint64_t kWeightsAckEvery = 32;  // WEIGHTS pieces between acknowledgements
constexpr int kHeartbeatMs = 1000;          // a head silent for 3x this has its connection dropped

std::string ms(Clock::time_point from, Clock::time_point to) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count()) + " ms";
}
std::string mib(uint64_t bytes) { return std::to_string((bytes + (1u << 19)) >> 20) + " MiB"; }

struct Step {
  std::optional<std::vector<int32_t>> tokens;     // from the head: the step's token ids
  Clock::time_point tokens_at{};                  // when they came
  std::map<int, Frame> inputs;                    // imported op -> its TENSOR frame
};

// A BATCH step (several sequences in one forward) waiting for its inputs and its turn.
struct PendingBatch {
  std::optional<BatchStep> step;  // from the head
  Clock::time_point tokens_at{};
  std::map<int, Frame> inputs;    // imported op -> its TENSOR frame (every group's rows)
};

// A sequence in flight here; its KV cache lives in the worker's one executor (kv_cache(id)).
struct SequenceState {
  int64_t next_pos = 0;
  std::map<int64_t, Step> steps;  // by first position
  std::set<int> missing_slots;    // after a boundary move: graph-wide KV slots still to arrive
};

class Worker {
 public:
  Worker(const WorkerOptions& options, Server server) : options_(options), server_(std::move(server)) {
    if (!options_.trusted_dir.empty()) trusted_.emplace(options_.trusted_dir);
  }

  Status run(const std::atomic<bool>& stop) {
    auto last_reload = Clock::now();  // the caller read the keys just before
    while (!stop.load()) {
      // Looked at before the reports are passed on: a measurement that has ended has left its last.
      const bool measuring = probes_.measuring();
      for (auto& [peer, report] : probes_.take_reports()) reply(peer, report);
      auto msg = server_.receive_from(measuring ? 20 : 200);
      if (Clock::now() - last_reload > std::chrono::seconds(2)) {
        reload_trusted();
        last_reload = Clock::now();
      }
      if (!msg) continue;  // a timeout (or a dropped connection): keep serving
      handle(*msg);
      if (session_over_ && options_.exit_after_session) break;
    }
    return Status::ok();
  }

  // Reads heads/ again (see TrustedHeads); the session of a head whose key was removed ends.
  void reload_trusted() {
    if (!trusted_) return;
    const std::string label = head_label();  // before the reading: it may drop the key's file
    for (const std::string& line : trusted_->reload(server_)) log(line);
    if (session_.active() && !session_.key.empty() && !trusted_->admits(session_.key)) {
      log("the key of head " + label + " was removed from " + options_.trusted_dir + ": its session ends");
      reply(session_.peer, bytes_frame(MessageType::kError, 0,
                                       "device " + device_name() + " no longer accepts this head: its key was removed from the worker's heads/ folder"));
      end_session();
    }
  }

 private:
  void info(const std::string& line) {
    if (!options_.quiet) log(line);
  }
  void log(const std::string& line) { std::fprintf(stderr, "lingua worker %s: %s\n", options_.name.c_str(), line.c_str()); }

  void reply(const std::string& peer, const Frame& f) {
    if (Status st = server_.send(peer, encode_frame(f)); !st) log("cannot answer: " + st.message());
  }
  void report_error(uint64_t sequence, const std::string& text) {
    log(text);
    if (session_.active()) reply(session_.peer, bytes_frame(MessageType::kError, sequence, "device " + device_name() + ": " + text));
  }
  std::string device_name() const { return assignment_ ? assignment_->device : options_.name; }

  std::string head_label() const { return session_.label(trusted_ ? &*trusted_ : nullptr); }

  // The head said goodbye, was revoked, or is gone: everything of its session is freed, and the
  // next head is welcome.
  void end_session() {
    release();
    session_.clear();
    session_over_ = true;
  }

  // HELLO while another head holds this worker: refused at once, unless that head's connection
  // has gone (killed, or silent past its heartbeats), which frees the worker for the new one.
  bool refuse_if_busy(const Received& msg, const std::string& name) {
    if (!session_.active() || msg.peer == session_.peer) return false;
    if (!server_.connected(session_.peer)) {
      info("head " + head_label() + " is gone (its connection dropped): its session ends");
      end_session();
      return false;
    }
    const std::string text = "device " + options_.name + " is busy: it serves head " + head_label() + " since " + session_.since +
                             "; a worker serves one head at a time";
    log("refused head " + (name.empty() ? std::string("(unnamed)") : name) + ": busy with head " + head_label());
    reply(msg.peer, bytes_frame(MessageType::kError, 0, text));
    return true;
  }

  void handle(const Received& msg) {
    auto decoded = decode_frame(msg.payload);
    if (!decoded) {
      log("dropped a frame: " + decoded.error());
      return;
    }
    Frame& f = *decoded;
    const bool from_head = msg.role == kRoleHead;
    // A key admitted for a link test may probe and do nothing else.
    if (msg.role == kRoleProber && f.header.type != MessageType::kProbe)
      return log(std::string("dropped a ") + message_type_name(f.header.type) + " frame from a key admitted for link probes only");
    // Only the session's head may steer it. TENSOR frames come from peer workers, and PROBE frames
    // from any worker measuring its link to this one; in plain mode they cannot be told from heads.
    const bool steers = f.header.type != MessageType::kHello && f.header.type != MessageType::kTensor &&
                        f.header.type != MessageType::kProbe;
    if (from_head && steers && session_.active() && msg.peer != session_.peer) {
      if (f.header.type == MessageType::kBye) return;  // a head refused as busy, saying goodbye
      return log(std::string("dropped a ") + message_type_name(f.header.type) + " frame from a head it does not serve");
    }
    switch (f.header.type) {
      case MessageType::kHello: {
        if (!from_head) return log("dropped a HELLO from a peer that is not a head");
        auto hello = parse_head_hello(std::string(f.payload.begin(), f.payload.end()));
        const std::string name = hello ? hello->name : "";
        if (refuse_if_busy(msg, name)) return;
        if (msg.peer != session_.peer) session_.start(msg, name);
        session_over_ = false;
        reply(msg.peer, bytes_frame(MessageType::kHello, 0,
                                    to_json(WorkerHello{options_.name, options_.channel.insecure ? "" : options_.channel.own.public_key,
                                                        ThreadPool::hardware_threads(), options_.profile})));
        return;
      }
      case MessageType::kAssign: {
        if (!from_head) return log("dropped an ASSIGN from a peer that is not a head");
        if (!session_.active()) session_.start(msg, "");
        const std::string json(f.payload.begin(), f.payload.end());
        if (is_trust_peers(json)) {  // the workers that will connect to it under the coming plan
          auto trust = parse_trust_peers(json);
          if (!trust) return report_error(0, trust.error());
          for (const std::string& key : trust->keys) server_.trust(key, kRolePeer);
          reply(msg.peer, bytes_frame(MessageType::kAssign, 0, "{\"ok\":true}"));
          return;
        }
        if (json == kStandbyAssignment) {  // no segment in the new plan: free everything, stay connected
          if (assignment_) info("stands by: no segment in the new plan");
          release();
          reply(msg.peer, bytes_frame(MessageType::kAssign, 0, "{\"ok\":true}"));
          return;
        }
        bool need_weights = false;
        if (Status st = assign(json, &need_weights); !st) {
          report_error(0, st.message());
          release();
        } else {
          reply(msg.peer, bytes_frame(MessageType::kAssign, 0, need_weights ? "{\"need_weights\":true}" : "{\"ok\":true}"));
        }
        return;
      }
      case MessageType::kWeights:
        if (!from_head) return log("dropped a WEIGHTS frame from a peer that is not a head");
        return on_weights(f);
      case MessageType::kToken:
        if (!from_head) return log("dropped a TOKEN from a peer that is not a head");
        return on_step_tokens(std::move(f));
      case MessageType::kTensor:
        return on_tensor(std::move(f));
      case MessageType::kBatch:
        if (!from_head) return log("dropped a BATCH from a peer that is not a head");
        return on_batch(std::move(f));
      case MessageType::kProbe:
        if (auto answer = probes_.on_probe(msg.peer, f)) reply(msg.peer, *answer);
        return;
      case MessageType::kLinkTest: {
        if (!from_head) return log("dropped a LINK_TEST from a peer that is not a head");
        if (!session_.active()) session_.start(msg, "");
        auto now = probes_.on_link_test(server_, msg.peer, device_name(), f);
        if (!now) return report_error(0, now.error());
        for (const Frame& answer : *now) reply(msg.peer, answer);
        return;
      }
      case MessageType::kKvExport:
        if (!from_head) return log("dropped a KV_EXPORT from a peer that is not a head");
        return on_kv_export(f);
      case MessageType::kKvImport:
        if (!from_head) return log("dropped a KV_IMPORT from a peer that is not a head");
        return on_kv_import(f);
      case MessageType::kBye:
        if (!from_head) return log("dropped a BYE from a peer that is not a head");
        if (f.header.sequence != 0) {
          forget_sequence(f.header.sequence);
          // Acknowledged: the head may reuse the id only once every worker has let it go, or a new
          // step's tensors from an upstream peer could overtake this BYE and meet the old state.
          reply(msg.peer, bytes_frame(MessageType::kBye, f.header.sequence, ""));
        } else {
          end_session();
        }
        return;
      default:
        return log(std::string("dropped an unexpected ") + message_type_name(f.header.type) + " frame");
    }
  }

  void on_weights(const Frame& f) {
    if (!receiver_) return log("dropped a WEIGHTS frame: none expected");
    if (Status st = receiver_->write(f.payload); !st) {
      receiver_.reset();
      return report_error(0, st.message());
    }
    // Acknowledge every so often: the head keeps at most a window of pieces in flight.
    if (++pieces_ % kWeightsAckEvery == 0) {
      Frame ack = bytes_frame(MessageType::kWeights, 0, "");
      ack.header.position = static_cast<int64_t>(receiver_->received());
      reply(session_.peer, ack);
    }
    const uint64_t step = receiver_->received() >> 26;  // a line every 64 MiB
    if (step != last_logged_) {
      last_logged_ = step;
      info("received " + mib(receiver_->received()) + " of weights");
    }
  }

  void release() {
    receiver_.reset();
    links_.clear();
    sequences_.clear();
    batches_.clear();
    last_batch_run_ = 0;
    last_batch_seen_ = 0;
    executor_.reset();  // before the model whose graph it runs
    assignment_.reset();
    pool_.reset();
    model_.reset();
    loaded_path_.clear();
  }

  // Takes an assignment: finds the segment's weights in a file it has, or asks the head for them
  // (*need_weights) and takes the same assignment again once they have arrived.
  Status assign(const std::string& json, bool* need_weights) {
    LINGUA_ASSIGN_OR_RETURN(SegmentAssignment a, parse_assignment(json));
    if (a.threads == 0) a.threads = std::max(1, options_.threads);
    // Its own limit (cgroup, --memory, what was free at start) bounds whatever the head budgets.
    if (options_.memory_limit_bytes > 0 && (a.memory_bytes == 0 || a.memory_bytes > options_.memory_limit_bytes))
      a.memory_bytes = options_.memory_limit_bytes;
    // A boundary move keeps the sequences (and the model they point into) until their KV caches
    // are carried over to the new segment's executors.
    std::map<uint64_t, SequenceState> kept;
    std::unique_ptr<Executor> kept_executor;
    std::unique_ptr<Model> kept_model;
    if (a.resume) {
      for (auto& [id, seq] : sequences_)
        if (!seq.steps.empty()) return Status::error("a boundary move while sequence " + std::to_string(id) + " has steps in flight");
      if (!batches_.empty()) return Status::error("a boundary move while batch steps are in flight");
      kept = std::move(sequences_);
      kept_executor = std::move(executor_);
      kept_model = std::move(model_);
    }
    std::string path;
    if (receiver_ && receiver_hash_ == a.weights_hash) {
      auto done = receiver_->finish(a.weights_tensors);
      receiver_.reset();
      if (!done) return done.status();
      path = *done;
      info("received its weights: " + path);
    }
    const std::string loaded_path = loaded_path_;
    const auto load_start = Clock::now();
    release();
    // With --models, only that directory and the cache count; otherwise the head's own path, which
    // a worker on the head's machine can open. A file with the segment's tensors but other
    // settings (a RoPE base, a norm epsilon...) would compute other tokens without an error
    // anywhere: it is passed over, and said so.
    std::vector<std::string> other_settings;
    if (path.empty()) {
      FileMatch found = find_matching_file(options_.models_dir.empty() ? std::vector<std::string>{a.model_path} : std::vector<std::string>{},
                                           {options_.models_dir, options_.cache_dir}, a.weights_tensors, a.weights_hash, a.tensors_hash, &digests_);
      path = found.path;
      if (path.empty()) other_settings = std::move(found.other_settings);
      for (const std::string& p : other_settings)
        log("does not use " + p + ": it holds the segment's weights, but its metadata (architecture, hyper-parameters, RoPE or "
            "norm settings, vocabulary) differs from the head's model, so it would compute other tokens");
    }
    if (path.empty()) {
      if (options_.cache_dir.empty()) {
        if (!other_settings.empty())
          return Status::error("its model file " + other_settings.front() +
                               " has the segment's weights but other metadata than the head's model, and it has no cache "
                               "directory to receive the right ones");
        return Status::error("it has no copy of the model and no cache directory to receive one");
      }
      if (a.resume) {  // the sequences wait, with the model they point into, until the weights are here
        sequences_ = std::move(kept);
        executor_ = std::move(kept_executor);
        model_ = std::move(kept_model);
      }
      LINGUA_ASSIGN_OR_RETURN(SparseFileReceiver r, SparseFileReceiver::create(options_.cache_dir, a.file_bytes, a.weights_hash));
      receiver_ = std::make_unique<SparseFileReceiver>(std::move(r));
      receiver_hash_ = a.weights_hash;
      pieces_ = 0;
      last_logged_ = 0;
      info("has no file with its segment's weights: asking the head for them");
      *need_weights = true;
      return Status::ok();
    }
    std::unique_ptr<Model> model;
    if (kept_model && path == loaded_path) {
      model = std::move(kept_model);  // the same file: its mapping serves the new range as well
    } else {
      auto loaded = Model::load(path);
      if (!loaded) return Status::error("cannot load the model: " + loaded.error());
      model = std::move(*loaded);
    }
    const Graph& g = model->graph();
    if (a.partition.back().last_op != g.size() - 1)
      return Status::error("the assignment's partition does not match the model (" + std::to_string(g.size()) + " ops)");
    const Segment seg = a.partition[static_cast<size_t>(a.segment)];
    // The memory budget is checked before anything is allocated or touched.
    const auto costs = op_costs(g);
    uint64_t kv_per_sequence = 0;  // sliding-window layers hold their window, the others the context
    for (int i = seg.first_op; i <= seg.last_op; ++i) kv_per_sequence += kv_bytes(costs[static_cast<size_t>(i)], a.context);
    const uint64_t weights = segment_weight_bytes(g, seg);
    const uint64_t kv = kv_per_sequence * static_cast<uint64_t>(a.max_sequences);
    if (a.memory_bytes > 0 && weights + kv > a.memory_bytes)
      return Status::error("ops " + std::to_string(seg.first_op) + ".." + std::to_string(seg.last_op) + " need " + mib(weights + kv) +
                           " (weights " + mib(weights) + ", KV cache " + mib(kv) + " for " + std::to_string(a.max_sequences) +
                           " sequence(s) of " + std::to_string(a.context) + " positions), more than its memory budget of " +
                           mib(a.memory_bytes));
    Partition partition;
    LINGUA_ASSIGN_OR_RETURN(partition, partition_from(g, a.partition));
    sends_.clear();
    receives_.clear();
    for (const Transmission& t : transmission_map(g, partition)) {
      if (t.from == a.segment) sends_.push_back(t);
      if (std::find(t.to.begin(), t.to.end(), a.segment) != t.to.end()) receives_.insert(t.op);
    }
    // One link per downstream segment this one sends to.
    for (const PeerLink& p : a.peers) {
      ChannelOptions o = options_.channel;
      o.server_public = p.public_key;
      auto link = LinkSender::start(context_, p.endpoint, o, LinkShape{p.latency_s, p.bytes_per_s});
      if (!link) return Status::error("cannot reach the worker of segment " + std::to_string(p.segment) + ": " + link.error());
      links_[p.segment] = std::move(*link);
    }
    for (const Transmission& t : sends_)
      for (int to : t.to)
        if (!links_.count(to)) return Status::error("no peer given for segment " + std::to_string(to));
    for (const std::string& k : a.trusted_peers) server_.trust(k, kRolePeer);
    // Huge pages for the segment's weights (a copy, at the same addresses; after a boundary move
    // the ops left behind go back to the file): decode streams them every token, and with 4 KiB
    // file pages a worker that waited between tokens (every stage of a pipeline but the busiest)
    // pays up to 2x in page walks. Without them the map still works.
    // Within this device's own limit (a cgroup's, or --memory) as well as what the machine has.
    // Under a hard limit the weights take the same memory whether copied or mapped (a cgroup
    // counts the page cache too, and the copy's file pages are dropped as it goes), so the copy may
    // use what the limit leaves, less a margin for the process; otherwise 80% of what is free.
    uint64_t headroom = available_memory_bytes();
    double fraction = 0.8;
    if (options_.memory_limit_bytes > 0) {
      constexpr uint64_t kMarginBytes = 64ull << 20;
      const uint64_t anon = process_anonymous_bytes() + kMarginBytes;
      const uint64_t left = options_.memory_limit_bytes > anon ? options_.memory_limit_bytes - anon : 1;
      if (headroom == 0 || left < headroom) headroom = left, fraction = 1.0;
    }
    const auto copy_start = Clock::now();
    if (auto moved = model->keep_in_huge_pages(seg.first_op, seg.last_op, headroom, fraction); !moved)
      info("keeps its weights in 4 KiB pages: " + moved.error());
    const auto copy_end = Clock::now();
    model_ = std::move(model);
    loaded_path_ = path;
    if (!pool_ || pool_->size() != a.threads) pool_ = std::make_unique<ThreadPool>(a.threads);
    const bool resume = a.resume;
    assignment_ = std::move(a);
    if (!resume) decode_tokens_ = 0;  // the emulated slowdown counts on across boundary moves
    ExecutorConfig c;
    c.context = assignment_->context;
    c.max_batch = assignment_->max_batch;
    c.max_sequences = assignment_->max_sequences;
    c.segment = seg;
    LINGUA_ASSIGN_OR_RETURN(Executor ex, Executor::create(model_->graph(), c));
    executor_ = std::make_unique<Executor>(std::move(ex));
    for (const auto& [id, pos] : assignment_->sequences) {
      auto old = kept.find(id);
      LINGUA_TRY(old != kept.end() ? carry_over(id, old->second, *kept_executor) : arrive(id, pos));
    }
    kept_executor.reset();  // before kept_model, whose graph it ran
    info("runs ops " + std::to_string(seg.first_op) + ".." + std::to_string(seg.last_op) + " of " + model_path_name() + " (" +
        mib(weights) + " of weights) with " + std::to_string(assignment_->threads) + " thread(s); ready in " + ms(load_start, Clock::now()) +
        " (" + ms(copy_start, copy_end) + " of it copying weights into huge pages)");
    return Status::ok();
  }

  // The file it actually maps, which need not be the head's (its own copy, or a received segment).
  std::string model_path_name() const { return std::filesystem::path(loaded_path_).filename().string(); }

  static Expected<Partition> partition_from(const Graph& g, const std::vector<Segment>& segments) {
    std::vector<int> starts;
    for (size_t i = 1; i < segments.size(); ++i) starts.push_back(segments[i].first_op);
    return Partition::from_starts(g, starts);
  }

  // The sequence's state, created on first use within the max_sequences limit.
  SequenceState* sequence(uint64_t id) {
    auto it = sequences_.find(id);
    if (it != sequences_.end()) return &it->second;
    if (static_cast<int>(sequences_.size()) >= assignment_->max_sequences) {
      report_error(id, "more sequences in flight than the " + std::to_string(assignment_->max_sequences) + " assigned");
      return nullptr;
    }
    return &sequences_[id];
  }

  // The sequence's state and its KV cache are gone (BYE, or a step of it failed).
  void forget_sequence(uint64_t id) {
    sequences_.erase(id);
    if (executor_) executor_->end_sequence(id);
  }

  Step* step(SequenceState& s, uint64_t id, int64_t pos) {
    if (pos < s.next_pos) {
      report_error(id, "a frame for position " + std::to_string(pos) + ", which is already done");
      return nullptr;
    }
    if (!s.steps.count(pos) && static_cast<int>(s.steps.size()) >= kMaxPendingSteps) {
      report_error(id, "too many steps waiting for their inputs");
      return nullptr;
    }
    return &s.steps[pos];
  }

  void on_step_tokens(Frame f) {
    if (!assignment_) return log("dropped a TOKEN frame: no segment assigned");
    auto ids = token_payload(f);
    if (!ids) return report_error(f.header.sequence, ids.error());
    if (ids->empty() || static_cast<int64_t>(ids->size()) > assignment_->max_batch)
      return report_error(f.header.sequence, "a step of " + std::to_string(ids->size()) + " tokens");
    SequenceState* s = sequence(f.header.sequence);
    if (!s) return;
    Step* st = step(*s, f.header.sequence, f.header.position);
    if (!st) return;
    st->tokens = std::move(*ids);
    st->tokens_at = Clock::now();
    run_all_ready();
  }

  // The pending BATCH step of this id, made on its first frame (BATCH or TENSOR, whichever comes first).
  PendingBatch* batch(uint64_t id) {
    if (id <= last_batch_run_) {
      report_error(0, "a frame for batch step " + std::to_string(id) + ", which is already done");
      return nullptr;
    }
    if (!batches_.count(id) && batches_.size() >= kMaxPendingBatches) {
      report_error(0, "too many batch steps waiting for their inputs");
      return nullptr;
    }
    return &batches_[id];
  }

  void on_batch(Frame f) {
    if (!assignment_) return log("dropped a BATCH frame: no segment assigned");
    auto parsed = parse_batch_step(std::string(f.payload.begin(), f.payload.end()));
    if (!parsed) return report_error(0, parsed.error());
    if (parsed->rows() > assignment_->max_batch || static_cast<int>(parsed->groups.size()) > assignment_->max_sequences)
      return report_error(parsed->groups.front().sequence, "a batch step of " + std::to_string(parsed->rows()) + " tokens of " +
                                                               std::to_string(parsed->groups.size()) + " sequences, more than the " +
                                                               std::to_string(assignment_->max_batch) + " tokens or " +
                                                               std::to_string(assignment_->max_sequences) + " sequences assigned");
    for (const BatchStepGroup& g : parsed->groups) {
      SequenceState* s = sequence(g.sequence);
      if (!s) return;
      if (g.pos0 < s->next_pos)
        return report_error(g.sequence, "a batch step at position " + std::to_string(g.pos0) + ", which is already done");
    }
    // The head sends its BATCH frames in order: rows waiting for an earlier batch that never
    // came are left over from before a re-assignment (a lost device's replay uses new ids).
    last_batch_seen_ = std::max(last_batch_seen_, f.header.sequence);
    for (auto it = batches_.begin(); it != batches_.end() && it->first < f.header.sequence;)
      it = it->second.step ? std::next(it) : batches_.erase(it);
    PendingBatch* b = batch(f.header.sequence);
    if (!b) return;
    b->step = std::move(*parsed);
    b->tokens_at = Clock::now();
    run_all_ready();
  }

  void on_tensor(Frame f) {
    if (!assignment_) return log("dropped a TENSOR frame: no segment assigned");
    const int op = static_cast<int>(f.header.tensor_id);
    if (!receives_.count(op))
      return log("dropped a TENSOR frame for op " + std::to_string(op) + ", which this segment does not read");
    if (f.header.position == -1) {  // a batch step's rows
      if (f.header.sequence <= last_batch_seen_ && !batches_.count(f.header.sequence))
        return log("dropped a TENSOR frame of batch step " + std::to_string(f.header.sequence) + ", which is not in flight here");
      PendingBatch* b = batch(f.header.sequence);
      if (!b) return;
      b->inputs[op] = std::move(f);
      return run_all_ready();
    }
    SequenceState* s = sequence(f.header.sequence);
    if (!s) return;
    Step* st = step(*s, f.header.sequence, f.header.position);
    if (!st) return;
    st->inputs[op] = std::move(f);
    run_all_ready();
  }

  // After a boundary move: a fresh executor for the new segment, holding the KV cache of the
  // attention layers both segments run; the others are expected as KV_IMPORT frames.
  Status carry_over(uint64_t id, SequenceState& old, Executor& from) {
    SequenceState* s = sequence(id);
    if (!s) return Status::error("cannot keep sequence " + std::to_string(id) + " across the boundary move");
    s->next_pos = old.next_pos;
    Executor& to = *executor_;
    LINGUA_ASSIGN_OR_RETURN(KVCache* from_kv, from.open_sequence(id));
    LINGUA_ASSIGN_OR_RETURN(KVCache* to_kv, to.open_sequence(id));
    for (int slot = 0; slot < to_kv->n_slots(); ++slot) {
      const int global = to.kv_base() + slot;
      const int local = global - from.kv_base();
      if (from_kv->n_slots() > 0 && local >= 0 && local < from_kv->n_slots()) {
        const auto bytes = from_kv->serialize(old.next_pos, local, 1);
        LINGUA_TRY(to_kv->deserialize(bytes.data(), bytes.size(), slot).status());
      } else {
        s->missing_slots.insert(global);
      }
    }
    return Status::ok();
  }

  // A sequence new to this device in a boundary move: every layer's KV cache is to arrive.
  Status arrive(uint64_t id, int64_t pos) {
    SequenceState* s = sequence(id);
    if (!s) return Status::error("cannot take sequence " + std::to_string(id) + " in the boundary move");
    s->next_pos = pos;
    if (Status st = executor_->open_sequence(id).status(); !st) return st;
    for (int slot = 0; slot < executor_->kv_slots(); ++slot) s->missing_slots.insert(executor_->kv_base() + slot);
    return Status::ok();
  }

  // KV_EXPORT {"keep":[first_op,last_op]} from the head, before a boundary move: every sequence's
  // KV cache of the attention layers outside the range it keeps goes to the head (one frame per
  // layer: tensor_id = its graph-wide slot, position = positions held), then {"frames":count}.
  void on_kv_export(const Frame& f) {
    if (!assignment_) return report_error(0, "asked for KV caches with no segment assigned");
    auto request = parse_kv_export_request(std::string(f.payload.begin(), f.payload.end()));
    if (!request) return report_error(0, request.error());
    const int keep_first = request->keep_first, keep_last = request->keep_last;
    const Graph& g = model_->graph();
    uint64_t frames = 0;
    if (!batches_.empty()) return report_error(0, "asked for KV caches while batch steps are in flight");
    for (auto& [id, seq] : sequences_) {
      if (!seq.steps.empty()) return report_error(id, "asked for KV caches while steps are in flight");
      Executor& ex = *executor_;
      auto kv = ex.open_sequence(id);
      if (!kv) return report_error(id, kv.error());
      int slot = 0;
      for (int op = ex.segment().first_op; op <= ex.segment().last_op; ++op) {
        if (g.op(op).kind != OpKind::kAttention) continue;
        if (op < keep_first || op > keep_last) {
          Frame out = bytes_frame(MessageType::kKvExport, id, "");
          out.payload = (*kv)->serialize(seq.next_pos, slot, 1);
          out.header.payload_length = out.payload.size();
          out.header.tensor_id = static_cast<uint32_t>(ex.kv_base() + slot);
          out.header.position = seq.next_pos;
          reply(session_.peer, out);
          ++frames;
        }
        ++slot;
      }
    }
    Frame done = bytes_frame(MessageType::kKvExport, 0, "{\"frames\":" + std::to_string(frames) + "}");
    reply(session_.peer, done);
  }

  // KV_IMPORT from the head after a boundary move: layers this device gained, for one sequence.
  void on_kv_import(const Frame& f) {
    if (!assignment_) return log("dropped a KV_IMPORT frame: no segment assigned");
    auto it = sequences_.find(f.header.sequence);
    if (it == sequences_.end()) return report_error(f.header.sequence, "KV cache for a sequence it does not have");
    SequenceState& s = it->second;
    Executor& ex = *executor_;
    const int first = static_cast<int>(f.header.tensor_id) - ex.kv_base();
    auto kv = ex.open_sequence(f.header.sequence);
    if (!kv) return report_error(f.header.sequence, "KV cache import: " + kv.error());
    auto positions = (*kv)->deserialize(f.payload.data(), f.payload.size(), first);
    if (!positions) return report_error(f.header.sequence, "KV cache import: " + positions.error());
    if (*positions != s.next_pos)
      return report_error(f.header.sequence, "KV cache import of " + std::to_string(*positions) + " positions, the sequence is at " +
                                                 std::to_string(s.next_pos));
    uint32_t count = 0;
    std::memcpy(&count, f.payload.data() + 4, 4);  // deserialize checked the header
    for (uint32_t k = 0; k < count; ++k) s.missing_slots.erase(static_cast<int>(f.header.tensor_id + k));
    run_all_ready();
  }

  // Runs every step (single or batch) whose turn it is and whose inputs are all here, until none is.
  void run_all_ready() {
    for (bool ran = true; ran;) {
      ran = false;
      for (auto it = sequences_.begin(); it != sequences_.end();) {
        const uint64_t id = (it++)->first;  // a failed step forgets its sequence
        ran |= run_ready(id);
      }
      ran |= run_ready_batch();
    }
  }

  bool imports_here(const std::map<int, Frame>& inputs) const {
    for (int op : executor_->imports())
      if (!inputs.count(op)) return false;
    return true;
  }

  // The sequence's next single step, when it can run. True when one ran (or failed).
  bool run_ready(uint64_t id) {
    SequenceState& s = sequences_.at(id);
    if (s.steps.empty()) return false;
    auto it = s.steps.begin();
    if (it->first != s.next_pos || !it->second.tokens || !s.missing_slots.empty() || !imports_here(it->second.inputs)) return false;
    Step st = std::move(it->second);
    s.steps.erase(it);
    const std::vector<BatchGroup> groups{BatchGroup{id, st.tokens->data(), static_cast<int64_t>(st.tokens->size()), s.next_pos}};
    if (Status r = run_forward(groups, st.inputs, st.tokens_at, id, s.next_pos); !r) {
      forget_sequence(id);
      report_error(id, r.message());
    }
    return true;
  }

  // The oldest batch step, when it can run: every group's sequence at its position, its KV cache
  // complete, every input here. Batch steps run in the order of their ids (the head's order).
  bool run_ready_batch() {
    if (batches_.empty()) return false;
    auto it = batches_.begin();
    PendingBatch& b = it->second;
    if (!b.step || !imports_here(b.inputs)) return false;
    for (const BatchStepGroup& g : b.step->groups) {
      auto s = sequences_.find(g.sequence);
      if (s == sequences_.end()) {  // ended (or failed) after the batch came: the batch cannot run
        const uint64_t dropped = it->first;
        batches_.erase(it);
        last_batch_run_ = dropped;
        report_error(g.sequence, "batch step " + std::to_string(dropped) + " names sequence " + std::to_string(g.sequence) +
                                     ", which is not in flight here");
        return true;
      }
      if (s->second.next_pos != g.pos0 || !s->second.missing_slots.empty()) return false;
    }
    const uint64_t id = it->first;
    PendingBatch ready = std::move(b);
    batches_.erase(it);
    last_batch_run_ = id;
    std::vector<BatchGroup> groups;
    for (const BatchStepGroup& g : ready.step->groups)
      groups.push_back(BatchGroup{g.sequence, g.tokens.data(), static_cast<int64_t>(g.tokens.size()), g.pos0});
    if (Status r = run_forward(groups, ready.inputs, ready.tokens_at, id, -1); !r) {
      for (const BatchGroup& g : groups) forget_sequence(g.sequence);
      report_error(groups.front().sequence, r.message());
    }
    return true;
  }

  // One forward over the groups' tokens. Its TENSOR frames go out tagged (tag_sequence,
  // tag_position): a single step's sequence and position, or a batch's id and -1. The last segment
  // answers each group with its own LOGITS frame (its sequence and first position).
  Status run_forward(const std::vector<BatchGroup>& groups, const std::map<int, Frame>& inputs, Clock::time_point tokens_at,
                     uint64_t tag_sequence, int64_t tag_position) {
    Executor& ex = *executor_;
    int64_t n = 0;
    for (const BatchGroup& g : groups) n += g.n;
    const auto n_groups = static_cast<int64_t>(groups.size());
    const Graph& g = model_->graph();
    for (int op : ex.imports()) {
      const Frame& f = inputs.at(op);
      LINGUA_ASSIGN_OR_RETURN(std::vector<float> rows, tensor_payload_f32(f));
      const int64_t want = ex.rows_of(op, n, n_groups, false);
      if (static_cast<int64_t>(f.header.dims[0]) != want || static_cast<int64_t>(f.header.dims[1]) != g.op(op).out_dim)
        return Status::error("tensor of op " + std::to_string(op) + " has the wrong shape");
      LINGUA_TRY(ex.set_input(op, rows.data(), want));
    }
    const auto t0 = Clock::now();
    const bool decode = n == n_groups;  // one token per sequence
    const bool slow = assignment_->slowdown > 1.0 && decode_tokens_ + decode >= assignment_->slowdown_after_tokens;
    if (slow) pacer_.begin(assignment_->slowdown, pool_->size());
    ex.set_after_op(slow ? std::function<void()>([this] { pacer_.pace(false); }) : nullptr);
    const Status ran = ex.forward_batch(groups, *pool_, logits_, false);
    ex.set_after_op(nullptr);
    pool_->rest();  // the sends below need a core more than a spinning idle worker does
    LINGUA_TRY(ran);
    if (slow) pacer_.pace(true);
    if (decode) ++decode_tokens_;
    StepReport report;
    report.sequence = groups.front().sequence;
    report.position = groups.front().pos0;
    report.tokens = n;
    report.compute_s = std::chrono::duration<double>(Clock::now() - t0).count();
    report.wait_s = std::max(0.0, std::chrono::duration<double>(t0 - tokens_at).count());
    for (const BatchGroup& bg : groups) sequences_.at(bg.sequence).next_pos = bg.pos0 + bg.n;
    for (const Transmission& t : sends_) {
      const int64_t rows = ex.rows_of(t.op, n, n_groups, false);
      const Frame out = tensor_frame(tag_sequence, tag_position, static_cast<uint32_t>(t.op), ex.output(t.op),
                                     static_cast<uint64_t>(rows), static_cast<uint64_t>(g.op(t.op).out_dim), assignment_->wire_dtype);
      const std::vector<uint8_t> bytes = encode_frame(out);
      for (int to : t.to) LINGUA_TRY(links_.at(to)->send(bytes));
    }
    for (auto& [to, link] : links_) {
      const double seconds = link->take_link_seconds();
      report.links.emplace_back(to, seconds);
      report.link_s += seconds;
    }
    const DeviceReadings readings = read_device_readings();
    report.memory_bytes = readings.memory_bytes;
    report.temperature_c = readings.temperature_c;
    report.battery = readings.battery;
    // Before the logits: the head has this step's report when it wakes for the answer.
    reply(session_.peer, bytes_frame(MessageType::kStats, report.sequence, to_json(report)));
    if (ex.segment().last_op == g.size() - 1) {
      const size_t vocab = logits_.size() / groups.size();
      for (size_t k = 0; k < groups.size(); ++k) {
        Frame out = tensor_frame(groups[k].sequence, groups[k].pos0, static_cast<uint32_t>(g.output()), logits_.data() + k * vocab, 1,
                                 static_cast<uint64_t>(vocab), DType::F32);
        out.header.type = MessageType::kLogits;
        reply(session_.peer, out);
      }
    }
    return Status::ok();
  }

  WorkerOptions options_;
  Server server_;
  zmq::context_t context_{1};
  WorkerProbes probes_{context_, options_.channel};  // after context_: its thread's sockets close first
  // The one head it serves, until BYE, revocation, or its connection is found gone.
  HeadSession session_;
  bool session_over_ = false;
  std::optional<TrustedHeads> trusted_;  // with a heads/ folder to watch
  std::optional<SegmentAssignment> assignment_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<Transmission> sends_;  // tensors this segment makes for later ones
  std::set<int> receives_;           // ops whose outputs it reads from earlier segments
  std::map<int, std::unique_ptr<LinkSender>> links_;
  std::map<uint64_t, SequenceState> sequences_;
  std::unique_ptr<Executor> executor_;           // the segment's, every sequence's KV cache in it
  std::map<uint64_t, PendingBatch> batches_;     // by batch id
  uint64_t last_batch_run_ = 0;                  // batch ids up to this one are done
  uint64_t last_batch_seen_ = 0;                 // the newest BATCH frame's id
  std::vector<float> logits_;
  int64_t decode_tokens_ = 0;
  SlowdownPacer pacer_;  // emulated slowdown
  std::string loaded_path_;  // the file model_ maps
  std::unique_ptr<SparseFileReceiver> receiver_;  // weights arriving from the head
  uint64_t receiver_hash_ = 0, pieces_ = 0, last_logged_ = 0;
  FileDigests digests_;  // of the files it looked in: a boundary move hashes only what is new to it
};

}  // namespace

Status run_worker(const WorkerOptions& options, const std::atomic<bool>& stop) {
  // Emulated slowdowns wait in slices of about a millisecond: the default 50 us timer slack
  // would add 5-10% to them.
  ::prctl(PR_SET_TIMERSLACK, 1000UL);
  ChannelOptions channel = options.channel;
  channel.heartbeat_ms = kHeartbeatMs;  // so a head whose machine vanished is seen gone, not busy forever
  WorkerOptions own = options;
  if (own.measure_profile) {
    // Before listening: a head (or a script waiting for the port) that connects while the device
    // measures itself, up to a minute under a small CPU quota, would wait for a HELLO answer that
    // cannot come. The address is tried first, so one it cannot have is said at once.
    { LINGUA_TRY(Server::bind(options.listen, channel).status()); }
    auto profile = measure_device_profile(own.threads, own.memory_flag_bytes, own.reprofile);
    if (!profile) return Status::error("measuring this device: " + profile.error());
    const DeviceReadings readings = read_device_readings();
    profile->battery = readings.battery;
    profile->temperature_c = readings.temperature_c;
    own.memory_limit_bytes = profile->memory_bytes;
    if (!own.quiet) std::fprintf(stderr, "lingua worker %s: profile: %s\n", own.name.c_str(), describe(*profile).c_str());
    own.profile = std::move(*profile);
  }
  LINGUA_ASSIGN_OR_RETURN(Server server, Server::bind(options.listen, channel));
  const std::string endpoint = server.endpoint();
  Worker w(own, std::move(server));
  w.reload_trusted();  // before anyone is told where it listens
  if (options.ready_fd >= 0) {
    const std::string line = endpoint + "\n";
    if (::write(options.ready_fd, line.data(), line.size()) < 0) return Status::error("cannot tell the head where it listens");
    ::close(options.ready_fd);
  }
  if (!options.quiet)
    std::fprintf(stderr, "lingua worker %s: listening on %s (%s)\n", options.name.c_str(), endpoint.c_str(),
                 options.channel.insecure ? "plain, no encryption" : "CURVE");
  return w.run(stop);
}

}  // namespace lingua

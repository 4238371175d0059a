// The head's side of a distributed run: connects to the workers, hands out the segments of a plan
// (with each worker's downstream peers and the keys it must accept), drives steps (token ids to
// every holder, logits back from the last one), moves boundaries live (KV caches included), and
// names the device when one is lost so the caller can re-plan without it.
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "graph/graph.h"
#include "graph/partition.h"
#include "model/gguf.h"
#include "net/secure_channel.h"
#include "net/wire.h"
#include "plan/devices_file.h"
#include "net/link_sender.h"
#include "runtime/link_probe.h"
#include "runtime/pipeline.h"
#include "runtime/protocol.h"
#include "runtime/segment_weights.h"

namespace lingua {

struct RemoteDevice {
  std::string name;
  std::string endpoint;
  std::string public_key;  // its CURVE server key; "" in plain mode
  int threads = 1;            // 0 = the worker's own --threads
  uint64_t memory_bytes = 0;  // 0 = no limit (beyond the worker's own)
  SlowdownSpec slowdown;
  bool local = false;  // a worker process the head started on this machine (links emulated)
};

struct RemoteOptions {
  ChannelOptions channel;  // the head's keys (or insecure)
  std::string model_path;  // as workers on this machine can open it
  const gguf::File* file = nullptr;  // the head's copy: segment hashes, and weights for workers without them
  // Progress of weights sent to a worker that has no copy (device, bytes sent, bytes in all), at
  // any configure() (moves too): it must own what it uses.
  std::function<void(const std::string&, uint64_t, uint64_t)> on_weights;
  int64_t context = 0;
  int64_t max_batch = 64;
  int max_sequences = 1;
  DType wire_dtype = DType::F32;
  // Emulated link between devices a and b (indices into the device list); unshaped when not set.
  std::function<LinkShape(int, int)> link;
  // The name of a locally started worker process that has ended, or "" while all live; `what`
  // says how it ended.
  std::function<std::string(std::string* what)> liveness;
  int heartbeat_ms = 1000;
  int hello_timeout_ms = 10000;
  int assign_timeout_ms = 300000;
};

// What a boundary move cost: KV bytes relayed and the time from first request to last import.
struct MoveCost {
  uint64_t kv_bytes = 0;
  double seconds = 0;
};

class RemotePipeline : public Pipeline {
 public:
  // Reaches every device (HELLO); nothing is assigned until configure().
  static Expected<std::unique_ptr<RemotePipeline>> connect(std::vector<RemoteDevice> devices, RemoteOptions options);
  ~RemotePipeline() override;

  // Gives segment s of `partition` to device holders[s] and puts every other live device on
  // standby. keep_kv: a boundary move between steps (nothing in flight): sequences carry on, and the
  // KV caches of attention layers that change hands go from the old owner to the new one through
  // the head. Otherwise every sequence starts afresh (after a lost device: the caller replays).
  Status configure(const Graph& graph, const Partition& partition, const std::vector<int>& holders, bool keep_kv,
                   MoveCost* cost = nullptr);

  Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                bool all_logits = false) override;
  // One BATCH frame to every holder: the workers run the sequences' tokens as one forward pass
  // each, and the last answers every sequence with its own LOGITS (so in_flight() counts one
  // step per sequence of the batch).
  Status submit_batch(const std::vector<SequenceStep>& steps) override;
  Expected<StepLogits> next() override;
  Status end_sequence(uint64_t sequence) override;
  int devices() const override { return static_cast<int>(holders_.size()); }

  // Steps submitted whose answer has not come back (every step is answered by the last segment).
  int64_t in_flight() const { return in_flight_; }
  // Handles what the workers send until at most `max_in_flight` steps are unanswered; answers the
  // caller wants are kept for next().
  Status drain(int64_t max_in_flight);
  // After an error: the device whose loss (dropped connection, no heartbeats, process ended)
  // caused it, or -1 when it was something else (an ERROR from a worker, a bad frame).
  int lost_device() const { return lost_device_; }
  // Stops using a lost device: no more steps, no standby; configure() no longer counts it. When
  // it held no segment of the current plan, the pipeline goes on as it was.
  void forget(int device);
  bool alive(int device) const { return alive_[static_cast<size_t>(device)]; }
  // Between requests: reaches one more device (HELLO); it stands by until a plan gives it a segment.
  Status add_device(RemoteDevice device);
  // New limits for a device, sent with its next assignment.
  void update_device(int device, int threads, uint64_t memory_bytes, SlowdownSpec slowdown);
  const std::vector<RemoteDevice>& all_devices() const { return devices_; }
  // What device answered to HELLO (its profile among it, when it measured one).
  const WorkerHello& hello(int device) const { return hellos_[static_cast<size_t>(device)]; }
  const std::vector<int>& holders() const { return holders_; }
  // Called with every step report a worker sends (device index, report).
  void on_report(std::function<void(int, const StepReport&)> f) { on_report_ = std::move(f); }

  // Activation bytes one decode token sends over each link of the current plan (segments).
  struct LinkBytes {
    int from, to;
    uint64_t bytes;
  };
  const std::vector<LinkBytes>& link_bytes_per_token() const { return link_bytes_; }

  // Measured links (runtime/link_probe.h), right after connect() and between steps. The error is
  // only for the head's own problems (no such device, options out of bounds, steps in flight for
  // measure_peer_links); a device that does not answer gives a measurement with an error, after
  // at most options.timeout_s and a small margin, and the pipeline goes on as it was.
  //
  // From the head ("head") to `device`, over a connection of its own.
  Expected<LinkMeasurement> measure_link(int device, const ProbeOptions& options);
  // From `device` to each of `targets` (one measurement per target, in order; targets measured one
  // after the other by the device). In CURVE mode each target is first told to accept probes from
  // the device's key (and nothing else from it).
  Expected<std::vector<LinkMeasurement>> measure_peer_links(int device, const std::vector<int>& targets,
                                                            const ProbeOptions& options);

 private:
  RemotePipeline(std::vector<RemoteDevice> devices, RemoteOptions options)
      : devices_(std::move(devices)), options_(std::move(options)) {}
  Status connect_all();
  // An ASSIGN sent and not yet answered: what to send again, and the tensors, should the device ask
  // for the weights.
  struct SentAssignment {
    std::vector<uint8_t> frame;
    std::vector<std::string> tensors;
  };
  Status trust_upstream(const std::vector<int>& holders);
  Expected<SentAssignment> send_assignment(const Graph& graph, const Partition& partition, const std::vector<int>& holders,
                                           size_t s, bool resume);
  Status finish_assignment(const std::vector<int>& holders, size_t s, const SentAssignment& sent);
  Status standby(size_t device);
  Status move_kv(const Partition& partition, const std::vector<int>& holders, MoveCost* cost);
  Status check_health();
  Status pump();
  Status lost(size_t device, const std::string& what);
  Status send_weights(size_t device, const std::vector<std::string>& tensors);
  Expected<Frame> receive_from(size_t device, int timeout_ms, MessageType expected);
  Status check_link_device(int device, const char* what) const;
  Expected<std::pair<int64_t, LinkTestReport>> await_link_report(size_t device, uint64_t id,
                                                                 std::chrono::steady_clock::time_point deadline);

  std::vector<RemoteDevice> devices_;
  RemoteOptions options_;
  zmq::context_t context_{1};
  std::vector<Client> clients_;
  std::vector<bool> alive_;
  std::vector<WorkerHello> hellos_;                 // per device, from connect_all()
  std::vector<int> holders_;                        // device of each segment of the current plan
  std::set<std::pair<uint64_t, int64_t>> wanted_;  // (sequence, position) whose logits the caller wants
  std::map<uint64_t, int64_t> positions_;           // each sequence's next position
  std::vector<LinkBytes> link_bytes_;
  TensorDigests digests_;  // of options_.file: each move hashes only the tensors not hashed before
  std::map<uint64_t, int> bye_pending_;              // sequence -> holders yet to acknowledge its BYE
  std::deque<StepLogits> ready_;                     // answers that came while draining
  std::vector<Frame> pending_imports_;               // KV caches on their way to new owners
  std::function<void(int, const StepReport&)> on_report_;
  int64_t in_flight_ = 0;
  std::chrono::steady_clock::time_point last_health_check_{};
  int lost_device_ = -1;
  int n_vocab_ = 0;
  uint64_t batch_id_ = 0;      // the last BATCH step's id (its frames' sequence)
  uint64_t link_test_id_ = 0;  // the last LINK_TEST request's id (its frames' sequence)
  bool failed_ = false;
};

}  // namespace lingua

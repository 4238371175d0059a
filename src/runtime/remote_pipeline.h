// The head's side of a distributed run: connects to one worker per segment, hands out the
// assignments (with each worker's downstream peers and the keys it must accept), then drives
// steps: token ids to every worker, logits back from the last one. A worker that reports an
// error, drops its connection or stops answering heartbeats ends the run with its name.
#pragma once
#include <functional>
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
#include "runtime/pipeline.h"

namespace lingua {

struct RemoteDevice {
  std::string name;
  std::string endpoint;
  std::string public_key;  // its CURVE server key; "" in plain mode
  int threads = 1;
  uint64_t memory_bytes = 0;  // 0 = no limit
  SlowdownSpec slowdown;
};

struct RemoteOptions {
  ChannelOptions channel;  // the head's keys (or insecure)
  std::string model_path;  // as workers on this machine can open it
  const gguf::File* file = nullptr;  // the head's copy: segment hashes, and weights for workers without them
  // Progress of weights sent to a worker that has no copy (device, bytes sent, bytes in all).
  std::function<void(const std::string&, uint64_t, uint64_t)> on_weights;
  int64_t context = 0;
  int64_t max_batch = 64;
  int max_sequences = 1;
  DType wire_dtype = DType::F32;
  // Emulated link between the devices of segments a and b (a < b); unshaped when not set.
  std::function<LinkShape(int, int)> link;
  // "" while every locally started worker process lives, else what happened to one.
  std::function<std::string()> liveness;
  int heartbeat_ms = 1000;
  int hello_timeout_ms = 10000;
  int assign_timeout_ms = 300000;
};

class RemotePipeline : public Pipeline {
 public:
  // `devices[s]` runs segment s of `partition`.
  static Expected<std::unique_ptr<RemotePipeline>> start(const Graph& graph, const Partition& partition,
                                                         std::vector<RemoteDevice> devices, RemoteOptions options);
  ~RemotePipeline() override;

  Status submit(uint64_t sequence, const int32_t* tokens, int64_t n, int64_t pos0, bool want_logits,
                bool all_logits = false) override;
  Expected<StepLogits> next() override;
  Status end_sequence(uint64_t sequence) override;
  int devices() const override { return static_cast<int>(devices_.size()); }

  // Activation bytes one decode token sends over each link (from segment, to segment, bytes).
  struct LinkBytes {
    int from, to;
    uint64_t bytes;
  };
  const std::vector<LinkBytes>& link_bytes_per_token() const { return link_bytes_; }

 private:
  RemotePipeline(std::vector<RemoteDevice> devices, RemoteOptions options)
      : devices_(std::move(devices)), options_(std::move(options)) {}
  Status connect_all();
  Status assign_all(const Graph& graph, const Partition& partition);
  Status check_health();
  Status send_weights(size_t device, const std::vector<std::string>& tensors);
  Expected<Frame> receive_from(size_t device, int timeout_ms, MessageType expected);

  std::vector<RemoteDevice> devices_;
  RemoteOptions options_;
  zmq::context_t context_{1};
  std::vector<Client> clients_;
  std::set<std::pair<uint64_t, int64_t>> wanted_;  // (sequence, position) whose logits the caller wants
  std::vector<LinkBytes> link_bytes_;
  int n_vocab_ = 0;
  bool failed_ = false;
};

}  // namespace lingua

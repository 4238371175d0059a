// What the head and the workers say to each other beyond tensors: the HELLO a worker answers
// with and the ASSIGN that gives it a segment, as JSON payloads of the wire frames (net/wire.h),
// parsed and checked here so the worker trusts nothing it did not validate.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "graph/partition.h"
#include "plan/device_profile.h"

namespace lingua {

// Head -> worker: HELLO, saying who asks, so that a worker serving another head can name the
// head that holds it when it refuses this one.
struct HeadHello {
  std::string name;  // host and process of the head, for messages
};

// Worker -> head, in answer to the head's HELLO.
struct WorkerHello {
  std::string name;        // --name, for messages
  std::string public_key;  // its CURVE key (Z85), "" in plain mode
  int cores = 0;           // hardware threads of its machine
  // What it measured of itself at start (JSON key "profile", plan/device_profile.h's format);
  // none with --no-profile (local workers the head prices itself) or from an older worker.
  std::optional<DeviceProfile> profile;
};

// A downstream worker this one sends tensors to.
struct PeerLink {
  int segment = 0;            // the segment it runs
  std::string endpoint;       // where it listens
  std::string public_key;     // its CURVE server key ("" in plain mode)
  double latency_s = 0;       // emulated link: added to each message
  double bytes_per_s = 0;     // emulated link: 0 = not shaped
};

// Head -> worker: run `segment` of the partition of the model at `model_path`.
struct SegmentAssignment {
  std::string device;                 // the devices-file name it plays
  std::string model_path;             // the head's copy: used when it is the same file (same machine)
  uint64_t weights_hash = 0;          // segment_weights(): what the worker's file must hold (settings and tensors)
  uint64_t tensors_hash = 0;          // the tensors alone, to say why a file is not used (0: not given)
  std::vector<std::string> weights_tensors;
  uint64_t file_bytes = 0;            // size of the head's file (for a sparse copy)
  std::vector<Segment> partition;     // every segment, so the worker derives the transmission map
  int segment = 0;                    // its own
  int64_t context = 0;                // KV positions per sequence
  int64_t max_batch = 64;             // tokens per step
  int max_sequences = 1;              // sequences in flight at once (each has its own KV cache)
  int threads = 1;                    // 0 = the worker's own --threads
  uint64_t memory_bytes = 0;          // budget; 0 = no limit (the worker's own limit still applies)
  double slowdown = 1.0;              // emulation: compute this many times slower...
  int64_t slowdown_after_tokens = 0;  // ...from this many decode tokens on
  DType wire_dtype = DType::F32;
  std::vector<PeerLink> peers;        // downstream segments it sends to
  std::vector<std::string> trusted_peers;  // upstream workers' keys it must accept
  // A boundary move (migration): keep every sequence in flight, with the KV cache of the attention
  // layers it still runs; the layers it gains arrive as KV_IMPORT frames before the next step.
  bool resume = false;
  std::vector<std::pair<uint64_t, int64_t>> sequences;  // with resume: every sequence in flight, next position
};

// Worker -> head after each step (STATS frame): what the step cost and how the device is doing.
struct StepReport {
  uint64_t sequence = 0;
  int64_t position = 0;     // first position of the step
  int64_t tokens = 0;       // its batch size (1 = a decode step)
  double compute_s = 0;     // running the segment (emulated slowdown included: that is the device's speed)
  double wait_s = 0;        // from the step's token ids arriving to its inputs all being there
  double link_s = 0;        // emulated link time of what it sent since its last report, all links
  std::vector<std::pair<int, double>> links;  // the same per link: (segment sent to, seconds)
  uint64_t memory_bytes = 0;  // resident memory of the worker process
  double temperature_c = -1;  // hottest thermal zone, -1 = not known
  double battery = -1;        // 0..1, -1 = mains power or not known
};

std::string to_json(const HeadHello& h);
// An empty object (a head that names nothing) is a valid HELLO.
Expected<HeadHello> parse_head_hello(const std::string& json);
std::string to_json(const WorkerHello& h);
Expected<WorkerHello> parse_worker_hello(const std::string& json);
std::string to_json(const SegmentAssignment& a);
// Checks every field (types, ranges, a partition that is contiguous from op 0, the segment within
// it, peers naming later segments); the error names the field.
Expected<SegmentAssignment> parse_assignment(const std::string& json);
// ASSIGN payload for a device with no segment in the new plan: free everything, stay connected.
inline constexpr const char* kStandbyAssignment = "{\"standby\":true}";

// ASSIGN payload (head -> worker) sent before a plan's assignments: the CURVE keys of the upstream
// workers that will connect to it, trusted at once (role peer). With every device trusting its
// peers first, the head can send all assignments together and the devices load their ranges side
// by side, no upstream handshake arriving before its key is known. JSON: {"trust_peers":[KEY...]},
// at most 64 keys of 40 Z85 characters; answered {"ok":true}.
struct TrustPeers {
  std::vector<std::string> keys;
};
std::string to_json(const TrustPeers& t);
bool is_trust_peers(const std::string& json);  // the payload is a TrustPeers (else an assignment)
Expected<TrustPeers> parse_trust_peers(const std::string& json);

// KV_EXPORT request (head -> worker): the op range the worker keeps in a boundary move; every
// attention layer outside it is exported. An empty range (first > last) keeps nothing.
struct KvExportRequest {
  int keep_first = 0, keep_last = -1;
};
std::string to_json(const KvExportRequest& r);
Expected<KvExportRequest> parse_kv_export_request(const std::string& json);

// BATCH (head -> every worker holding a segment): one step of several sequences run as one
// forward pass (Executor::forward_batch). JSON: {"groups":[{"sequence","pos0","tokens":[ids]}]}.
// Bounds: 1..kMaxBatchGroups groups, sequences > 0 and each at most once, pos0 >= 0, 1..65536
// token ids per group, each >= 0 (the worker checks them against the vocabulary and max_batch).
struct BatchStepGroup {
  uint64_t sequence = 0;
  int64_t pos0 = 0;
  std::vector<int32_t> tokens;
};
struct BatchStep {
  std::vector<BatchStepGroup> groups;
  int64_t rows() const {
    int64_t n = 0;
    for (const BatchStepGroup& g : groups) n += static_cast<int64_t>(g.tokens.size());
    return n;
  }
};
inline constexpr size_t kMaxBatchGroups = 256;
std::string to_json(const BatchStep& b);
// The error names the field ("groups[2].sequence").
Expected<BatchStep> parse_batch_step(const std::string& json);

std::string to_json(const StepReport& r);
Expected<StepReport> parse_step_report(const std::string& json);

// One measured link (runtime/link_probe.h): round trip and bandwidth from `from` to `to`.
// JSON: {"from","to","rtt_s","bytes_per_s","bytes","error"}.
struct LinkMeasurement {
  std::string from, to;   // device names ("head" for the head)
  double rtt_s = 0;       // median round trip of the small pings
  double bytes_per_s = 0; // bulk bytes over (time to their acknowledgement - one round trip)
  uint64_t bytes = 0;     // bulk bytes sent
  std::string error;      // "" = measured; otherwise why not ("no answer within 3 s")
};

// A worker another one is to measure its link to.
struct LinkTarget {
  std::string name, endpoint, public_key;  // public_key: its CURVE server key ("" in plain mode)
};

// LINK_TEST, head -> worker. JSON: {"targets":[{"name","endpoint","public_key"}], "timeout_s",
// "bulk_bytes", "pings", "accept_keys":[Z85]}. Bounds: at most 64 targets, 0 < timeout_s <= 60,
// 1 KiB <= bulk_bytes <= 4 MiB, 1 <= pings <= 50, at most 64 accept_keys.
struct LinkTestRequest {
  std::vector<LinkTarget> targets;  // measure the link to each, one after the other
  double timeout_s = 3;             // per target, everything included
  uint64_t bulk_bytes = 256 * 1024;
  int pings = 5;
  // Prober keys this worker accepts PROBE frames from (and nothing else) from now on: a head
  // sends these to each target, acknowledged, before it asks the prober to measure.
  std::vector<std::string> accept_keys;
};

// LINK_TEST, worker -> head. JSON: {"links":[LinkMeasurement...]}, at most 64.
struct LinkTestReport {
  std::vector<LinkMeasurement> links;
};

std::string to_json(const LinkMeasurement& m);
std::string to_json(const LinkTestRequest& r);
std::string to_json(const LinkTestReport& r);
// Every field checked against the bounds above; the error names the field ("targets[2].endpoint").
Expected<LinkTestRequest> parse_link_test_request(const std::string& json);
// Names at most 256 bytes and error texts at most 1000, without control characters (they are
// printed); times and rates finite and not negative; a measured link has rtt_s and bytes_per_s > 0.
Expected<LinkTestReport> parse_link_test_report(const std::string& json);

}  // namespace lingua

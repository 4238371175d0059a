// HELLO and ASSIGN payloads to and from JSON, with every field checked on the way in.
#include "runtime/protocol.h"

#include <nlohmann/json.hpp>

#include "runtime/segment_weights.h"

namespace lingua {
namespace {

using nlohmann::json;

// Reads obj[key] as T, or fails naming the key.
template <class T>
Status get(const json& obj, const char* key, T& out, bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) return required ? Status::error(std::string("missing field '") + key + "'") : Status::ok();
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return Status::error(std::string("field '") + key + "' has the wrong type");
  }
  return Status::ok();
}

Expected<json> parse_object(const std::string& text, const char* what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::error(std::string(what) + " is not a JSON object");
  return j;
}

}  // namespace

std::string to_json(const HeadHello& h) { return json{{"name", h.name}}.dump(); }

Expected<HeadHello> parse_head_hello(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "the head's HELLO"));
  HeadHello h;
  LINGUA_TRY(get(j, "name", h.name, false).with_context("head HELLO"));
  if (h.name.size() > 256) return Status::error("head HELLO: name longer than 256 bytes");
  return h;
}

std::string to_json(const WorkerHello& h) {
  json j{{"name", h.name}, {"public_key", h.public_key}, {"cores", h.cores}};
  if (h.profile) j["profile"] = json::parse(device_profile_json(*h.profile));
  return j.dump();
}

Expected<WorkerHello> parse_worker_hello(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "the worker's HELLO"));
  WorkerHello h;
  LINGUA_TRY(get(j, "name", h.name).with_context("worker HELLO"));
  LINGUA_TRY(get(j, "public_key", h.public_key).with_context("worker HELLO"));
  LINGUA_TRY(get(j, "cores", h.cores, false).with_context("worker HELLO"));
  if (auto it = j.find("profile"); it != j.end() && !it->is_null()) {
    auto profile = parse_device_profile(it->dump());
    if (!profile) return Status::error("worker HELLO: " + profile.error());
    h.profile = std::move(*profile);
  }
  return h;
}

std::string to_json(const SegmentAssignment& a) {
  json segments = json::array();
  for (const Segment& s : a.partition) segments.push_back({s.first_op, s.last_op});
  json peers = json::array();
  for (const PeerLink& p : a.peers)
    peers.push_back({{"segment", p.segment}, {"endpoint", p.endpoint}, {"public_key", p.public_key},
                     {"latency_s", p.latency_s}, {"bytes_per_s", p.bytes_per_s}});
  return json{{"device", a.device},
              {"model", a.model_path},
              {"weights_hash", hash_hex(a.weights_hash)},
              {"tensors_hash", hash_hex(a.tensors_hash)},
              {"weights_tensors", a.weights_tensors},
              {"file_bytes", a.file_bytes},
              {"partition", segments},
              {"segment", a.segment},
              {"context", a.context},
              {"max_batch", a.max_batch},
              {"max_sequences", a.max_sequences},
              {"threads", a.threads},
              {"memory_bytes", a.memory_bytes},
              {"slowdown", a.slowdown},
              {"slowdown_after_tokens", a.slowdown_after_tokens},
              {"wire_dtype", a.wire_dtype == DType::F16 ? "f16" : "f32"},
              {"peers", peers},
              {"trusted_peers", a.trusted_peers},
              {"resume", a.resume},
              {"sequences", a.sequences}}
      .dump();
}

Expected<SegmentAssignment> parse_assignment(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "the assignment"));
  SegmentAssignment a;
  std::vector<std::vector<int>> segments;
  std::string wire, hash_text, tensors_hash_text;
  json peers = json::array();
  const Status st = [&]() -> Status {
    LINGUA_TRY(get(j, "device", a.device));
    LINGUA_TRY(get(j, "model", a.model_path));
    LINGUA_TRY(get(j, "weights_hash", hash_text));
    LINGUA_TRY(get(j, "tensors_hash", tensors_hash_text, false));
    LINGUA_TRY(get(j, "weights_tensors", a.weights_tensors));
    LINGUA_TRY(get(j, "file_bytes", a.file_bytes));
    LINGUA_TRY(get(j, "partition", segments));
    LINGUA_TRY(get(j, "segment", a.segment));
    LINGUA_TRY(get(j, "context", a.context));
    LINGUA_TRY(get(j, "max_batch", a.max_batch));
    LINGUA_TRY(get(j, "max_sequences", a.max_sequences));
    LINGUA_TRY(get(j, "threads", a.threads));
    LINGUA_TRY(get(j, "memory_bytes", a.memory_bytes));
    LINGUA_TRY(get(j, "slowdown", a.slowdown));
    LINGUA_TRY(get(j, "slowdown_after_tokens", a.slowdown_after_tokens));
    LINGUA_TRY(get(j, "wire_dtype", wire));
    LINGUA_TRY(get(j, "peers", peers));
    LINGUA_TRY(get(j, "trusted_peers", a.trusted_peers));
    LINGUA_TRY(get(j, "resume", a.resume, false));
    LINGUA_TRY(get(j, "sequences", a.sequences, false));
    return Status::ok();
  }();
  if (!st) return st.with_context("assignment");
  auto bad = [](const std::string& what) { return Status::error("assignment: " + what); };
  if (a.model_path.empty()) return bad("no model path");
  auto hash = parse_hash_hex(hash_text);
  if (!hash) return bad("weights_hash: " + hash.error());
  a.weights_hash = *hash;
  if (!tensors_hash_text.empty()) {
    auto tensors = parse_hash_hex(tensors_hash_text);
    if (!tensors) return bad("tensors_hash: " + tensors.error());
    a.tensors_hash = *tensors;
  }
  if (a.weights_tensors.empty()) return bad("no weight tensors named");
  if (a.file_bytes == 0 || a.file_bytes > (uint64_t{1} << 40)) return bad("file_bytes out of range");
  if (segments.empty()) return bad("empty partition");
  int next = 0;
  for (const auto& s : segments) {
    if (s.size() != 2 || s[0] != next || s[1] < s[0]) return bad("the partition is not contiguous from op 0");
    a.partition.push_back({s[0], s[1]});
    next = s[1] + 1;
  }
  if (a.segment < 0 || a.segment >= static_cast<int>(a.partition.size())) return bad("segment out of range");
  if (a.context < 1 || a.context > (int64_t{1} << 24)) return bad("context out of range");
  if (a.max_batch < 1 || a.max_batch > 4096) return bad("max_batch out of range");
  if (a.max_sequences < 1 || a.max_sequences > 1024) return bad("max_sequences out of range");
  if (a.threads < 0 || a.threads > 512) return bad("threads out of range (0 = the worker's own, at most 512)");
  if (!(a.slowdown >= 1.0) || a.slowdown > 1000) return bad("slowdown must be between 1 and 1000");
  if (a.slowdown_after_tokens < 0) return bad("slowdown_after_tokens must be 0 or more");
  if (a.sequences.size() > static_cast<size_t>(a.max_sequences)) return bad("more sequences than max_sequences");
  for (const auto& [id, pos] : a.sequences)
    if (id == 0 || pos < 0 || pos > a.context) return bad("a sequence id or position out of range");
  if (wire == "f16") a.wire_dtype = DType::F16;
  else if (wire == "f32") a.wire_dtype = DType::F32;
  else return bad("wire_dtype must be f32 or f16");
  if (!peers.is_array()) return bad("peers is not a list");
  for (const json& p : peers) {
    if (!p.is_object()) return bad("a peer is not an object");
    PeerLink l;
    const Status ps = [&]() -> Status {
      LINGUA_TRY(get(p, "segment", l.segment));
      LINGUA_TRY(get(p, "endpoint", l.endpoint));
      LINGUA_TRY(get(p, "public_key", l.public_key));
      LINGUA_TRY(get(p, "latency_s", l.latency_s));
      LINGUA_TRY(get(p, "bytes_per_s", l.bytes_per_s));
      return Status::ok();
    }();
    if (!ps) return ps.with_context("assignment peer");
    if (l.segment <= a.segment || l.segment >= static_cast<int>(a.partition.size()))
      return bad("a peer's segment is not after this one");
    if (l.endpoint.empty()) return bad("a peer has no endpoint");
    if (!(l.latency_s >= 0) || l.latency_s > 60 || !(l.bytes_per_s >= 0)) return bad("a peer's link figures are out of range");
    a.peers.push_back(std::move(l));
  }
  return a;
}

std::string to_json(const KvExportRequest& r) { return json{{"keep", {r.keep_first, r.keep_last}}}.dump(); }

Expected<KvExportRequest> parse_kv_export_request(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a KV_EXPORT request"));
  std::vector<int> keep;
  LINGUA_TRY(get(j, "keep", keep).with_context("KV_EXPORT request"));
  if (keep.size() != 2) return Status::error("KV_EXPORT request: 'keep' is not [first, last]");
  return KvExportRequest{keep[0], keep[1]};
}

std::string to_json(const StepReport& r) {
  return json{{"sequence", r.sequence},   {"position", r.position},         {"tokens", r.tokens},
              {"compute_s", r.compute_s}, {"wait_s", r.wait_s},             {"link_s", r.link_s},
              {"memory_bytes", r.memory_bytes}, {"temperature_c", r.temperature_c}, {"battery", r.battery},
              {"links", r.links}}
      .dump();
}

Expected<StepReport> parse_step_report(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a step report"));
  StepReport r;
  const Status st = [&]() -> Status {
    LINGUA_TRY(get(j, "sequence", r.sequence));
    LINGUA_TRY(get(j, "position", r.position));
    LINGUA_TRY(get(j, "tokens", r.tokens));
    LINGUA_TRY(get(j, "compute_s", r.compute_s));
    LINGUA_TRY(get(j, "wait_s", r.wait_s));
    LINGUA_TRY(get(j, "link_s", r.link_s));
    LINGUA_TRY(get(j, "memory_bytes", r.memory_bytes));
    LINGUA_TRY(get(j, "temperature_c", r.temperature_c, false));
    LINGUA_TRY(get(j, "battery", r.battery, false));
    LINGUA_TRY(get(j, "links", r.links, false));
    return Status::ok();
  }();
  if (!st) return st.with_context("step report");
  auto finite_time = [](double v) { return v >= 0 && v < 3600; };  // also false for NaN
  if (!finite_time(r.compute_s) || !finite_time(r.wait_s) || !finite_time(r.link_s))
    return Status::error("step report: a time out of range");
  if (r.tokens < 1 || r.tokens > 4096 || r.position < 0) return Status::error("step report: step out of range");
  if (r.links.size() > 1024) return Status::error("step report: too many links");
  for (const auto& [segment, seconds] : r.links)
    if (segment < 0 || !finite_time(seconds)) return Status::error("step report: a link out of range");
  if (!(r.battery <= 1) || !(r.temperature_c < 500)) return Status::error("step report: a reading out of range");
  return r;
}

}  // namespace lingua

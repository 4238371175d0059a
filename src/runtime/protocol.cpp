// HELLO and ASSIGN payloads to and from JSON, with every field checked on the way in.
#include "runtime/protocol.h"

#include <cstdio>
#include <set>
#include <nlohmann/json.hpp>

#include "core/endpoint.h"
#include "net/keys.h"
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

std::string to_json(const TrustPeers& t) { return json{{"trust_peers", t.keys}}.dump(); }

bool is_trust_peers(const std::string& text) { return text.rfind("{\"trust_peers\"", 0) == 0; }

Expected<TrustPeers> parse_trust_peers(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a TRUST_PEERS request"));
  TrustPeers t;
  LINGUA_TRY(get(j, "trust_peers", t.keys).with_context("TRUST_PEERS request"));
  if (t.keys.size() > 64) return Status::error("TRUST_PEERS request: more than 64 keys");
  for (size_t i = 0; i < t.keys.size(); ++i)
    if (!is_z85_key(t.keys[i]))
      return Status::error("TRUST_PEERS request: field 'trust_peers[" + std::to_string(i) + "]' is not a 40-character Z85 CURVE key");
  return t;
}

std::string to_json(const KvExportRequest& r) { return json{{"keep", {r.keep_first, r.keep_last}}}.dump(); }

Expected<KvExportRequest> parse_kv_export_request(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a KV_EXPORT request"));
  std::vector<int> keep;
  LINGUA_TRY(get(j, "keep", keep).with_context("KV_EXPORT request"));
  if (keep.size() != 2) return Status::error("KV_EXPORT request: 'keep' is not [first, last]");
  return KvExportRequest{keep[0], keep[1]};
}

std::string to_json(const BatchStep& b) {
  json groups = json::array();
  for (const BatchStepGroup& g : b.groups) groups.push_back(json{{"sequence", g.sequence}, {"pos0", g.pos0}, {"tokens", g.tokens}});
  return json{{"groups", groups}}.dump();
}

Expected<BatchStep> parse_batch_step(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a BATCH step"));
  auto it = j.find("groups");
  if (it == j.end() || !it->is_array()) return Status::error("BATCH step: 'groups' is missing or not a list");
  if (it->empty() || it->size() > kMaxBatchGroups)
    return Status::error("BATCH step: " + std::to_string(it->size()) + " groups (1 to " + std::to_string(kMaxBatchGroups) + " allowed)");
  BatchStep b;
  std::set<uint64_t> seen;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& g = (*it)[i];
    const std::string where = "BATCH step: groups[" + std::to_string(i) + "]";
    if (!g.is_object()) return Status::error(where + " is not an object");
    BatchStepGroup out;
    if (auto s = g.find("sequence"); s == g.end() || !s->is_number_unsigned())
      return Status::error(where + ".sequence is missing or not a whole number");
    LINGUA_TRY(get(g, "sequence", out.sequence).with_context(where));
    LINGUA_TRY(get(g, "pos0", out.pos0).with_context(where));
    LINGUA_TRY(get(g, "tokens", out.tokens).with_context(where));
    if (out.sequence == 0) return Status::error(where + ".sequence is 0, which is reserved");
    if (!seen.insert(out.sequence).second) return Status::error(where + ".sequence " + std::to_string(out.sequence) + " appears twice");
    if (out.pos0 < 0) return Status::error(where + ".pos0 is negative");
    if (out.tokens.empty() || out.tokens.size() > 65536)
      return Status::error(where + ".tokens holds " + std::to_string(out.tokens.size()) + " ids (1 to 65536 allowed)");
    for (int32_t t : out.tokens)
      if (t < 0) return Status::error(where + ".tokens holds a negative id");
    b.groups.push_back(std::move(out));
  }
  return b;
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

// ---------------------------------------------------------------- LINK_TEST

namespace {

constexpr size_t kMaxLinkTargets = 64;
constexpr size_t kMaxLinkNameBytes = 256;
constexpr size_t kMaxLinkErrorBytes = 1000;
constexpr uint64_t kMinBulkBytes = 1024, kMaxBulkBytes = uint64_t{4} << 20;

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

bool has_control_characters(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

// A name or text a head prints: bounded, one line, no terminal escapes.
Status check_text(const std::string& field, const std::string& text, size_t max_bytes, bool may_be_empty) {
  if (!may_be_empty && text.empty()) return Status::error("field '" + field + "' is empty");
  if (text.size() > max_bytes)
    return Status::error("field '" + field + "' is longer than " + std::to_string(max_bytes) + " bytes");
  if (has_control_characters(text)) return Status::error("field '" + field + "' holds control characters");
  return Status::ok();
}

// A list of objects under `key`: missing is an error, anything else than a list too.
Status get_list(const json& obj, const char* key, const json*& out, size_t max_items) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::error(std::string("missing field '") + key + "'");
  if (!it->is_array()) return Status::error(std::string("field '") + key + "' is not a list");
  if (it->size() > max_items)
    return Status::error(std::string("field '") + key + "' has " + std::to_string(it->size()) + " entries, at most " +
                         std::to_string(max_items) + " are allowed");
  out = &*it;
  return Status::ok();
}

// A whole number under `key` within [lo, hi]. nlohmann would convert 1e10 or -1 to an int or a
// uint64_t silently (and a float out of range is undefined behaviour): checked before converting.
template <class T>
Status get_whole(const json& obj, const char* key, T& out, int64_t lo, uint64_t hi, const std::string& range) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::error(std::string("missing field '") + key + "'");
  if (!it->is_number_integer()) return Status::error(std::string("field '") + key + "' is not a whole number");
  bool fits = false;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    fits = v <= hi && (lo <= 0 || v >= static_cast<uint64_t>(lo));
  } else {
    const int64_t v = it->get<int64_t>();
    fits = v >= lo && (v < 0 || static_cast<uint64_t>(v) <= hi);
  }
  if (!fits) return Status::error(std::string("field '") + key + "' " + it->dump() + " is not " + range);
  out = it->is_number_unsigned() ? static_cast<T>(it->get<uint64_t>()) : static_cast<T>(it->get<int64_t>());
  return Status::ok();
}

// Names come from command lines and devices files: bytes that are not UTF-8 become U+FFFD rather
// than an exception from nlohmann (which, on a worker's measuring thread, would end the process).
std::string dump_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json link_json(const LinkMeasurement& m) {
  return json{{"from", m.from}, {"to", m.to}, {"rtt_s", m.rtt_s}, {"bytes_per_s", m.bytes_per_s}, {"bytes", m.bytes},
              {"error", m.error}};
}

Expected<LinkTarget> parse_target(const json& t, const std::string& where) {
  if (!t.is_object()) return Status::error("'" + where + "' is not an object");
  LinkTarget target;
  const Status st = [&]() -> Status {
    LINGUA_TRY(get(t, "name", target.name));
    LINGUA_TRY(get(t, "endpoint", target.endpoint));
    LINGUA_TRY(get(t, "public_key", target.public_key));
    return Status::ok();
  }();
  if (!st) return st.with_context(where);
  LINGUA_TRY(check_text(where + ".name", target.name, kMaxLinkNameBytes, false));
  if (auto e = parse_endpoint(target.endpoint, EndpointUse::kConnect); !e)
    return Status::error("field '" + where + ".endpoint': " + e.error());
  if (!target.public_key.empty() && !is_z85_key(target.public_key))
    return Status::error("field '" + where + ".public_key' is not a 40-character Z85 CURVE key");
  return target;
}

Expected<LinkMeasurement> parse_link(const json& l, const std::string& where) {
  if (!l.is_object()) return Status::error("'" + where + "' is not an object");
  LinkMeasurement m;
  const Status st = [&]() -> Status {
    LINGUA_TRY(get(l, "from", m.from));
    LINGUA_TRY(get(l, "to", m.to));
    LINGUA_TRY(get(l, "rtt_s", m.rtt_s));
    LINGUA_TRY(get(l, "bytes_per_s", m.bytes_per_s));
    LINGUA_TRY(get_whole(l, "bytes", m.bytes, 0, kMaxBulkBytes, "between 0 and 4 MiB"));
    LINGUA_TRY(get(l, "error", m.error));
    return Status::ok();
  }();
  if (!st) return st.with_context(where);
  LINGUA_TRY(check_text(where + ".from", m.from, kMaxLinkNameBytes, false));
  LINGUA_TRY(check_text(where + ".to", m.to, kMaxLinkNameBytes, false));
  LINGUA_TRY(check_text(where + ".error", m.error, kMaxLinkErrorBytes, true));
  // Negated comparisons so that NaN is refused too.
  if (!(m.rtt_s >= 0 && m.rtt_s <= 3600)) return Status::error("field '" + where + ".rtt_s' " + number(m.rtt_s) + " is not between 0 and 3600 s");
  if (!(m.bytes_per_s >= 0 && m.bytes_per_s <= 1e13))
    return Status::error("field '" + where + ".bytes_per_s' " + number(m.bytes_per_s) + " is not between 0 and 1e13");
  if (m.error.empty() && !(m.rtt_s > 0 && m.bytes_per_s > 0))
    return Status::error("'" + where + "' has no error but no round trip or bandwidth either");
  return m;
}

}  // namespace

std::string to_json(const LinkMeasurement& m) { return dump_text(link_json(m)); }

std::string to_json(const LinkTestRequest& r) {
  json targets = json::array();
  for (const LinkTarget& t : r.targets) targets.push_back({{"name", t.name}, {"endpoint", t.endpoint}, {"public_key", t.public_key}});
  return dump_text(json{{"targets", targets}, {"timeout_s", r.timeout_s}, {"bulk_bytes", r.bulk_bytes}, {"pings", r.pings},
                         {"accept_keys", r.accept_keys}});
}

std::string to_json(const LinkTestReport& r) {
  json links = json::array();
  for (const LinkMeasurement& m : r.links) links.push_back(link_json(m));
  return dump_text(json{{"links", links}});
}

Expected<LinkTestRequest> parse_link_test_request(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a link test request"));
  LinkTestRequest r;
  const json* targets = nullptr;
  const Status st = [&]() -> Status {
    LINGUA_TRY(get_list(j, "targets", targets, kMaxLinkTargets));
    LINGUA_TRY(get(j, "timeout_s", r.timeout_s));
    LINGUA_TRY(get_whole(j, "bulk_bytes", r.bulk_bytes, static_cast<int64_t>(kMinBulkBytes), kMaxBulkBytes, "between 1 KiB and 4 MiB"));
    LINGUA_TRY(get_whole(j, "pings", r.pings, 1, 50, "between 1 and 50"));
    LINGUA_TRY(get(j, "accept_keys", r.accept_keys, false));
    if (!(r.timeout_s > 0 && r.timeout_s <= 60))
      return Status::error("field 'timeout_s' " + number(r.timeout_s) + " is not more than 0 and at most 60 s");
    if (r.accept_keys.size() > kMaxLinkTargets)
      return Status::error("field 'accept_keys' has " + std::to_string(r.accept_keys.size()) + " entries, at most " +
                           std::to_string(kMaxLinkTargets) + " are allowed");
    for (size_t i = 0; i < r.accept_keys.size(); ++i)
      if (!is_z85_key(r.accept_keys[i]))
        return Status::error("field 'accept_keys[" + std::to_string(i) + "]' is not a 40-character Z85 CURVE key");
    for (size_t i = 0; i < targets->size(); ++i) {
      LINGUA_ASSIGN_OR_RETURN(LinkTarget t, parse_target((*targets)[i], "targets[" + std::to_string(i) + "]"));
      r.targets.push_back(std::move(t));
    }
    return Status::ok();
  }();
  if (!st) return st.with_context("link test request");
  return r;
}

Expected<LinkTestReport> parse_link_test_report(const std::string& text) {
  LINGUA_ASSIGN_OR_RETURN(json j, parse_object(text, "a link test report"));
  LinkTestReport r;
  const json* links = nullptr;
  const Status st = [&]() -> Status {
    LINGUA_TRY(get_list(j, "links", links, kMaxLinkTargets));
    for (size_t i = 0; i < links->size(); ++i) {
      LINGUA_ASSIGN_OR_RETURN(LinkMeasurement m, parse_link((*links)[i], "links[" + std::to_string(i) + "]"));
      r.links.push_back(std::move(m));
    }
    return Status::ok();
  }();
  if (!st) return st.with_context("link test report");
  return r;
}

}  // namespace lingua

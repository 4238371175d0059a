// The head's side of link measurement: probes of its own to each device, and LINK_TEST requests
// that have a device measure its links to others (after the targets accept the device's key).
// A silent device is a measurement with an error; the pipeline is never failed by one.
#include <algorithm>
#include <chrono>

#include "core/printable.h"
#include "runtime/remote_pipeline.h"

namespace lingua {
namespace {

using Clock = std::chrono::steady_clock;

// Beyond the prober's own bound per target: its event loop passing the report on, and the trip.
constexpr double kReportMarginS = 1.5;
constexpr size_t kMaxTargets = 64;  // LinkTestRequest's bound

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

Status RemotePipeline::check_link_device(int device, const char* what) const {
  if (device < 0 || static_cast<size_t>(device) >= devices_.size())
    return Status::error(std::string(what) + " " + std::to_string(device) + " is not a device of this run (it has " +
                         std::to_string(devices_.size()) + ")");
  if (!alive_[static_cast<size_t>(device)])
    return Status::error("device " + devices_[static_cast<size_t>(device)].name + " is not connected");
  return Status::ok();
}

Expected<LinkMeasurement> RemotePipeline::measure_link(int device, const ProbeOptions& options) {
  LINGUA_TRY(check_probe_options(options));
  LINGUA_TRY(check_link_device(device, "device"));
  const RemoteDevice& dev = devices_[static_cast<size_t>(device)];
  ChannelOptions o = options_.channel;
  o.server_public = dev.public_key;
  return measure_link_to(context_, dev.endpoint, o, "head", dev.name, options);
}

Expected<std::pair<int64_t, LinkTestReport>> RemotePipeline::await_link_report(size_t d, uint64_t id, Clock::time_point deadline) {
  const RemoteDevice& dev = devices_[d];
  for (;;) {
    const LinkState state = clients_[d].state();
    if (state == LinkState::kLost || state == LinkState::kRefused || state == LinkState::kBroken)
      return Status::error("device " + dev.name + " is no longer connected to the head");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Status::error("device " + dev.name + " did not answer the head");
    auto bytes = clients_[d].receive(static_cast<int>(std::min<int64_t>(left, 100)));
    if (!bytes) continue;
    auto f = decode_frame(*bytes);
    if (!f) return Status::error("device " + dev.name + " sent a bad frame: " + f.error());
    if (f->header.type == MessageType::kError) {
      const std::string text(f->payload.begin(), f->payload.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(f->payload.size(), 500)));
      return Status::error(printable_text(text));
    }
    // Anything else is a late answer (to an earlier request that timed out): between steps the
    // workers send nothing of their own.
    if (f->header.type != MessageType::kLinkTest || f->header.sequence != id) continue;
    auto report = parse_link_test_report(std::string(f->payload.begin(), f->payload.end()));
    if (!report) return Status::error("device " + dev.name + " sent a bad link report: " + report.error());
    return std::make_pair(f->header.position, std::move(*report));
  }
}

Expected<std::vector<LinkMeasurement>> RemotePipeline::measure_peer_links(int device, const std::vector<int>& targets,
                                                                          const ProbeOptions& options) {
  LINGUA_TRY(check_probe_options(options));
  LINGUA_TRY(check_link_device(device, "device"));
  if (targets.size() > kMaxTargets)
    return Status::error("at most " + std::to_string(kMaxTargets) + " links are measured at once, not " + std::to_string(targets.size()));
  for (int t : targets)
    if (t < 0 || static_cast<size_t>(t) >= devices_.size())
      return Status::error("target " + std::to_string(t) + " is not a device of this run (it has " + std::to_string(devices_.size()) + ")");
  if (in_flight_ > 0)
    return Status::error("links are measured between steps, and " + std::to_string(in_flight_) + " step(s) are in flight");
  const auto d = static_cast<size_t>(device);
  const std::string& prober = devices_[d].name;
  const std::string silent = no_answer_text(options.timeout_s);

  std::vector<LinkMeasurement> out(targets.size());
  std::vector<size_t> ask;  // indices into targets still to measure
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto t = static_cast<size_t>(targets[i]);
    out[i].from = prober;
    out[i].to = devices_[t].name;
    if (t == d) out[i].error = "a device's link to itself is not measured";
    else if (!alive_[t]) out[i].error = "device " + devices_[t].name + " is not connected";
    else ask.push_back(i);
  }

  // CURVE: every target accepts the prober's key (for PROBE frames only) before it is probed;
  // each acknowledges, so no handshake of the prober's can come first and be refused.
  const std::string& prober_key = devices_[d].public_key;
  if (!options_.channel.insecure && !prober_key.empty() && !ask.empty()) {
    std::vector<std::pair<size_t, uint64_t>> grants;  // (target device, request id)
    for (size_t i : ask) {
      const auto t = static_cast<size_t>(targets[i]);
      if (std::any_of(grants.begin(), grants.end(), [&](const auto& g) { return g.first == t; })) continue;
      LinkTestRequest grant;
      grant.accept_keys = {prober_key};
      const uint64_t id = ++link_test_id_;
      if (Status st = clients_[t].send(encode_frame(bytes_frame(MessageType::kLinkTest, id, to_json(grant)))); st)
        grants.emplace_back(t, id);
    }
    const auto deadline = after(options.timeout_s);
    std::vector<size_t> granted;
    for (const auto& [t, id] : grants) {
      auto ack = await_link_report(t, id, deadline);
      if (ack) {
        granted.push_back(t);
        continue;
      }
      for (size_t i : ask)
        if (static_cast<size_t>(targets[i]) == t) out[i].error = silent + ": " + ack.error();
    }
    std::vector<size_t> still;
    for (size_t i : ask) {
      if (std::find(granted.begin(), granted.end(), static_cast<size_t>(targets[i])) != granted.end()) still.push_back(i);
      else if (out[i].error.empty()) out[i].error = "device " + out[i].to + " could not be asked to accept " + prober + "'s probes";
    }
    ask = std::move(still);
  }
  if (ask.empty()) return out;

  LinkTestRequest request;
  request.timeout_s = options.timeout_s;
  request.bulk_bytes = options.bulk_bytes;
  request.pings = options.pings;
  for (size_t i : ask) {
    const RemoteDevice& t = devices_[static_cast<size_t>(targets[i])];
    request.targets.push_back({t.name, t.endpoint, t.public_key});
  }
  const uint64_t id = ++link_test_id_;
  if (Status st = clients_[d].send(encode_frame(bytes_frame(MessageType::kLinkTest, id, to_json(request)))); !st) {
    for (size_t i : ask) out[i].error = "cannot ask device " + prober + ": " + st.message();
    return out;
  }
  // One report per target as each is measured: a prober silent for longer than one measurement
  // (and the margin) is given up on, whatever is left.
  std::vector<bool> got(ask.size(), false);
  size_t missing = ask.size();
  auto deadline = after(options.timeout_s + kReportMarginS);
  while (missing > 0) {
    auto report = await_link_report(d, id, deadline);
    if (!report) {
      for (size_t k = 0; k < ask.size(); ++k)
        if (!got[k]) out[ask[k]].error = silent + ": " + report.error();
      break;
    }
    const int64_t k = report->first;
    if (k < 0 || static_cast<size_t>(k) >= ask.size() || got[static_cast<size_t>(k)] || report->second.links.size() != 1) continue;
    LinkMeasurement m = std::move(report->second.links.front());
    m.from = prober;  // the head's names, whatever the worker calls itself
    m.to = out[ask[static_cast<size_t>(k)]].to;
    out[ask[static_cast<size_t>(k)]] = std::move(m);
    got[static_cast<size_t>(k)] = true;
    --missing;
    deadline = after(options.timeout_s + kReportMarginS);
  }
  return out;
}

}  // namespace lingua

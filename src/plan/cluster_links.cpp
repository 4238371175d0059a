// The link side of a Cluster: the matrix the planner prices, from the devices file's default and
// "a <-> b" entries and from measurements, remembering where each pair's figures came from.
#include <cmath>

#include "plan/cluster.h"
#include "plan/units.h"

namespace lingua {
namespace {

Expected<int> device_index(const Cluster& c, const std::string& name, const char* role) {
  for (size_t d = 0; d < c.devices.size(); ++d)
    if (c.devices[d].name == name) return static_cast<int>(d);
  std::string msg = std::string(role) + " names unknown device '" + name + "' (devices:";
  for (const PlanDevice& d : c.devices) msg += " " + d.name;
  return Status::error(msg + ")");
}

Status check_figures(const std::string& what, double latency_s, double bytes_per_s) {
  if (!(bytes_per_s > 0) || std::isinf(bytes_per_s))
    return Status::error(what + ": the bandwidth must be a finite number above zero");
  if (!(latency_s >= 0) || std::isinf(latency_s)) return Status::error(what + ": the latency must be zero or more");
  return Status::ok();
}

std::string describe(const PlanLink& l) { return format_bandwidth(l.bytes_per_s) + ", " + format_duration(l.latency_s); }

}  // namespace

Status apply_file_links(Cluster& c, const DevicesFile& file) {
  const size_t n = c.devices.size();
  c.links = uniform_links(n, c.link);
  c.link_sources.assign(n, std::vector<std::string>(n, kLinkDefault));
  std::string given;
  for (const auto& [a, b, spec] : file.pair_links) {
    LINGUA_ASSIGN_OR_RETURN(int x, device_index(c, a, ("link '" + a + " <-> " + b + "'").c_str()));
    LINGUA_ASSIGN_OR_RETURN(int y, device_index(c, b, ("link '" + a + " <-> " + b + "'").c_str()));
    const PlanLink l{spec.bandwidth_bytes_per_s, spec.latency_s};
    for (const auto& [from, to] : {std::pair{x, y}, std::pair{y, x}}) {
      c.links[static_cast<size_t>(from)][static_cast<size_t>(to)] = l;
      c.link_sources[static_cast<size_t>(from)][static_cast<size_t>(to)] = kLinkGiven;
    }
    given += (given.empty() ? "" : "; ") + a + " <-> " + b + " (" + describe(l) + ")";
  }
  std::string note = "links: default " + describe(c.link) + " for every pair";
  if (!given.empty()) note += " but these, priced per pair as given in the file: " + given;
  c.notes.push_back(note);
  return Status::ok();
}

Status set_measured_link(Cluster& c, const std::string& from, const std::string& to, double latency_s, double bytes_per_s) {
  const std::string what = "measured link " + from + " -> " + to;
  LINGUA_ASSIGN_OR_RETURN(int x, device_index(c, from, what.c_str()));
  LINGUA_ASSIGN_OR_RETURN(int y, device_index(c, to, what.c_str()));
  if (x == y) return Status::error(what + " joins a device to itself");
  LINGUA_TRY(check_figures(what, latency_s, bytes_per_s));
  if (c.links.size() != c.devices.size()) {
    c.links = uniform_links(c.devices.size(), c.link);
    c.link_sources.assign(c.devices.size(), std::vector<std::string>(c.devices.size(), kLinkDefault));
  }
  std::string& source = c.link_sources[static_cast<size_t>(x)][static_cast<size_t>(y)];
  if (source == kLinkGiven) return Status::ok();  // the file's figure is what the user asked for
  c.links[static_cast<size_t>(x)][static_cast<size_t>(y)] = PlanLink{bytes_per_s, latency_s};
  source = kLinkMeasured;
  return Status::ok();
}

Status set_head_link(Cluster& c, const std::string& device, double latency_s, double bytes_per_s) {
  const std::string what = "head link to " + device;
  LINGUA_ASSIGN_OR_RETURN(int d, device_index(c, device, what.c_str()));
  LINGUA_TRY(check_figures(what, latency_s, bytes_per_s));
  // Devices not measured yet: no latency, as when no head link is known.
  if (c.head_links.size() != c.devices.size()) c.head_links.assign(c.devices.size(), PlanLink{bytes_per_s, 0.0});
  c.head_links[static_cast<size_t>(d)] = PlanLink{bytes_per_s, latency_s};
  return Status::ok();
}

}  // namespace lingua

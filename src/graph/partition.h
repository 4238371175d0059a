// Segments and the data transmission map: a partition cuts the op list into contiguous segments
// (any op boundary may be a cut), and the map says which op outputs cross each cut, from which
// segment to which others, and at what size. Each tensor goes once from its producer straight to
// every segment that reads it (residual streams included), never relayed through the ones between.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace lingua {

struct Segment {
  int first_op = 0;
  int last_op = 0;  // inclusive
};

class Partition {
 public:
  // The whole graph as one segment: the plain single-device run.
  static Partition whole(const Graph& graph);
  // A new segment starts at each op id in `starts` (as `--split I,J,...`); ids must be increasing
  // and within 1..size-1. The error names the offending id.
  static Expected<Partition> from_starts(const Graph& graph, const std::vector<int>& starts);
  // K segments minimizing the largest segment cost (cost per op, e.g. predicted decode time);
  // K is clamped to the number of ops.
  static Partition balanced(const Graph& graph, const std::vector<double>& op_cost, int k);

  const std::vector<Segment>& segments() const { return segments_; }
  int size() const { return static_cast<int>(segments_.size()); }
  int segment_of(int op) const;
  std::vector<int> starts() const;  // first op of every segment but the first

 private:
  std::vector<Segment> segments_;
};

// One tensor crossing a cut. Bytes are f32 rows, as activations travel by default.
struct Transmission {
  int op = 0;              // producer op; its output is the tensor
  std::string tensor;      // the producer's name
  int from = 0;            // producer segment
  std::vector<int> to;     // consumer segments, increasing, all after `from`
  uint64_t bytes_per_token = 0;
};

// Every op output read by a later segment, in producer order.
std::vector<Transmission> transmission_map(const Graph& graph, const Partition& partition);

// Bytes of file tensors a segment needs: every tensor its ops read, each counted once (a tied
// embedding used by the first and the last segment counts in both).
uint64_t segment_weight_bytes(const Graph& graph, const Segment& segment);
// The names of those tensors, sorted, each once.
std::vector<std::string> segment_tensors(const Graph& graph, const Segment& segment);

}  // namespace lingua

// `--local-devices K` alone cuts the model by cost: with more devices than the model has useful
// cuts (50 on the shipped 93-op model), a segment without weights was given to a worker, which
// refused it. The cuts now stop where every segment still reads weights; the rest stand by.
#include <gtest/gtest.h>

#include <string>

#include "graph/cost_model.h"
#include "graph/partition.h"
#include "model/model.h"
#include "runtime/local_devices.h"
#include "test_paths.h"

namespace lingua {
namespace {

TEST(LocalDevicesPartition, EverySegmentReadsWeightsHoweverManyDevices) {
  auto model = Model::load(testing::source_dir() + "/models/kjv-fortunes-3M-f32.gguf");
  ASSERT_TRUE(model) << model.error();
  const Graph& g = (*model)->graph();
  bool fewer_than_asked = false;
  for (int k = 1; k <= g.size() + 5; ++k) {
    const Partition p = local_devices_partition(g, k);
    ASSERT_GE(p.size(), 1) << k;
    ASSERT_LE(p.size(), k);
    int next = 0;
    for (const Segment& s : p.segments()) {
      EXPECT_EQ(s.first_op, next) << "K=" << k;
      EXPECT_FALSE(segment_tensors(g, s).empty()) << "K=" << k << ": ops " << s.first_op << ".." << s.last_op;
      next = s.last_op + 1;
    }
    EXPECT_EQ(next, g.size()) << "K=" << k;
    fewer_than_asked |= p.size() < k;
  }
  EXPECT_TRUE(fewer_than_asked) << "some K must be more than the useful cuts, or this test tests nothing";
  // Where every cost-balanced segment has weights, the cuts are the cost-balanced ones.
  const auto cost = predicted_decode_seconds(op_costs(g), default_compute_rates());
  for (int k : {2, 3, 4}) EXPECT_EQ(local_devices_partition(g, k).starts(), Partition::balanced(g, cost, k).starts()) << k;
  // The case from the report: 50 devices on 93 ops.
  EXPECT_LT(local_devices_partition(g, 50).size(), 50);
}

}  // namespace
}  // namespace lingua

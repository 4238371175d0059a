// Core utilities: Status/Expected plumbing, the dtype table, exact f16/bf16 conversion, the
// thread pool's partitioning, and mmap errors.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace lingua {
namespace {

Expected<int> half_of(int x) {
  if (x % 2) return Status::error(std::to_string(x) + " is odd");
  return x / 2;
}

Status quarter(int x, int& out) {
  LINGUA_ASSIGN_OR_RETURN(int h, half_of(x));
  LINGUA_ASSIGN_OR_RETURN(out, half_of(h));
  return Status::ok();
}

TEST(Status, ExpectedCarriesValueOrError) {
  int out = 0;
  EXPECT_TRUE(quarter(8, out).is_ok());
  EXPECT_EQ(out, 2);
  Status s = quarter(6, out);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.message(), "3 is odd");
  EXPECT_EQ(s.with_context("reading x").message(), "reading x: 3 is odd");
  EXPECT_TRUE(Status::ok().with_context("ignored").is_ok());
}

TEST(DType, TableMatchesGgmlBlockGeometry) {
  EXPECT_EQ(dtype_info(DType::Q8_0).block_bytes, 34u);
  EXPECT_EQ(dtype_info(DType::Q4_0).block_bytes, 18u);
  EXPECT_EQ(dtype_info(DType::Q4_K).block_bytes, 144u);
  EXPECT_EQ(dtype_info(DType::Q6_K).block_bytes, 210u);
  EXPECT_EQ(dtype_info(99u), nullptr);
  EXPECT_EQ(dtype_bytes(DType::Q4_0, 64).value(), 36u);
  EXPECT_FALSE(dtype_bytes(DType::Q4_0, 33).has_value());
  EXPECT_FALSE(dtype_bytes(DType::F32, UINT64_MAX / 2).has_value());  // overflow
  EXPECT_EQ(parse_dtype("Q8_0").value(), DType::Q8_0);
  auto bad = parse_dtype("q9_9");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("q4_0"), std::string::npos) << bad.error();
}

TEST(Fp16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(fp32_to_fp16(f), h) << std::hex << h;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00);        // halfway: to even
  EXPECT_EQ(fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);        // halfway: to even (up)
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);                  // overflows to inf
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0x4049), 3.140625f);
}

TEST(ThreadPool, CoversEveryItemOnceWithGrain) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 64, 1000, 1001}) {
      for (int64_t grain : {1, 4, 16}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
          EXPECT_LT(t, threads);
          EXPECT_TRUE(b % grain == 0) << "chunks start on grain boundaries";
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        }, grain);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << n << " " << i;
      }
    }
  }
}

TEST(ThreadPool, ManySmallJobsInARow) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 20000; ++round)
    pool.parallel_for(2, [&](int64_t b, int64_t e, int) { sum += e - b; });
  EXPECT_EQ(sum.load(), 40000);
}

TEST(ThreadPool, AThreadIndexNeverRunsTwoChunksAtOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> inside(3);
  std::atomic<int> overlaps{0};
  for (int round = 0; round < 2000; ++round)
    pool.parallel_for(64, [&](int64_t, int64_t, int t) {
      if (inside[static_cast<size_t>(t)].fetch_add(1) != 0) overlaps++;
      inside[static_cast<size_t>(t)].fetch_sub(1);
    });
  EXPECT_EQ(overlaps.load(), 0) << "per-thread scratch (thread_index) must be safe to reuse";
}

// On a machine busier than its cores a worker may not run for a whole time slice: the threads
// that do run take its chunks, so a job waits only for chunks already started. Here the worker's
// first chunk is held until the caller has done every other chunk, which it can only do alone.
TEST(ThreadPool, ChunksAreTakenByTheThreadsThatRun) {
  ThreadPool pool(2);
  const int64_t n = 400;
  std::atomic<int64_t> caller_items{0}, worker_items{0}, held_items{0};
  std::atomic<bool> held{false}, caller_did_the_rest{false};
  pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
    if (t == 0) {
      caller_items += e - b;
    } else if (!held.exchange(true)) {
      held_items = e - b;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (caller_items.load() < n - (e - b) && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      caller_did_the_rest = caller_items.load() == n - (e - b);
    } else {
      worker_items += e - b;
    }
  });
  EXPECT_EQ(caller_items.load() + worker_items.load() + held_items.load(), n);
  if (held.load()) {
    EXPECT_TRUE(caller_did_the_rest.load()) << "the caller waited for chunks the held worker had not claimed";
    EXPECT_GT(caller_items.load(), n / 2) << "the caller took the held worker's share, not only its own half";
  } else {
    EXPECT_EQ(caller_items.load(), n) << "the worker never started: the caller did it all";
  }
}

TEST(MappedFile, ErrorsNameTheFile) {
  auto missing = MappedFile::open("/nonexistent/file.bin");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("/nonexistent/file.bin"), std::string::npos);
  auto dir = MappedFile::open("/tmp");
  ASSERT_FALSE(dir.has_value());
  EXPECT_NE(dir.error().find("not a regular file"), std::string::npos);
  const auto path = std::filesystem::temp_directory_path() / "lingua-mapped-file-test.bin";
  std::ofstream(path) << "abc";
  auto ok = MappedFile::open(path.string());
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(ok->size(), 3u);
  EXPECT_EQ(ok->data()[2], 'c');
  std::filesystem::remove(path);
}

TEST(MappedFile, AFifoIsRefusedAtOnceInsteadOfWaitingForAWriter) {
  const auto fifo = std::filesystem::temp_directory_path() / ("lingua-mapped-fifo-" + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = MappedFile::open(fifo.string());
  std::filesystem::remove(fifo);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error(), "'" + fifo.string() + "' is a FIFO, not a regular file");
}

}  // namespace
}  // namespace lingua

// strait microbenchmarks (Google Benchmark). Run: build-bench/strait_micro
// (see bench/README.md for the flags used for the recorded figures).
#include <benchmark/benchmark.h>

#include "shared.hpp"

namespace strait::bench {

const Built& built(bool long_names) {
  auto make = [](bool long_names_) {
    auto* b = new Built;  // lives for the process: benchmarks hold pointers into it
    b->options.long_names = long_names_;
    b->store = make_store(b->options);
    b->translation = controller::translate(b->store, {});
    return b;
  };
  static const Built* short_names = make(false);
  if (!long_names) return *short_names;
  static const Built* long_ones = make(true);
  return *long_ones;
}

}  // namespace strait::bench

BENCHMARK_MAIN();

// The 10,000-Ingress corpus and its translation, built once per process and shared by the
// benchmarks that only read them.
#pragma once

#include "controller/translator.hpp"
#include "corpus.hpp"

namespace strait::bench {

struct Built {
  CorpusOptions options;
  controller::Store store;
  controller::Translation translation;
};

// Short names (default) or long names (see CorpusOptions::long_names).
const Built& built(bool long_names = false);

}  // namespace strait::bench

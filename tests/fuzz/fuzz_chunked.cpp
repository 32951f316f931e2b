// libFuzzer target: the chunked decoder and the re-framing forwarder, fed in random splits.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/http1_parser.hpp"

using namespace strait::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t step = (data[0] % 16) + 1;  // feed in pieces of this size
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  ChunkedDecoder d;
  std::string out;
  std::string pending;
  while (left > 0) {
    size_t n = std::min(step, left);
    pending.append(p, n);
    p += n;
    left -= n;
    while (!pending.empty()) {
      size_t used = 0;
      std::string_view chunk;
      auto r = d.next(pending.data(), pending.size(), used, chunk);
      if (used > pending.size()) __builtin_trap();
      if (r == ChunkedDecoder::Result::Data) out.append(chunk);
      pending.erase(0, used);
      if (r == ChunkedDecoder::Result::Error || r == ChunkedDecoder::Result::Done) return 0;
      if (r == ChunkedDecoder::Result::NeedMore) break;
    }
  }
  return 0;
}

// libFuzzer target: path normalisation is idempotent and never produces a dot segment.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/path_normalizer.hpp"

using namespace strait::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = "/" + std::string(reinterpret_cast<const char*>(data), size);
  std::string once;
  PathCheck r = normalize_path(path, once);
  if (r == PathCheck::Rejected) return 0;
  const std::string& result = r == PathCheck::Normalized ? once : path;
  if (result.empty() || result[0] != '/') __builtin_trap();
  if (result.find("/./") != std::string::npos || result.find("/../") != std::string::npos ||
      result.find("//") != std::string::npos)
    __builtin_trap();
  std::string twice;
  if (normalize_path(result, twice) == PathCheck::Normalized && twice != result) __builtin_trap();
  return 0;
}

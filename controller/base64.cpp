#include "controller/base64.hpp"

#include <cstdint>

namespace strait::controller {
namespace {

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  // Go's encoding/json (and so the API server) uses StdEncoding: padded, no whitespace.
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    uint32_t acc = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        acc <<= 6;
        continue;
      }
      int v = sextet(c);
      if (v < 0 || pad > 0) return std::nullopt;
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out.push_back(static_cast<char>((acc >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((acc >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(acc & 0xff));
  }
  return out;
}

}  // namespace strait::controller

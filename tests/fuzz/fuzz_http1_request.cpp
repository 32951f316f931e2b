// libFuzzer target: the whole HTTP/1 request path strait runs before forwarding anything —
// head parsing and validation, path normalisation, routing, and re-serialising the head.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/head_writer.hpp"
#include "proxy/http1_parser.hpp"
#include "proxy/path_normalizer.hpp"
#include "strait/snapshot.hpp"

using namespace strait;
using namespace strait::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Snapshot snapshot;  // empty table: routing still walks every lookup
  static ParsedRequest req;
  parse_request(reinterpret_cast<const char*>(data), size, HeadLimits{}, req);
  if (req.status != ParseStatus::Complete) return 0;
  if (req.head_size > size) __builtin_trap();
  std::string normalized, head;
  std::string_view path = req.path;
  if (normalize_path(req.path, normalized) == PathCheck::Normalized) path = normalized;
  route_request(snapshot, req.authority, path);
  write_upstream_request_head(req, {"127.0.0.1", "80", "http", "0123456789abcdef0123456789abcdef"},
                              req.framing, req.content_length, head);
  // What strait forwards must parse back as one clean request with the same framing (strait
  // adds up to ten fields, so a request near the field-count limit may legitimately exceed it).
  if (req.header_count > kMaxHeaders - 10) return 0;
  ParsedRequest again;
  parse_request(head.data(), head.size(), HeadLimits{1 << 20, 1 << 20, 1 << 22}, again);
  if (again.status != ParseStatus::Complete || again.framing != req.framing) __builtin_trap();
  return 0;
}

// One HTTP/2 request's header block, collected field by field as nghttp2 decodes it, and turned
// into the same ParsedRequest the HTTP/1 parser produces, so routing, path normalisation and the
// upstream head writer are shared by both protocols (what goes upstream is always strait's own
// HTTP/1.1 serialisation, never bytes copied from the client).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/h2_memory.hpp"
#include "proxy/http1_parser.hpp"

namespace strait::proxy {

class H2RequestHeaders {
 public:
  // `max_list_size` bounds the decoded header list (RFC 9113 10.5.1: name + value + 32 per field,
  // the HPACK-bomb defence nghttp2 1.52 leaves to us); `max_fields` bounds the field count.
  void reset(size_t max_list_size, size_t max_fields);

  // Adds one decoded field (nghttp2 has already checked names, values and pseudo-header order).
  // Returns false once the list is over a limit; later fields are then ignored.
  bool add(std::string_view name, std::string_view value);
  bool too_large() const { return too_large_; }

  // Fills `out` with views into this object (valid while it lives and add() is not called).
  // `end_stream`: the HEADERS frame ended the stream, so no body follows. On a malformed request
  // out.status is Error with the status to answer.
  void build(bool end_stream, ParsedRequest& out);

  std::string_view method() const { return view(method_); }
  std::string_view scheme() const { return view(scheme_); }

 private:
  struct Span {
    uint32_t offset = 0;
    uint32_t size = 0;
    bool present = false;
  };
  struct Field {
    Span name;
    Span value;
  };
  Span store(std::string_view s);
  std::string_view view(Span s) const { return {storage_.data() + s.offset, s.size}; }

  // From the worker's block cache: a stream's fields cost no trip through malloc.
  RecycledString storage_;
  RecycledVector<Field> fields_;
  Span method_, scheme_, authority_, path_, protocol_;
  RecycledString cookie_;  // cookie fields joined with "; " (RFC 9113 8.2.3)
  size_t counted_fields_ = 0;
  size_t list_size_ = 0;
  size_t max_list_size_ = 0;
  size_t max_fields_ = 0;
  bool too_large_ = false;
  bool bad_pseudo_ = false;
};

// A ParsedRequest for one stream, taken from a per-thread stack of objects already
// constructed: a fresh one would value-initialise its 3.4 KB of field arrays for every stream.
// Every member other than `headers` and `ids` is reset on taking; those two are only ever read
// below `header_count`, which build() sets. Kept objects are poisoned under AddressSanitizer.
class RecycledRequest {
 public:
  RecycledRequest();
  ~RecycledRequest();
  RecycledRequest(const RecycledRequest&) = delete;
  RecycledRequest& operator=(const RecycledRequest&) = delete;
  ParsedRequest& get() { return *request_; }

 private:
  ParsedRequest* request_;
};

}  // namespace strait::proxy

// Strict HTTP/1.1 message-head parsing (RFC 9112) and chunked decoding, zero-copy.
//
// Why our own parser and not Beast's: Beast 1.81 (Debian 12) accepts several smuggling vectors
// (TE gzip + CL, TE "chunked, gzip" as length 0, chunked on HTTP/1.0, obs-fold). Parsing the whole
// head at once with our own rules closes them by construction, costs no allocation, and gives
// each failure its exact status. Every view points into the caller's buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace strait::proxy {

inline constexpr size_t kMaxHeaders = 100;

struct Header {
  std::string_view name;
  std::string_view value;
};

// Headers the proxy treats specially, recognised once while parsing.
enum class HeaderId : uint8_t {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  Te,
  Trailer,
  Upgrade,
  Expect,
  XForwardedFor,
  XForwardedHost,
  XForwardedPort,
  XForwardedProto,
  XForwardedScheme,
  XScheme,
  XRealIp,
  XRequestId,
  XOriginalForwardedFor,
  XOriginalForwardedHost,
  Server,
  Date,
  Http2Settings,
};

HeaderId classify_header(std::string_view name);

enum class BodyFraming : uint8_t { None, Length, Chunked, UntilClose };

enum class ParseStatus : uint8_t { Complete, Incomplete, Error };

struct ParsedHead {
  ParseStatus status = ParseStatus::Incomplete;
  int error_status = 0;    // HTTP status to answer with when status == Error (400/414/431/501/505)
  const char* error = "";  // reason, for the log
  size_t head_size = 0;    // bytes of the head including the final CRLFCRLF
  int version_minor = 1;   // HTTP/1.x
  std::array<Header, kMaxHeaders> headers;
  std::array<HeaderId, kMaxHeaders> ids;
  size_t header_count = 0;
  BodyFraming framing = BodyFraming::None;
  uint64_t content_length = 0;
  bool keep_alive = true;  // from version and Connection
  // Index of special headers (kMaxHeaders = absent).
  size_t host_index = kMaxHeaders;
  // Connection: tokens naming further hop-by-hop headers (up to 8 remembered).
  std::array<std::string_view, 8> connection_tokens;
  size_t connection_token_count = 0;
};

struct ParsedRequest : ParsedHead {
  std::string_view method;
  std::string_view target;         // as sent
  std::string_view authority;      // Host header or absolute-form authority (routing host)
  std::string_view path;           // target path without query (for routing)
  std::string_view origin_target;  // path + query (absolute-form reduced to origin-form)
  bool expect_continue = false;
  bool upgrade_websocket = false;  // a WebSocket handshake: tunnel after the upstream's 101
  bool idempotent = false;
  bool head_method = false;
};

struct ParsedResponse : ParsedHead {
  int status_code = 0;
  std::string_view status_line_rest;  // "200 OK" as sent (code + reason)
};

struct HeadLimits {
  size_t max_request_line = 8192;  // 414 beyond
  size_t max_header_line = 8192;   // 431 beyond
  size_t max_head = 65536;         // 431 beyond (whole head)
};

// Parses a request head from [data, data+size). Incomplete until CRLFCRLF is seen; Error with
// the status to answer when the head is malformed or too large. scan_from lets the caller avoid
// rescanning bytes already known not to hold the terminator.
void parse_request(const char* data, size_t size, const HeadLimits& limits, ParsedRequest& out);
// A reused ParsedRequest made to look freshly constructed, except its field arrays (read only
// below header_count, and 3.4 KB to zero): what a failed parse leaves untouched must not come
// from an earlier request. For objects recycled across requests (HTTP/2 streams, HTTP/1
// exchanges).
void reset_request(ParsedRequest& r);

// The part of request parsing that follows the head's fields, shared by HTTP/1 and HTTP/2:
// `method`, `target`, `authority`, the fields and the framing are set; this checks the target
// (origin, asterisk or absolute form; absolute-form authority against host_header), sets `path`,
// `origin_target`, the method flags, Expect and the WebSocket upgrade, and sets status.
void complete_request(ParsedRequest& out, std::string_view host_header);

// Host = uri-host [ ":" port ] (RFC 9110 7.2); the empty string is valid (HTTP/1.0).
bool is_valid_authority(std::string_view host);

// Parses a response head. request_was_head and the status decide whether a body follows.
void parse_response(const char* data, size_t size, const HeadLimits& limits, bool request_was_head,
                    ParsedResponse& out);

bool iequals(std::string_view a, std::string_view b);

// Incremental chunked-body decoder (RFC 9112 section 7.1). Strict: hex sizes without sign or
// prefix, CRLF only, bounded extensions and trailers, no 64-bit overflow.
class ChunkedDecoder {
 public:
  enum class Result : uint8_t { Data, NeedMore, Done, Error };
  // Consumes framing from [data, data+size); on Data, `chunk` holds payload bytes inside the
  // input. `consumed` always reports how many input bytes were used (framing and payload).
  Result next(const char* data, size_t size, size_t& consumed, std::string_view& chunk);
  const char* error() const { return error_; }
  void reset() { *this = ChunkedDecoder{}; }

 private:
  enum class State : uint8_t { Size, Ext, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf, Done };
  State state_ = State::Size;
  uint64_t remaining_ = 0;
  unsigned size_digits_ = 0;
  size_t ext_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  size_t trailer_line_ = 0;
  const char* error_ = "";
};

}  // namespace strait::proxy

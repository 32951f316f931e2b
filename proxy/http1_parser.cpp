#include "proxy/http1_parser.hpp"

#include <cstring>

namespace strait::proxy {
namespace {

// RFC 9110 section 5.6.2 tchar.
constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kTchar = make_tchar_table();

// field-vchar / obs-text / SP / HTAB are allowed inside a value; every other CTL is not.
constexpr std::array<bool, 256> make_value_table() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  t['\t'] = true;
  return t;
}
constexpr auto kValueChar = make_value_table();

inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline unsigned hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  return static_cast<unsigned>(lower(c) - 'a' + 10);
}

// Calls fn(element) for each non-empty element of a comma-separated list (RFC 9110 5.6.1).
template <typename Fn>
void for_each_list_element(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

void fail(ParsedHead& out, int status, const char* reason) {
  out.status = ParseStatus::Error;
  out.error_status = status;
  out.error = reason;
}

// Splits the header section into fields and validates each line. `p` points at the first header
// line; returns false (with out.status set) when incomplete or invalid.
bool parse_fields(const char* data, size_t size, const char* p, const HeadLimits& limits,
                  int bad_status, ParsedHead& out) {
  const char* end = data + size;
  out.header_count = 0;
  while (true) {
    size_t avail = static_cast<size_t>(end - p);
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', avail));
    if (nl == nullptr) {
      if (avail > limits.max_header_line) return fail(out, 431, "header field too large"), false;
      if (size > limits.max_head) return fail(out, 431, "header section too large"), false;
      out.status = ParseStatus::Incomplete;
      return false;
    }
    if (nl == p || nl[-1] != '\r') return fail(out, bad_status, "bare LF in header"), false;
    std::string_view line(p, static_cast<size_t>(nl - 1 - p));
    size_t consumed = static_cast<size_t>(nl + 1 - data);
    if (line.size() > limits.max_header_line)
      return fail(out, 431, "header field too large"), false;
    if (consumed > limits.max_head) return fail(out, 431, "header section too large"), false;
    if (line.empty()) {
      out.head_size = consumed;
      return true;
    }
    if (line.front() == ' ' || line.front() == '\t')
      return fail(out, bad_status, "obsolete line folding"), false;
    size_t colon = 0;
    while (colon < line.size() && kTchar[static_cast<unsigned char>(line[colon])]) ++colon;
    if (colon == 0 || colon == line.size() || line[colon] != ':')
      return fail(out, bad_status, "invalid header field name"), false;
    std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
      if (!kValueChar[static_cast<unsigned char>(c)])
        return fail(out, bad_status, "invalid character in header value"), false;
    }
    if (out.header_count == kMaxHeaders) return fail(out, 431, "too many header fields"), false;
    std::string_view name = line.substr(0, colon);
    out.headers[out.header_count] = {name, value};
    out.ids[out.header_count] = classify_header(name);
    ++out.header_count;
    p = nl + 1;
  }
}

// Parses "1*DIGIT" (at most 18 digits, so no overflow).
bool parse_decimal(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

bool is_known_coding(std::string_view c) {
  return iequals(c, "chunked") || iequals(c, "gzip") || iequals(c, "x-gzip") ||
         iequals(c, "deflate") || iequals(c, "compress") || iequals(c, "x-compress");
}

// Common post-processing: Connection tokens, framing headers. Returns false on error.
// `strict` (requests) rejects every ambiguity; responses take Transfer-Encoding over
// Content-Length as RFC 9112 6.3 allows a client to.
bool analyse_framing(ParsedHead& out, bool strict, int bad_status) {
  bool have_length = false, have_te = false, chunked_final = false, unknown_coding = false;
  bool chunked_not_final = false;
  size_t codings = 0, chunked_count = 0;
  uint64_t length = 0;
  bool connection_close = false, connection_keep_alive = false;
  out.connection_token_count = 0;
  out.host_index = kMaxHeaders;
  for (size_t i = 0; i < out.header_count; ++i) {
    std::string_view value = out.headers[i].value;
    switch (out.ids[i]) {
      case HeaderId::Host:
        if (out.host_index != kMaxHeaders && strict)
          return fail(out, bad_status, "duplicate Host header"), false;
        out.host_index = i;
        break;
      case HeaderId::ContentLength: {
        bool ok = true;
        bool any = false;
        for_each_list_element(value, [&](std::string_view element) {
          uint64_t v = 0;
          any = true;
          if (!parse_decimal(element, v) || (have_length && v != length)) ok = false;
          length = v;
          have_length = true;
        });
        if (!ok || !any) return fail(out, bad_status, "invalid Content-Length"), false;
        break;
      }
      case HeaderId::TransferEncoding:
        have_te = true;
        for_each_list_element(value, [&](std::string_view coding) {
          // Transfer-coding parameters (";q=") are not valid on Transfer-Encoding; treat the
          // whole element as the coding name so anything unusual is unknown.
          ++codings;
          if (chunked_final) chunked_not_final = true;
          chunked_final = iequals(coding, "chunked");
          if (chunked_final) ++chunked_count;
          if (!is_known_coding(coding)) unknown_coding = true;
        });
        break;
      case HeaderId::Connection:
        for_each_list_element(value, [&](std::string_view token) {
          if (iequals(token, "close")) {
            connection_close = true;
          } else if (iequals(token, "keep-alive")) {
            connection_keep_alive = true;
          } else if (out.connection_token_count < out.connection_tokens.size()) {
            out.connection_tokens[out.connection_token_count++] = token;
          }
        });
        break;
      default:
        break;
    }
  }
  out.keep_alive =
      out.version_minor >= 1 ? !connection_close : (connection_keep_alive && !connection_close);
  if (have_te) {
    if (strict) {
      if (have_length) return fail(out, bad_status, "Transfer-Encoding with Content-Length"), false;
      if (out.version_minor == 0)
        return fail(out, bad_status, "Transfer-Encoding in HTTP/1.0"), false;
      if (codings == 0) return fail(out, bad_status, "empty Transfer-Encoding"), false;
      if (unknown_coding) return fail(out, 501, "unsupported transfer coding"), false;
      if (!chunked_final || chunked_not_final || chunked_count != 1)
        return fail(out, bad_status, "chunked is not the final transfer coding"), false;
      if (codings != 1) return fail(out, 501, "unsupported transfer coding"), false;
      out.framing = BodyFraming::Chunked;
    } else {
      out.framing = chunked_final ? BodyFraming::Chunked : BodyFraming::UntilClose;
      if (!chunked_final) out.keep_alive = false;
    }
    return true;
  }
  if (have_length) {
    out.content_length = length;
    out.framing = length > 0 ? BodyFraming::Length : BodyFraming::None;
    return true;
  }
  out.framing = BodyFraming::None;
  return true;
}

// Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2).
bool valid_authority(std::string_view host) {
  if (host.empty()) return true;
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!is_hex(c) && c != ':' && c != '.') return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    name = {};
  } else {
    size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (name.empty() || name == "." || name == "..") return false;
    for (char c : name) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~';
      if (!ok) return false;
    }
  }
  if (!port.empty()) {
    uint64_t p = 0;
    if (port.size() > 5 || !parse_decimal(port, p) || p > 65535) return false;
  }
  return true;
}

// '%' must introduce two hex digits, and %00 is never acceptable in a path.
bool valid_percent_encoding(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size()) return false;
    if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    if (s[i + 1] == '0' && s[i + 2] == '0') return false;
    i += 2;
  }
  return true;
}

bool is_idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

}  // namespace

bool is_valid_authority(std::string_view host) {
  return valid_authority(host);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

HeaderId classify_header(std::string_view n) {
  // Dispatch on length first: one comparison for most headers.
  switch (n.size()) {
    case 2:
      if (iequals(n, "te")) return HeaderId::Te;
      break;
    case 4:
      if (iequals(n, "host")) return HeaderId::Host;
      if (iequals(n, "date")) return HeaderId::Date;
      break;
    case 6:
      if (iequals(n, "expect")) return HeaderId::Expect;
      if (iequals(n, "server")) return HeaderId::Server;
      break;
    case 7:
      if (iequals(n, "upgrade")) return HeaderId::Upgrade;
      if (iequals(n, "trailer")) return HeaderId::Trailer;
      break;
    case 8:
      if (iequals(n, "x-scheme")) return HeaderId::XScheme;
      break;
    case 9:
      if (iequals(n, "x-real-ip")) return HeaderId::XRealIp;
      break;
    case 10:
      if (iequals(n, "connection")) return HeaderId::Connection;
      if (iequals(n, "keep-alive")) return HeaderId::KeepAlive;
      break;
    case 12:
      if (iequals(n, "x-request-id")) return HeaderId::XRequestId;
      break;
    case 14:
      if (iequals(n, "content-length")) return HeaderId::ContentLength;
      if (iequals(n, "http2-settings")) return HeaderId::Http2Settings;
      break;
    case 15:
      if (iequals(n, "x-forwarded-for")) return HeaderId::XForwardedFor;
      break;
    case 16:
      if (iequals(n, "x-forwarded-host")) return HeaderId::XForwardedHost;
      if (iequals(n, "x-forwarded-port")) return HeaderId::XForwardedPort;
      if (iequals(n, "proxy-connection")) return HeaderId::ProxyConnection;
      break;
    case 17:
      if (iequals(n, "transfer-encoding")) return HeaderId::TransferEncoding;
      if (iequals(n, "x-forwarded-proto")) return HeaderId::XForwardedProto;
      break;
    case 18:
      if (iequals(n, "x-forwarded-scheme")) return HeaderId::XForwardedScheme;
      break;
    case 24:
      if (iequals(n, "x-original-forwarded-for")) return HeaderId::XOriginalForwardedFor;
      break;
    case 25:
      if (iequals(n, "x-original-forwarded-host")) return HeaderId::XOriginalForwardedHost;
      break;
    default:
      break;
  }
  return HeaderId::Other;
}

void parse_request(const char* data, size_t size, const HeadLimits& limits, ParsedRequest& out) {
  out.status = ParseStatus::Incomplete;
  const char* p = data;
  const char* end = data + size;
  // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line.
  for (int i = 0; i < 4 && end - p >= 2 && p[0] == '\r' && p[1] == '\n'; ++i) p += 2;
  size_t avail = static_cast<size_t>(end - p);
  const char* nl =
      static_cast<const char*>(std::memchr(p, '\n', std::min(avail, limits.max_request_line + 2)));
  if (nl == nullptr) {
    if (avail > limits.max_request_line) return fail(out, 414, "request line too long");
    return;
  }
  if (nl == p || nl[-1] != '\r') return fail(out, 400, "bare LF in request line");
  std::string_view line(p, static_cast<size_t>(nl - 1 - p));

  size_t sp1 = 0;
  while (sp1 < line.size() && kTchar[static_cast<unsigned char>(line[sp1])]) ++sp1;
  if (sp1 == line.size() || line[sp1] != ' ') return fail(out, 400, "invalid method");
  if (sp1 == 0) return fail(out, 400, "invalid method");
  if (sp1 > 32) return fail(out, 501, "method not implemented");
  out.method = line.substr(0, sp1);
  size_t t = sp1 + 1;
  size_t sp2 = t;
  while (sp2 < line.size() && static_cast<unsigned char>(line[sp2]) > 0x20 &&
         static_cast<unsigned char>(line[sp2]) < 0x7f)
    ++sp2;
  if (sp2 == t || sp2 == line.size() || line[sp2] != ' ')
    return fail(out, 400, "invalid request target");
  out.target = line.substr(t, sp2 - t);
  std::string_view version = line.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return fail(out, 400, "invalid HTTP version");
  if (version[5] != '1') return fail(out, 505, "HTTP version not supported");
  out.version_minor = version[7] == '0' ? 0 : 1;

  if (!parse_fields(data, size, nl + 1, limits, 400, out)) return;
  if (!analyse_framing(out, true, 400)) return;

  std::string_view host_header =
      out.host_index != kMaxHeaders ? out.headers[out.host_index].value : std::string_view();
  if (out.version_minor >= 1 && out.host_index == kMaxHeaders)
    return fail(out, 400, "missing Host header");
  if (!valid_authority(host_header)) return fail(out, 400, "invalid Host header");
  out.authority = host_header;
  complete_request(out, host_header);
}

void complete_request(ParsedRequest& out, std::string_view host_header) {
  std::string_view target = out.target;
  if (target.find('#') != std::string_view::npos) return fail(out, 400, "fragment in target");
  if (out.method == "CONNECT") return fail(out, 405, "CONNECT not allowed");
  if (out.method == "TRACE") return fail(out, 405, "TRACE not allowed");
  if (target.front() == '/') {
    out.origin_target = target;
  } else if (target == "*") {
    if (out.method != "OPTIONS") return fail(out, 400, "asterisk-form target");
    out.origin_target = target;
  } else {
    size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return fail(out, 400, "invalid request target");
    std::string_view scheme = target.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https"))
      return fail(out, 400, "unsupported scheme in target");
    std::string_view rest = target.substr(scheme_end + 3);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !valid_authority(authority))
      return fail(out, 400, "invalid authority in target");
    if (slash == std::string_view::npos) return fail(out, 400, "absolute-form without path");
    if (out.host_index != kMaxHeaders && !iequals(authority, host_header))
      return fail(out, 400, "Host disagrees with the request target");
    out.authority = authority;
    out.origin_target = rest.substr(slash);
  }
  size_t q = out.origin_target.find('?');
  out.path = out.origin_target.substr(0, q);
  if (!valid_percent_encoding(out.path)) return fail(out, 400, "invalid percent-encoding");

  out.head_method = out.method == "HEAD";
  out.idempotent = is_idempotent(out.method);
  out.expect_continue = false;
  bool upgrade_websocket = false;
  for (size_t i = 0; i < out.header_count; ++i) {
    if (out.ids[i] == HeaderId::Expect) {
      if (!iequals(out.headers[i].value, "100-continue"))
        return fail(out, 417, "unsupported expectation");
      out.expect_continue = true;
    } else if (out.ids[i] == HeaderId::Upgrade) {
      for_each_list_element(out.headers[i].value, [&](std::string_view protocol) {
        if (iequals(protocol, "websocket")) upgrade_websocket = true;
      });
    }
  }
  // A WebSocket handshake (RFC 6455 4.1): GET, HTTP/1.1, "Connection: upgrade" and
  // "Upgrade: websocket". Other upgrades (h2c) are not honoured: the fields are dropped.
  bool connection_upgrade = false;
  for (size_t t = 0; t < out.connection_token_count; ++t)
    if (iequals(out.connection_tokens[t], "upgrade")) connection_upgrade = true;
  out.upgrade_websocket = upgrade_websocket && connection_upgrade && out.method == "GET" &&
                          out.version_minor >= 1 && out.framing == BodyFraming::None;
  out.status = ParseStatus::Complete;
}

void parse_response(const char* data, size_t size, const HeadLimits& limits, bool request_was_head,
                    ParsedResponse& out) {
  out.status = ParseStatus::Incomplete;
  const char* nl = static_cast<const char*>(
      std::memchr(data, '\n', std::min(size, limits.max_request_line + 2)));
  if (nl == nullptr) {
    if (size > limits.max_request_line) return fail(out, 502, "status line too long");
    return;
  }
  if (nl == data || nl[-1] != '\r') return fail(out, 502, "bare LF in status line");
  std::string_view line(data, static_cast<size_t>(nl - 1 - data));
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ')
    return fail(out, 502, "invalid status line");
  out.version_minor = line[7] == '0' ? 0 : 1;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail(out, 502, "invalid status code");
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100 || (line.size() > 12 && line[12] != ' '))
    return fail(out, 502, "invalid status code");
  for (char c : line.substr(12)) {
    if (!kValueChar[static_cast<unsigned char>(c)]) return fail(out, 502, "invalid reason phrase");
  }
  out.status_code = code;
  out.status_line_rest = line.substr(9);
  if (!parse_fields(data, size, nl + 1, limits, 502, out)) return;
  if (!analyse_framing(out, false, 502)) return;
  if (code < 200 || code == 204 || code == 304 || request_was_head) {
    out.framing = BodyFraming::None;
  } else if (out.framing == BodyFraming::None && out.content_length == 0) {
    // No Content-Length and no Transfer-Encoding: the body runs until the connection closes.
    bool has_length = false;
    for (size_t i = 0; i < out.header_count; ++i)
      if (out.ids[i] == HeaderId::ContentLength) has_length = true;
    if (!has_length) {
      out.framing = BodyFraming::UntilClose;
      out.keep_alive = false;
    }
  }
  out.status = ParseStatus::Complete;
}

ChunkedDecoder::Result ChunkedDecoder::next(const char* data, size_t size, size_t& consumed,
                                            std::string_view& chunk) {
  constexpr size_t kMaxExtension = 4096;
  constexpr size_t kMaxTrailers = 8192;
  const char* p = data;
  const char* end = data + size;
  auto error = [&](const char* why) {
    error_ = why;
    consumed = static_cast<size_t>(p - data);
    return Result::Error;
  };
  while (p < end) {
    char c = *p;
    switch (state_) {
      case State::Size:
        if (is_hex(c)) {
          if (++size_digits_ > 16) return error("chunk size overflow");
          remaining_ = (remaining_ << 4) | hex_value(c);
          ++p;
        } else if (size_digits_ == 0) {
          return error("invalid chunk size");
        } else if (c == ';') {
          state_ = State::Ext;
          ext_bytes_ = 0;
          ++p;
        } else if (c == '\r') {
          state_ = State::SizeLf;
          ++p;
        } else {
          return error("invalid chunk size");
        }
        break;
      case State::Ext:
        if (c == '\r') {
          state_ = State::SizeLf;
        } else if (c == '\n' || c == '\0' || ++ext_bytes_ > kMaxExtension) {
          return error("invalid chunk extension");
        }
        ++p;
        break;
      case State::SizeLf:
        if (c != '\n') return error("bare CR in chunk size line");
        ++p;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::Trailer : State::Data;
        trailer_line_ = 0;
        break;
      case State::Data: {
        size_t n = static_cast<size_t>(end - p);
        if (n > remaining_) n = static_cast<size_t>(remaining_);
        chunk = std::string_view(p, n);
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::DataCr;
        consumed = static_cast<size_t>(p - data);
        return Result::Data;
      }
      case State::DataCr:
        if (c != '\r') return error("chunk data not followed by CRLF");
        state_ = State::DataLf;
        ++p;
        break;
      case State::DataLf:
        if (c != '\n') return error("chunk data not followed by CRLF");
        state_ = State::Size;
        ++p;
        break;
      case State::Trailer:
        if (++trailer_bytes_ > kMaxTrailers) return error("trailer section too large");
        if (c == '\r') {
          state_ = State::TrailerLf;
        } else if (c == '\n' || (c != '\t' && !kValueChar[static_cast<unsigned char>(c)])) {
          return error("invalid trailer");
        } else {
          ++trailer_line_;
        }
        ++p;
        break;
      case State::TrailerLf:
        if (c != '\n') return error("bare CR in trailer");
        ++p;
        if (trailer_line_ == 0) {
          state_ = State::Done;
          consumed = static_cast<size_t>(p - data);
          return Result::Done;
        }
        trailer_line_ = 0;
        state_ = State::Trailer;
        break;
      case State::Done:
        consumed = static_cast<size_t>(p - data);
        return Result::Done;
    }
  }
  consumed = static_cast<size_t>(p - data);
  return state_ == State::Done ? Result::Done : Result::NeedMore;
}

// ParsedRequest's members as reset_request() knows them; a new member must be reset there too.
static_assert(sizeof(ParsedRequest) == 3600, "ParsedRequest changed: update reset_request");

void reset_request(ParsedRequest& r) {
  r.status = ParseStatus::Incomplete;
  r.error_status = 0;
  r.error = "";
  r.head_size = 0;
  r.version_minor = 1;
  r.header_count = 0;
  r.framing = BodyFraming::None;
  r.content_length = 0;
  r.keep_alive = true;
  r.host_index = kMaxHeaders;
  r.connection_tokens.fill({});
  r.connection_token_count = 0;
  r.method = r.target = r.authority = r.path = r.origin_target = {};
  r.expect_continue = false;
  r.upgrade_websocket = false;
  r.idempotent = false;
  r.head_method = false;
}

}  // namespace strait::proxy

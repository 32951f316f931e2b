#include "proxy/h2_request.hpp"

#include <charconv>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace strait::proxy {
namespace {

// RFC 9113 10.5.1: the size of a field is its name and value plus 32 bytes of overhead.
constexpr size_t kFieldOverhead = 32;

void fail(ParsedRequest& out, int status, const char* reason) {
  out.status = ParseStatus::Error;
  out.error_status = status;
  out.error = reason;
}

}  // namespace

// Room for a typical request's fields, so the buffers are not regrown field by field.
constexpr size_t kStorageReserve = 480;
constexpr size_t kFieldsReserve = 16;

void H2RequestHeaders::reset(size_t max_list_size, size_t max_fields) {
  storage_.clear();
  fields_.clear();
  storage_.reserve(kStorageReserve);
  fields_.reserve(kFieldsReserve);
  method_ = scheme_ = authority_ = path_ = protocol_ = Span{};
  cookie_.clear();
  counted_fields_ = 0;
  list_size_ = 0;
  max_list_size_ = max_list_size;
  max_fields_ = max_fields;
  too_large_ = false;
  bad_pseudo_ = false;
}

H2RequestHeaders::Span H2RequestHeaders::store(std::string_view s) {
  Span span{static_cast<uint32_t>(storage_.size()), static_cast<uint32_t>(s.size()), true};
  storage_.append(s);
  return span;
}

bool H2RequestHeaders::add(std::string_view name, std::string_view value) {
  if (too_large_) return false;
  list_size_ += name.size() + value.size() + kFieldOverhead;
  // Cookie crumbs (RFC 9113 8.2.3) become one field: only the list size bounds them.
  if (name != "cookie") ++counted_fields_;
  if (list_size_ > max_list_size_ || counted_fields_ > max_fields_) {
    too_large_ = true;
    return false;
  }
  if (!name.empty() && name.front() == ':') {
    Span* slot = name == ":method"      ? &method_
                 : name == ":scheme"    ? &scheme_
                 : name == ":authority" ? &authority_
                 : name == ":path"      ? &path_
                 : name == ":protocol"  ? &protocol_
                                        : nullptr;
    if (slot == nullptr || slot->present) {
      bad_pseudo_ = true;  // nghttp2 rejects these first; kept as a second line of defence
      return true;
    }
    *slot = store(value);
    return true;
  }
  fields_.push_back({store(name), store(value)});
  return true;
}

void H2RequestHeaders::build(bool end_stream, ParsedRequest& out) {
  out.status = ParseStatus::Incomplete;
  out.error_status = 0;
  out.error = "";
  out.head_size = 0;
  out.version_minor = 1;
  out.keep_alive = true;
  out.header_count = 0;
  out.host_index = kMaxHeaders;
  out.connection_token_count = 0;
  out.framing = BodyFraming::None;
  out.content_length = 0;
  if (too_large_) return fail(out, 431, "request header list too large");
  if (bad_pseudo_) return fail(out, 400, "invalid pseudo-header");
  if (!method_.present) return fail(out, 400, "missing :method");
  out.method = view(method_);
  // As on HTTP/1: strait is no tunnel (CONNECT, extended CONNECT).
  if (out.method == "CONNECT") return fail(out, 405, "CONNECT not allowed");
  if (protocol_.present) return fail(out, 501, "extended CONNECT not supported");
  if (!path_.present || view(path_).empty()) return fail(out, 400, "missing :path");
  if (!scheme_.present) return fail(out, 400, "missing :scheme");
  // Only http(s) requests: another scheme would let :path be absolute-form (nghttp2 checks the
  // path's shape only for these two), and routing must never take its host from the path.
  if (view(scheme_) != "http" && view(scheme_) != "https")
    return fail(out, 400, "unsupported :scheme");
  // The target goes into an HTTP/1 request line: no byte there may end or split it.
  std::string_view path = view(path_);
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return fail(out, 400, "invalid character in :path");
  }
  if (path.front() != '/' && !(path == "*" && out.method == "OPTIONS"))
    return fail(out, 400, ":path is not origin-form");
  out.target = path;

  // Cookies may arrive split into several fields; HTTP/1.1 wants one (RFC 9113 8.2.3). Joined
  // into a member of its own: storage_ must not grow while views into it are held.
  bool first_cookie = true;
  std::string_view host_field;
  bool several_hosts = false;
  for (const Field& f : fields_) {
    std::string_view name = view(f.name);
    if (name == "cookie") {
      if (!first_cookie) cookie_.append("; ");
      cookie_.append(view(f.value));
      first_cookie = false;
    } else if (name == "host") {
      if (!host_field.empty()) several_hosts = true;
      host_field = view(f.value);
    }
  }
  if (several_hosts) return fail(out, 400, "several Host fields");

  // Route by :authority; a Host field that disagrees makes the request malformed (RFC 9113
  // 8.3.1), so the backend can never see a different host than the one routed on.
  std::string_view authority = authority_.present ? view(authority_) : host_field;
  if (authority_.present && !host_field.empty() && !iequals(authority, host_field))
    return fail(out, 400, ":authority disagrees with Host");
  if (authority.empty()) return fail(out, 400, "missing :authority");
  if (!is_valid_authority(authority)) return fail(out, 400, "invalid :authority");
  out.authority = authority;

  bool has_length = false;
  uint64_t length = 0;
  for (const Field& f : fields_) {
    std::string_view name = view(f.name);
    if (name == "cookie" || name == "host") continue;
    if (out.header_count == kMaxHeaders) return fail(out, 431, "too many header fields");
    HeaderId id = classify_header(name);
    if (id == HeaderId::ContentLength) {
      std::string_view v = view(f.value);
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
      if (ec != std::errc() || ptr != v.data() + v.size() || v.empty())
        return fail(out, 400, "invalid content-length");
      has_length = true;
    }
    out.headers[out.header_count] = {name, view(f.value)};
    out.ids[out.header_count] = id;
    ++out.header_count;
  }
  if (!first_cookie) {
    if (out.header_count == kMaxHeaders) return fail(out, 431, "too many header fields");
    out.headers[out.header_count] = {"cookie", cookie_};
    out.ids[out.header_count] = HeaderId::Other;
    ++out.header_count;
  }
  if (end_stream) {
    out.framing = BodyFraming::None;
  } else if (has_length) {
    out.framing = length > 0 ? BodyFraming::Length : BodyFraming::None;
    out.content_length = length;
  } else {
    out.framing = BodyFraming::Chunked;  // length unknown: strait frames it chunked upstream
  }
  complete_request(out, authority);
}

// ---- RecycledRequest ---------------------------------------------------------------------------

namespace {

// At most this many idle objects per worker (3.7 KB each); more are freed.
constexpr size_t kKeptRequests = 256;

// Trivially destructible: valid for the whole life of the thread, also after RequestGuard ran.
struct RequestStack {
  ParsedRequest* items[kKeptRequests];
  size_t count;
  bool dead;
};
thread_local RequestStack request_stack{};

struct RequestGuard {
  bool armed = false;
  ~RequestGuard() {
    while (request_stack.count > 0) {
      ParsedRequest* r = request_stack.items[--request_stack.count];
#if defined(__SANITIZE_ADDRESS__)
      ASAN_UNPOISON_MEMORY_REGION(r, sizeof *r);
#endif
      delete r;
    }
    request_stack.dead = true;
  }
};
thread_local RequestGuard request_guard;

}  // namespace

RecycledRequest::RecycledRequest() {
  if (request_stack.count == 0) {
    if (!request_guard.armed) request_guard.armed = true;  // registers the thread-exit cleanup
    request_ = new ParsedRequest();
    return;
  }
  request_ = request_stack.items[--request_stack.count];
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(request_, sizeof *request_);
#endif
  reset_request(*request_);
}

RecycledRequest::~RecycledRequest() {
  if (request_stack.dead || request_stack.count == kKeptRequests) {
    delete request_;
    return;
  }
  request_stack.items[request_stack.count++] = request_;
#if defined(__SANITIZE_ADDRESS__)
  ASAN_POISON_MEMORY_REGION(request_, sizeof *request_);
#endif
}

}  // namespace strait::proxy

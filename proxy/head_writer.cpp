#include "proxy/head_writer.hpp"

#include <charconv>
#include <cstring>

namespace strait::proxy {
namespace {

// One size check and two copies per field, not four appends: this runs for every field of
// every request and response head.
void append_header(std::string& out, std::string_view name, std::string_view value) {
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  // An empty view may have no data: memcpy must not see a null pointer, even for 0 bytes.
  if (!name.empty()) std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

void append_number(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(end - buf));
}

// Joins every value of one header (several lines or one list) the way nginx's
// $http_x_forwarded_for does: "a, b".
void append_joined(std::string& out, const ParsedHead& head, HeaderId id) {
  bool first = true;
  for (size_t i = 0; i < head.header_count; ++i) {
    if (head.ids[i] != id) continue;
    if (!first) out.append(", ", 2);
    out.append(head.headers[i].value);
    first = false;
  }
}

// strait's own framing of the body it sends: exactly one Content-Length or chunked.
void append_framing(std::string& out, BodyFraming framing, uint64_t content_length) {
  if (framing == BodyFraming::Length) {
    out.append("Content-Length: ");
    append_number(out, content_length);
    out.append("\r\n", 2);
  } else if (framing == BodyFraming::Chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
}

bool has_header(const ParsedHead& head, HeaderId id) {
  for (size_t i = 0; i < head.header_count; ++i)
    if (head.ids[i] == id) return true;
  return false;
}

}  // namespace

bool is_hop_by_hop(const ParsedHead& head, size_t index) {
  switch (head.ids[index]) {
    case HeaderId::Connection:
    case HeaderId::KeepAlive:
    case HeaderId::ProxyConnection:
    case HeaderId::Te:
    case HeaderId::Trailer:
    case HeaderId::TransferEncoding:
    case HeaderId::Upgrade:
    case HeaderId::Http2Settings:
      return true;
    default:
      break;
  }
  std::string_view name = head.headers[index].name;
  for (size_t t = 0; t < head.connection_token_count; ++t)
    if (iequals(name, head.connection_tokens[t])) return true;
  return false;
}

void visit_upstream_request_fields(const ParsedRequest& req, const ForwardContext& ctx,
                                   FieldSink& sink) {
  // Host first, as the client addressed it (absolute-form authority wins over the Host field).
  sink.field("Host", req.authority);
  bool has_request_id = false;
  for (size_t i = 0; i < req.header_count; ++i) {
    switch (req.ids[i]) {
      case HeaderId::Host:
      case HeaderId::ContentLength:
      case HeaderId::Expect:
      case HeaderId::XForwardedFor:
      case HeaderId::XForwardedHost:
      case HeaderId::XForwardedPort:
      case HeaderId::XForwardedProto:
      case HeaderId::XForwardedScheme:
      case HeaderId::XScheme:
      case HeaderId::XRealIp:
      case HeaderId::XOriginalForwardedFor:
      case HeaderId::XOriginalForwardedHost:
        continue;  // replaced below: the client's copies are not trusted
      case HeaderId::XRequestId:
        has_request_id = true;
        break;
      default:
        break;
    }
    if (is_hop_by_hop(req, i)) continue;
    sink.field(req.headers[i].name, req.headers[i].value);
  }
  if (req.upgrade_websocket) {
    sink.field("Connection", "upgrade");
    sink.field("Upgrade", "websocket");
  }
  if (!has_request_id) sink.field("X-Request-ID", ctx.new_request_id);
  sink.field("X-Real-IP", ctx.client_ip);
  sink.field("X-Forwarded-For", ctx.client_ip);
  sink.field("X-Forwarded-Host", req.authority);
  sink.field("X-Forwarded-Port", ctx.server_port);
  sink.field("X-Forwarded-Proto", ctx.scheme);
  sink.field("X-Forwarded-Scheme", ctx.scheme);
  sink.field("X-Scheme", ctx.scheme);
  // "X-Original-Forwarded-For: <every client X-Forwarded-For value>", when the client sent any.
  std::string joined;
  for (auto [id, name] : {std::pair{HeaderId::XForwardedFor, "X-Original-Forwarded-For"},
                          std::pair{HeaderId::XForwardedHost, "X-Original-Forwarded-Host"}}) {
    if (!has_header(req, id)) continue;
    joined.clear();
    append_joined(joined, req, id);
    sink.field(name, joined);
  }
}

void write_upstream_request_head(const ParsedRequest& req, const ForwardContext& ctx,
                                 BodyFraming framing, uint64_t content_length, std::string& out) {
  out.clear();
  out.append(req.method);
  out.push_back(' ');
  out.append(ctx.target.empty() ? req.origin_target : ctx.target);
  out.append(" HTTP/1.1\r\n", 11);
  struct TextSink final : FieldSink {
    std::string& out;
    explicit TextSink(std::string& o) : out(o) {}
    void field(std::string_view name, std::string_view value) override {
      append_header(out, name, value);
    }
  } sink(out);
  visit_upstream_request_fields(req, ctx, sink);
  append_framing(out, framing, content_length);
  out.append("\r\n", 2);
}

void write_client_response_head(const ParsedResponse& resp, BodyFraming framing,
                                uint64_t content_length, bool close, bool http10_keep_alive,
                                std::string_view date, std::string_view hsts, std::string& out) {
  out.clear();
  out.append("HTTP/1.1 ", 9);
  out.append(resp.status_line_rest);
  out.append("\r\n", 2);
  bool has_server = false, has_date = false;
  for (size_t i = 0; i < resp.header_count; ++i) {
    HeaderId id = resp.ids[i];
    if (id == HeaderId::ContentLength) {
      // Responses without a body (HEAD, 304) keep the length the upstream announced.
      if (framing != BodyFraming::None || resp.status_code == 204) continue;
    } else if (is_hop_by_hop(resp, i)) {
      continue;
    }
    has_server |= id == HeaderId::Server;
    has_date |= id == HeaderId::Date;
    append_header(out, resp.headers[i].name, resp.headers[i].value);
  }
  if (!has_server) out.append("Server: strait\r\n");
  if (!has_date) append_header(out, "Date", date);
  if (!hsts.empty()) append_header(out, "Strict-Transport-Security", hsts);
  append_framing(out, framing, content_length);
  if (close) {
    out.append("Connection: close\r\n");
  } else if (http10_keep_alive) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n", 2);
}

void write_upgrade_response_head(const ParsedResponse& resp, std::string& out) {
  out.clear();
  out.append("HTTP/1.1 ", 9);
  out.append(resp.status_line_rest);
  out.append("\r\n", 2);
  for (size_t i = 0; i < resp.header_count; ++i) {
    if (resp.ids[i] == HeaderId::Upgrade || !is_hop_by_hop(resp, i))
      append_header(out, resp.headers[i].name, resp.headers[i].value);
  }
  out.append("Connection: upgrade\r\n\r\n");
}

void write_redirect_response(int status, std::string_view location, bool close, bool head_only,
                             std::string_view date, std::string& out) {
  write_local_response(status, close, head_only, date, out);
  // Location goes right after the status line.
  size_t line_end = out.find("\r\n") + 2;
  std::string header = "Location: " + std::string(location) + "\r\n";
  out.insert(line_end, header);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string https_redirect_location(std::string_view authority, uint16_t port,
                                    std::string_view target) {
  std::string_view host = authority;
  if (size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos)
    host = host.substr(0, colon);
  std::string location = "https://";
  location.append(host);
  if (port != 0 && port != 443) {
    location.push_back(':');
    append_number(location, port);
  }
  location.append(target);
  return location;
}

void write_local_response_body(int status, std::string& out) {
  std::string_view reason = reason_phrase(status);
  char code[3] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                  static_cast<char>('0' + status % 10)};
  // The small page nginx serves for its own errors, so clients and probes see a familiar body.
  for (std::string_view part :
       {std::string_view("<html>\r\n<head><title>"), std::string_view{},
        std::string_view("</title></head>\r\n<body>\r\n<center><h1>"), std::string_view{},
        std::string_view("</h1></center>\r\n<hr><center>strait</center>"
                         "\r\n</body>\r\n</html>\r\n")}) {
    if (part.empty()) {
      out.append(code, 3);
      out.push_back(' ');
      out.append(reason);
    } else {
      out.append(part);
    }
  }
}

void write_local_response(int status, bool close, bool head_only, std::string_view date,
                          std::string& out) {
  std::string_view reason = reason_phrase(status);
  char code[3] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                  static_cast<char>('0' + status % 10)};
  out.clear();
  out.append("HTTP/1.1 ", 9);
  out.append(code, 3);
  out.push_back(' ');
  out.append(reason);
  out.append("\r\nServer: strait\r\nDate: ");
  out.append(date);
  out.append("\r\nContent-Type: text/html\r\nContent-Length: ");
  // The page is built after the head; its size is known once written.
  size_t length_at = out.size();
  out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  size_t body_at = out.size();
  write_local_response_body(status, out);
  std::string length;
  append_number(length, out.size() - body_at);
  out.insert(length_at, length);
  if (head_only) out.resize(body_at + length.size());
}

}  // namespace strait::proxy

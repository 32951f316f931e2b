#include "proxy/access_log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <mutex>

#include "proxy/worker_metrics.hpp"
#include "strait/clock.hpp"

namespace strait::proxy {

void append_json_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out.append(buf);
    } else {
      out.push_back(c);
    }
  }
}

void append_access_log_prefix(std::string& out, std::string_view client_ip, std::string_view method,
                              std::string_view host, std::string_view path,
                              std::string_view protocol, bool tls) {
  out.assign("{\"time\":\"");
  append_utc_timestamp(out, 3);
  out.append("\",\"remote_addr\":\"");
  out.append(client_ip);
  out.append("\",\"method\":\"");
  append_json_escaped(out, method);
  out.append("\",\"host\":\"");
  append_json_escaped(out, host);
  out.append("\",\"path\":\"");
  append_json_escaped(out, path);
  out.append("\",\"protocol\":\"");
  out.append(protocol);
  out.append(tls ? "\",\"scheme\":\"https\"" : "\",\"scheme\":\"http\"");
}

void record_exchange(WorkerMetrics& metrics, AccessLog& log, std::string_view prefix,
                     const ExchangeRecord& r) {
  RouteMetrics& m = metrics.route(r.route_ingress, r.service);
  if (r.status >= 100 && r.status < 600) m.requests[static_cast<size_t>(r.status / 100 - 1)].add();
  m.request_seconds.observe(r.request_seconds);
  if (r.upstream_responded) m.upstream_seconds.observe(r.upstream_seconds);
  m.bytes_in.add(r.bytes_in);
  m.bytes_out.add(r.bytes_sent);
  if (!log.enabled()) return;

  std::string& out = log.buffer();
  out.append(prefix);
  char tail[160];
  int n = std::snprintf(tail, sizeof tail,
                        ",\"status\":%d,\"bytes_sent\":%llu,\"request_length\":%llu,"
                        "\"request_time\":%.6f,\"upstream_status\":%d,"
                        "\"upstream_response_time\":%.6f",
                        r.status, static_cast<unsigned long long>(r.bytes_sent),
                        static_cast<unsigned long long>(r.bytes_in), r.request_seconds,
                        r.upstream_responded ? r.upstream_status : 0,
                        r.upstream_responded ? r.upstream_seconds : 0.0);
  if (n > 0) out.append(tail, std::min(static_cast<size_t>(n), sizeof tail - 1));
  out.append(",\"upstream_addr\":\"");
  append_json_escaped(out, r.upstream_addr);
  std::string_view ingress = r.route_ingress;
  size_t slash = ingress.find('/');
  out.append("\",\"namespace\":\"");
  if (slash != std::string_view::npos) append_json_escaped(out, ingress.substr(0, slash));
  out.append("\",\"ingress\":\"");
  append_json_escaped(out, slash == std::string_view::npos ? ingress : ingress.substr(slash + 1));
  out.append("\",\"service\":\"");
  append_json_escaped(out, r.service);
  out.append("\",\"request_id\":\"");
  out.append(r.request_id);
  out.append("\"}\n");
  log.commit();
}

void AccessLog::flush() {
  if (buffer_.empty()) return;
  // Workers flush whole lines; the lock keeps two workers' batches from interleaving on a pipe.
  static std::mutex stdout_mutex;
  std::lock_guard lock(stdout_mutex);
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stdout gone: drop the log rather than stall the data path
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace strait::proxy

#include "controller/names.hpp"

#include <arpa/inet.h>

namespace strait::controller {
namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 1123 label body without the length check.
bool label_chars_ok(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') return false;
  }
  return true;
}

bool inet(int family, std::string_view text) {
  if (text.size() >= 64) return false;
  char buf[64];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  unsigned char out[16];
  return inet_pton(family, buf, out) == 1;
}

}  // namespace

bool is_ipv4(std::string_view text) {
  return inet(AF_INET, text);
}
bool is_ipv6(std::string_view text) {
  return inet(AF_INET6, text);
}

std::string check_dns1123_label(std::string_view value) {
  if (value.size() > 63) return "must be no more than 63 characters";
  if (!label_chars_ok(value)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character";
  }
  return "";
}

std::string check_dns1123_subdomain(std::string_view value) {
  if (value.size() > 253) return "must be no more than 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = value.find('.', start);
    std::string_view label = value.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.size() > 63 || !label_chars_ok(label)) {
      return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
             "'-' or '.', and must start and end with an alphanumeric character";
    }
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

std::string check_dns1035_label(std::string_view value) {
  std::string reason = check_dns1123_label(value);
  if (!reason.empty()) return reason;
  if (!(value.front() >= 'a' && value.front() <= 'z')) {
    return "a DNS-1035 label must start with an alphabetic character";
  }
  return "";
}

std::string check_iana_svc_name(std::string_view value) {
  if (value.empty() || value.size() > 15) return "must be 1-15 characters";
  bool letter = false;
  for (char c : value) {
    if (c >= 'a' && c <= 'z') letter = true;
    if (!lower_alnum(c) && c != '-') return "must contain only lower-case letters, digits and '-'";
  }
  if (!letter) return "must contain at least one letter";
  if (value.front() == '-' || value.back() == '-') return "must not begin or end with '-'";
  if (value.find("--") != std::string_view::npos) return "must not contain consecutive '-'";
  return "";
}

std::string check_ingress_host(std::string_view host) {
  if (is_ipv4(host) || is_ipv6(host)) return "must be a DNS name, not an IP address";
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) return "must not contain a port";
  if (host == "*") return "a bare '*' is not allowed; use '*.<domain>'";
  if (host.starts_with("*.")) {
    std::string_view rest = host.substr(2);
    if (rest.find('*') != std::string_view::npos) {
      return "'*' is only allowed as the whole first label";
    }
    std::string reason = check_dns1123_subdomain(rest);
    return reason.empty() ? "" : "wildcard host: " + reason;
  }
  if (host.find('*') != std::string_view::npos) {
    return "'*' is only allowed as the whole first label";
  }
  return check_dns1123_subdomain(host);
}

}  // namespace strait::controller

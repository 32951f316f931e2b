// Name and host syntax checks as the API server applies them (apimachinery validation).
// Each returns "" when valid, else the reason.
#pragma once

#include <string>
#include <string_view>

namespace strait::controller {

std::string check_dns1123_label(std::string_view value);      // namespaces, most labels
std::string check_dns1123_subdomain(std::string_view value);  // most object names
std::string check_dns1035_label(std::string_view value);      // Service names
std::string check_iana_svc_name(std::string_view value);      // named ports
// An Ingress rule or TLS host: a DNS subdomain, optionally "*." + subdomain; no IP, no port.
std::string check_ingress_host(std::string_view host);

bool is_ipv4(std::string_view text);
bool is_ipv6(std::string_view text);

}  // namespace strait::controller

#include "proxy/path_normalizer.hpp"

#include <vector>

namespace strait::proxy {
namespace {

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char upper(char c) {
  return (c >= 'a' && c <= 'f') ? static_cast<char>(c - 32) : c;
}

// True when a segment is "." or ".." once %2F/%5C inside it are taken as separators.
bool hides_dot_segment(std::string_view segment) {
  std::string decoded;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%' && i + 2 < segment.size()) {
      std::string_view esc = segment.substr(i + 1, 2);
      if (esc == "2F" || esc == "5C") {
        decoded.push_back('/');
        i += 2;
        continue;
      }
    }
    decoded.push_back(segment[i]);
  }
  size_t start = 0;
  while (start <= decoded.size()) {
    size_t end = decoded.find('/', start);
    std::string_view part(decoded.data() + start,
                          (end == std::string::npos ? decoded.size() : end) - start);
    if (part == "." || part == "..") return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

}  // namespace

PathCheck normalize_path(std::string_view path, std::string& out) {
  // The common case costs one scan: nothing to decode, no "//", no dot segment.
  bool needs_work = false;
  for (size_t i = 0; i < path.size() && !needs_work; ++i) {
    char c = path[i];
    if (c == '%') needs_work = true;
    if (c == '/' && i + 1 < path.size() && (path[i + 1] == '/' || path[i + 1] == '.'))
      needs_work = true;
  }
  if (!needs_work) return PathCheck::Unchanged;

  // 1. Decode unreserved escapes, upper-case the others.
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      // The parser already refuses malformed escapes; refuse them here too, so the function
      // stands alone (and stays idempotent) whatever it is given.
      if (i + 2 >= path.size()) return PathCheck::Rejected;
      int hi = hex(path[i + 1]), lo = hex(path[i + 2]);
      if (hi < 0 || lo < 0) return PathCheck::Rejected;
      char c = static_cast<char>(hi * 16 + lo);
      if (is_unreserved(c)) {
        decoded.push_back(c);
      } else {
        decoded.push_back('%');
        decoded.push_back(upper(path[i + 1]));
        decoded.push_back(upper(path[i + 2]));
      }
      i += 2;
      continue;
    }
    decoded.push_back(path[i]);
  }

  // 2. Segments: merge slashes, resolve "." and "..", refuse hidden dot segments.
  std::vector<std::string_view> segments;
  bool trailing_slash = !decoded.empty() && decoded.back() == '/';
  size_t start = 0;
  while (start < decoded.size()) {
    size_t end = decoded.find('/', start);
    if (end == std::string::npos) end = decoded.size();
    std::string_view segment(decoded.data() + start, end - start);
    start = end + 1;
    if (segment.empty()) continue;
    if (segment == ".") {
      trailing_slash = true;
      continue;
    }
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      trailing_slash = true;
      continue;
    }
    if (segment.find('%') != std::string_view::npos && hides_dot_segment(segment))
      return PathCheck::Rejected;
    trailing_slash = end == decoded.size() ? decoded.back() == '/' : trailing_slash;
    segments.push_back(segment);
  }
  std::string result;
  result.reserve(decoded.size());
  for (std::string_view segment : segments) {
    result.push_back('/');
    result.append(segment);
  }
  if (result.empty() || trailing_slash) result.push_back('/');
  if (result == path) return PathCheck::Unchanged;
  out = std::move(result);
  return PathCheck::Normalized;
}

}  // namespace strait::proxy

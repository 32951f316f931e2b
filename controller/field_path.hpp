// Field paths ("spec.rules[0].http.paths[1].pathType") shared by the decoder, the validator and
// the YAML line map, so an error's path can be looked up to the line it came from.
#pragma once

#include <string>
#include <string_view>

namespace strait::controller {

// A problem with one field of an object: what decode and validation report.
struct FieldIssue {
  std::string field;  // path from the document root; "" for the whole document
  std::string reason;
  bool operator==(const FieldIssue&) const = default;
};

inline std::string field_child(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

inline std::string field_index(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

// True when `field` is `prefix` itself or lies below it.
inline bool field_under(std::string_view field, std::string_view prefix) {
  if (field.substr(0, prefix.size()) != prefix) return false;
  if (field.size() == prefix.size()) return true;
  char next = field[prefix.size()];
  return next == '.' || next == '[';
}

}  // namespace strait::controller

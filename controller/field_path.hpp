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

// A field path not yet written out: validation walks every field of every object, and nearly all
// are fine, so the path string is built only when an issue names it. Each FieldRef lives on the
// stack of the function visiting that field; str() gives what field_child()/field_index() would.
struct FieldRef {
  const FieldRef* parent = nullptr;
  std::string_view key;  // appended as a child ("parent.key"), unless this is an index
  size_t index = 0;
  bool is_index = false;

  FieldRef child(std::string_view k) const { return {this, k, 0, false}; }
  FieldRef at(size_t i) const { return {this, {}, i, true}; }
  void append_to(std::string& out) const {
    if (parent != nullptr) parent->append_to(out);
    if (is_index) {
      out += '[';
      out += std::to_string(index);
      out += ']';
      return;
    }
    if (!out.empty()) out += '.';
    out += key;
  }
  std::string str() const {
    std::string out;
    append_to(out);
    return out;
  }
};

// True when `field` is `prefix` itself or lies below it.
inline bool field_under(std::string_view field, std::string_view prefix) {
  if (field.substr(0, prefix.size()) != prefix) return false;
  if (field.size() == prefix.size()) return true;
  char next = field[prefix.size()];
  return next == '.' || next == '[';
}

}  // namespace strait::controller

// YAML documents to JSON, remembering which source line every field came from, so decode and
// validation errors (which name field paths) can point at a line of the manifest.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace strait::controller {

struct YamlDocument {
  nlohmann::json json;
  int line = 1;  // 1-based line where the document starts
  // field path (field_path.hpp syntax) -> 1-based line of its key (or sequence item)
  std::unordered_map<std::string, int> lines;

  // Line of `field`, else of its nearest recorded ancestor, else the document's first line.
  int line_of(std::string_view field) const;
};

struct YamlSyntaxError : std::runtime_error {
  YamlSyntaxError(int line, const std::string& reason) : std::runtime_error(reason), line(line) {}
  int line;  // 1-based
};

// Parses every document of a (multi-document) YAML or JSON text. Empty documents are dropped.
// Plain scalars resolve like YAML 1.2 core (null/~, true/false, decimal integers, floats);
// quoted scalars are always strings. Throws YamlSyntaxError.
std::vector<YamlDocument> parse_yaml_documents(const std::string& text);

}  // namespace strait::controller

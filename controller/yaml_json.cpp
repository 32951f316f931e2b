#include "controller/yaml_json.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <regex>

#include "controller/field_path.hpp"

namespace strait::controller {
namespace {

using nlohmann::json;

// Deeper nesting than any Kubernetes object has; guards the recursion against hostile input.
constexpr int kMaxDepth = 64;

bool one_of(const std::string& s, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (s == o) return true;
  }
  return false;
}

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
json resolve_plain(const std::string& s) {
  if (one_of(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (one_of(s, {"true", "True", "TRUE"})) return true;
  if (one_of(s, {"false", "False", "FALSE"})) return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kInt)) {
    const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(begin, s.data() + s.size(), value);
    if (ec == std::errc() && end == s.data() + s.size()) return value;
    return std::strtod(s.c_str(), nullptr);  // too large for int64: a number all the same
  }
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  if (one_of(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) return HUGE_VAL;
  if (one_of(s, {"-.inf", "-.Inf", "-.INF"})) return -HUGE_VAL;
  if (one_of(s, {".nan", ".NaN", ".NAN"})) return NAN;
  return s;
}

class Converter {
 public:
  explicit Converter(YamlDocument& doc) : doc_(doc) {}

  json convert(const YAML::Node& node, const std::string& path, int depth) {
    if (depth > kMaxDepth) throw YamlSyntaxError(line(node), "document nested too deeply");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        // yaml-cpp tags plain scalars "?" and quoted/block ones "!": only plain ones resolve.
        if (node.Tag() == "?") return resolve_plain(node.Scalar());
        return node.Scalar();
      case YAML::NodeType::Sequence: {
        json out = json::array();
        size_t i = 0;
        for (const YAML::Node& item : node) {
          std::string item_path = field_index(path, i++);
          doc_.lines.emplace(item_path, line(item));
          out.push_back(convert(item, item_path, depth + 1));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& entry : node) {
          if (!entry.first.IsScalar()) {
            throw YamlSyntaxError(line(entry.first), "mapping keys must be scalars");
          }
          const std::string& key = entry.first.Scalar();
          std::string key_path = field_child(path, key);
          doc_.lines.emplace(key_path, line(entry.first));
          out[key] = convert(entry.second, key_path, depth + 1);
        }
        return out;
      }
    }
    return nullptr;
  }

  static int line(const YAML::Node& node) { return node.Mark().line + 1; }

 private:
  YamlDocument& doc_;
};

}  // namespace

int YamlDocument::line_of(std::string_view field) const {
  std::string key(field);
  while (!key.empty()) {
    if (auto it = lines.find(key); it != lines.end()) return it->second;
    size_t cut = key.find_last_of(".[");
    key.resize(cut == std::string::npos ? 0 : cut);
  }
  return line;
}

std::vector<YamlDocument> parse_yaml_documents(const std::string& text) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw YamlSyntaxError(e.mark.line + 1, e.msg);
  }
  std::vector<YamlDocument> docs;
  for (const YAML::Node& node : nodes) {
    if (node.IsNull()) continue;
    YamlDocument doc;
    doc.line = Converter::line(node);
    try {
      doc.json = Converter(doc).convert(node, "", 0);
    } catch (const YAML::Exception& e) {
      throw YamlSyntaxError(e.mark.line + 1, e.msg);
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace strait::controller

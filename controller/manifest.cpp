#include "controller/manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/decode.hpp"
#include "controller/validate.hpp"
#include "controller/yaml_json.hpp"

namespace strait::controller {

std::string ManifestError::to_string() const {
  return file + ":" + std::to_string(line) + ": " + reason;
}

ManifestFile parse_manifest(const std::string& text, const std::string& name) {
  ManifestFile out;
  out.path = name;
  std::vector<YamlDocument> docs;
  try {
    docs = parse_yaml_documents(text);
  } catch (const YamlSyntaxError& e) {
    out.errors.push_back({name, e.line, std::string("YAML syntax error: ") + e.what()});
    return out;
  }
  auto where = [](const std::string& field) { return field.empty() ? "" : field + ": "; };
  for (const YamlDocument& doc : docs) {
    DecodeResult decoded = decode_document(doc.json);
    for (const FieldIssue& e : decoded.errors) {
      out.errors.push_back({name, doc.line_of(e.field), where(e.field) + e.reason});
    }
    for (std::string& notice : decoded.skipped) {
      out.notices.push_back(name + ":" + std::to_string(doc.line) + ": " + notice);
    }
    for (DecodedObject& d : decoded.objects) {
      for (const FieldIssue& issue : validate(d.object)) {
        std::string field = d.field.empty() ? issue.field : d.field + "." + issue.field;
        out.errors.push_back(
            {name, doc.line_of(field), describe(d.object) + ": " + where(field) + issue.reason});
      }
      out.objects.push_back(std::move(d.object));
    }
  }
  out.ok = out.errors.empty();
  if (!out.ok) out.objects.clear();
  return out;
}

ManifestFile load_manifest_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    ManifestFile out;
    out.path = path;
    out.errors.push_back({path, 0, "cannot read file"});
    return out;
  }
  return parse_manifest(text.str(), path);
}

std::vector<std::string> expand_manifest_paths(const std::vector<std::string>& paths,
                                               std::vector<std::string>& errors) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  auto wanted = [](const fs::path& p) {
    std::string ext = p.extension().string();
    return ext == ".yaml" || ext == ".yml" || ext == ".json";
  };
  for (const std::string& arg : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(arg, ec);
    if (ec || !fs::exists(st)) {
      errors.push_back(arg + ": no such file or directory");
      continue;
    }
    if (!fs::is_directory(st)) {
      out.push_back(arg);
      continue;
    }
    fs::recursive_directory_iterator it(arg, ec), end;
    if (ec) {
      errors.push_back(arg + ": " + ec.message());
      continue;
    }
    for (; it != end; it.increment(ec)) {
      if (ec) {
        errors.push_back(arg + ": " + ec.message());
        break;
      }
      const fs::path& p = it->path();
      if (p.filename().string().starts_with('.')) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && wanted(p)) out.push_back(p.string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace strait::controller

// Loading Kubernetes manifests from disk (the file source).
//
// A file is all-or-nothing: either every object in it decodes and validates, or the file reports
// errors (file, line, reason) and the caller keeps the objects it had from that file before —
// the same as a `kubectl apply` of that file being refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "controller/objects.hpp"

namespace strait::controller {

struct ManifestError {
  std::string file;
  int line = 0;  // 1-based; 0 when not about a line (unreadable file)
  std::string reason;
  std::string to_string() const;  // "file:line: reason"
};

struct ManifestFile {
  std::string path;
  bool ok = false;
  std::vector<Object> objects;        // complete when ok, empty otherwise
  std::vector<ManifestError> errors;  // non-empty when !ok
  std::vector<std::string> notices;   // skipped kinds etc.; never make the file fail
};

// Parses manifest text (YAML, multi-document, or JSON; single objects or kubectl Lists).
// `name` is used in errors.
ManifestFile parse_manifest(const std::string& text, const std::string& name);

// Reads and parses one file.
ManifestFile load_manifest_file(const std::string& path);

// Expands --manifests arguments: a file is taken as is; a directory is walked recursively for
// *.yaml, *.yml and *.json, skipping entries whose name starts with '.' (such as the "..data"
// directories of a mounted ConfigMap). Symlinks to files are followed; symlinks to directories
// are not (no loops). The result is sorted and without duplicates; a missing path or an
// unreadable directory is reported in `errors`.
std::vector<std::string> expand_manifest_paths(const std::vector<std::string>& paths,
                                               std::vector<std::string>& errors);

}  // namespace strait::controller

// Decoding Kubernetes objects from JSON: one decoder for the API watcher (JSON from the API
// server) and the file source (YAML converted to JSON).
//
// The decoder is structural only, like the API server's JSON unmarshalling: a known field of the
// wrong JSON type is an error naming the field path; unknown fields are ignored; null means
// absent. Semantic checks live in validate.hpp.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/field_path.hpp"
#include "controller/objects.hpp"

namespace strait::controller {

struct DecodedObject {
  Object object;
  std::string field;  // where it sits in the document: "" or "items[3]"
};

struct DecodeResult {
  std::vector<DecodedObject> objects;
  std::vector<FieldIssue> errors;    // structural errors; the objects they hit are left out
  std::vector<std::string> skipped;  // notices: kinds/versions strait does not read
};

// Decodes one document: a single object, or a List (kind "List" or "<Kind>List" with items[]).
// Items of a typed list may omit kind/apiVersion (the API server's LIST responses do).
DecodeResult decode_document(const nlohmann::json& document);

// Decodes one object whose kind is already known (a watch event of a known resource). Either the
// object or the first structural error.
std::variant<Object, FieldIssue> decode_object(Kind kind, const nlohmann::json& json);

}  // namespace strait::controller

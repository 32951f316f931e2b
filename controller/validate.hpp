// What the API server's admission would reject, for the kinds strait reads.
//
// Manifests on disk are checked here before they replace a file's objects (as `kubectl apply`
// would be refused); the translator also uses it to skip the invalid parts of an Ingress.
// Paths are relative to the object's root ("spec.rules[0].host").
#pragma once

#include <vector>

#include "controller/field_path.hpp"
#include "controller/objects.hpp"

namespace strait::controller {

std::vector<FieldIssue> validate(const Object& object);

std::vector<FieldIssue> validate_ingress(const Ingress& ingress);
std::vector<FieldIssue> validate_ingress_class(const IngressClass& ingress_class);
std::vector<FieldIssue> validate_service(const Service& service);
std::vector<FieldIssue> validate_endpoint_slice(const EndpointSlice& slice);
std::vector<FieldIssue> validate_secret(const Secret& secret);

}  // namespace strait::controller

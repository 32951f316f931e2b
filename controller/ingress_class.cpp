// Class selection: which Ingresses this controller serves. Mirrors ingress-nginx: an Ingress
// that names a class by spec.ingressClassName (or the legacy annotation) is served only when
// that class is ours; a class-less Ingress only when our IngressClass is the cluster default
// or --watch-ingress-without-class is set. Everything else is ignored silently: it belongs to
// another controller.
#include "controller/translator.hpp"

namespace strait::controller {

bool is_ours(const Ingress& ingress, const Store& store, const TranslateOptions& options) {
  const std::optional<std::string>& class_name = ingress.spec.ingress_class_name;
  if (class_name && !class_name->empty()) {
    // By name even when the IngressClass object is absent (ingress-nginx does the same, so a
    // missing IngressClass does not take traffic down).
    if (*class_name == options.ingress_class) return true;
    auto it = store.ingress_classes.find(*class_name);
    return it != store.ingress_classes.end() && it->second.controller == options.controller_class;
  }
  const auto& annotations = ingress.metadata.annotations;
  if (auto it = annotations.find(std::string(kLegacyClassAnnotation)); it != annotations.end()) {
    return it->second == options.ingress_class;
  }
  if (options.watch_ingress_without_class) return true;
  for (const auto& [name, cls] : store.ingress_classes) {
    if (cls.controller == options.controller_class && cls.is_default()) return true;
  }
  return false;
}

}  // namespace strait::controller

// libFuzzer target: manifest text (YAML or JSON, any shape) through parsing, decoding,
// validation and translation. Errors are fine; crashes and hangs are not.
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/manifest.hpp"
#include "controller/store.hpp"
#include "controller/translator.hpp"

using namespace strait;
using namespace strait::controller;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  ManifestFile file = parse_manifest(text, "fuzz.yaml");
  Store store;
  for (auto& o : file.objects) store.upsert(std::move(o));
  TranslateOptions options;
  options.watch_ingress_without_class = true;
  Translation t = translate(store, options);
  route_request(*t.snapshot, "a.example.com", "/a/b");
  route_request(*t.snapshot, "", "/");
  return 0;
}

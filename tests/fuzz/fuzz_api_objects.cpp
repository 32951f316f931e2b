// libFuzzer target: the API-mode path for objects as the API server would send them (JSON, no
// YAML): decoding (single objects and Lists), validation, the store, translation, and route
// lookups on the result. Errors are fine; crashes, leaks and hangs are not.
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/decode.hpp"
#include "controller/store.hpp"
#include "controller/translator.hpp"
#include "controller/validate.hpp"

using namespace strait;
using namespace strait::controller;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json document =
      nlohmann::json::parse(data, data + size, /*callback=*/nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return 0;
  DecodeResult decoded = decode_document(document);
  Store store;
  for (auto& d : decoded.objects) {
    // As admission would: objects that do not validate never reach the store.
    if (validate(d.object).empty()) store.upsert(std::move(d.object));
  }
  TranslateOptions options;
  options.watch_ingress_without_class = true;
  Translation t = translate(store, options);
  route_request(*t.snapshot, "a.example.com", "/a/b");
  route_request(*t.snapshot, "x.wild.example.com", "/");
  route_request(*t.snapshot, "", "/");
  return 0;
}

// API mode: reflectors for every kind feed one Store; a coalesced, level-triggered sync
// translates the store (incrementally: the events say what changed) and publishes only when
// routing changed. Runs on the control-plane
// io_context (the main thread); the data path never waits on it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "controller/kube/api_client.hpp"
#include "controller/kube/reflector.hpp"
#include "controller/store.hpp"
#include "controller/translator.hpp"
#include "strait/snapshot.hpp"

namespace strait::controller::kube {

struct ApiSourceOptions {
  TranslateOptions translate;
  std::string watch_namespace;  // empty: all
};

class ApiSource final : public ReflectorSink {
 public:
  using Publish = std::function<void(std::shared_ptr<const Snapshot>)>;
  using StoreListener = std::function<void(const Store&, const std::vector<Warning>&)>;
  ApiSource(boost::asio::io_context& io, ApiClient& client, ApiSourceOptions options,
            Publish publish);
  void start();
  void stop();
  // Called after each sync with the store and the translation warnings (status writer, events).
  void on_synced(StoreListener listener) { listener_ = std::move(listener); }
  bool synced() const { return listed_.size() == kinds_.size(); }
  const Store& store() const { return store_; }

  // ReflectorSink
  void replace(Kind kind, std::vector<Object> objects) override;
  void upsert(Object object) override;
  void erase(Kind kind, const std::string& key) override;
  void api_health(Kind kind, bool healthy, const std::string& reason) override;

 private:
  void mark_dirty();
  void sync();
  // Remembers the Service an EndpointSlice belongs to, for the endpoints-only fast path.
  void note_slice(const EndpointSlice& slice);
  // Tells the incremental translator what an event changed (EndpointSlices: note_slice()).
  void note_change(Kind kind, const std::string& key);
  // TLS Secrets hold private keys: only those an Ingress references stay in memory. The others
  // are remembered by key and fetched when an Ingress starts referencing them.
  std::set<std::string> referenced_secrets() const;
  bool keep_secret(const Object& object);
  void fetch_newly_referenced_secrets();

  boost::asio::io_context& io_;
  ApiClient& client_;
  ApiSourceOptions options_;
  Publish publish_;
  StoreListener listener_;
  std::vector<Kind> kinds_;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  Store store_;
  std::set<Kind> listed_;
  std::set<Kind> unhealthy_;
  bool outage_logged_ = false;
  bool sync_scheduled_ = false;
  bool stopped_ = false;
  // Since the last sync: did anything but EndpointSlices change, and which Services' slices did.
  bool full_sync_needed_ = true;
  std::set<std::string> changed_services_;
  // Everything that changed since the last translation (endpoints-only syncs included: their
  // Services' cached clusters must not be reused by the next translation).
  StoreChanges changes_;
  IncrementalTranslator translator_;
  std::set<std::string> unreferenced_secrets_;
  std::shared_ptr<const Snapshot> last_;
  std::set<std::string> last_warnings_;
  uint64_t version_ = 0;
};

}  // namespace strait::controller::kube

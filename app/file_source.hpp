// File mode: manifests on disk -> ManifestSet -> translate -> publish. Watches the paths with
// inotify and re-applies on every change (debounced), keeping the last good objects of any file
// that fails to parse. Runs on its own thread; the data path never waits on it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/manifest.hpp"
#include "controller/store.hpp"
#include "controller/translator.hpp"
#include "strait/snapshot.hpp"

namespace strait::app {

class FileSource {
 public:
  using Publish = std::function<void(std::shared_ptr<const Snapshot>)>;
  FileSource(std::vector<std::string> paths, controller::TranslateOptions options, Publish publish);
  ~FileSource();

  // Loads every file, translates and publishes the first snapshot (even when some files fail:
  // the rest of the configuration still serves).
  void load_initial();
  void start_watching();
  void stop();

 private:
  struct FileStamp {
    uint64_t mtime_ns = 0, size = 0, inode = 0, device = 0;
    bool operator==(const FileStamp&) const = default;
  };
  // Re-reads changed files, forgets deleted ones, then translates and publishes if the routing
  // changed. Returns true when something was published.
  bool rescan();
  // The same for just these paths (from inotify events): a known file changed, was replaced or
  // deleted. Falls back to rescan() for anything else (a new file, a directory event).
  bool rescan_paths(const std::set<std::string>& paths);
  // Re-reads `file` if its stamp changed; true when its objects were replaced.
  bool reload_if_changed(const std::string& file);
  bool translate_and_publish(bool changed);
  // Publishes `snapshot` unless it routes exactly like the last one; records the sync time.
  bool publish_if_changed(std::shared_ptr<Snapshot> snapshot,
                          std::chrono::steady_clock::time_point sync_started, size_t ingresses);
  void watch_directories();
  void run();

  // What the inotify events since the last rescan said.
  struct Pending {
    std::set<std::string> paths;  // files named by events
    std::set<std::string> open;   // created or modified and not yet closed, renamed or deleted
    bool full = false;            // something only a full rescan can interpret
  };
  void note_events(const char* buf, size_t len, Pending& pending);

  std::vector<std::string> paths_;
  controller::TranslateOptions options_;
  Publish publish_;
  controller::ManifestSet manifests_;
  controller::IncrementalTranslator translator_;
  std::map<std::string, FileStamp> stamps_;
  std::shared_ptr<const Snapshot> last_;
  std::set<std::string> last_warnings_;
  uint64_t version_ = 0;
  int inotify_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::set<std::string> watched_dirs_;
  // Watch descriptor -> directory, and whether it is inside a configured directory (a file's
  // parent directory is watched for that file only).
  std::map<int, std::pair<std::string, bool>> watches_;
  std::thread thread_;
};

}  // namespace strait::app

#include "app/file_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "controller/endpoint_update.hpp"
#include "controller/warning_log.hpp"
#include "strait/log.hpp"
#include "strait/metrics.hpp"

namespace strait::app {
namespace fs = std::filesystem;

namespace {
constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
                                IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
// Editors and kubectl-style tools write a file in several steps; wait for this much quiet
// before reading so a half-written file is rarely seen (and harmless if it is: it fails to
// parse and the file's previous objects stay).
constexpr int kDebounceMs = 50;
// When every file written since the first event has been closed, renamed into place or deleted
// (a rename over the file, a write that finished), only this much quiet is awaited: enough to
// take a burst of such events together, without making every complete change wait 50 ms.
constexpr int kSettleMs = 5;

// Names expand_manifest_paths() never picks: hidden files (editors' and our tools' temporary
// files) and other extensions.
bool ignored_name(std::string_view name) {
  if (name.empty() || name.front() == '.') return true;
  return !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"));
}
}  // namespace

FileSource::FileSource(std::vector<std::string> paths, controller::TranslateOptions options,
                       Publish publish)
    : paths_(std::move(paths)),
      options_(std::move(options)),
      publish_(std::move(publish)),
      translator_(options_) {}

FileSource::~FileSource() {
  stop();
}

void FileSource::load_initial() {
  rescan();
}

bool FileSource::reload_if_changed(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return false;
  FileStamp stamp{static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull +
                      static_cast<uint64_t>(st.st_mtim.tv_nsec),
                  static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino),
                  static_cast<uint64_t>(st.st_dev)};
  auto it = stamps_.find(file);
  if (it != stamps_.end() && it->second == stamp) return false;
  stamps_[file] = stamp;
  controller::ManifestFile result = manifests_.load(file);
  for (const auto& n : result.notices) log_info(n);
  if (!result.ok) {
    for (const auto& e : result.errors) log_error(e.to_string());
    log_warning("manifest " + file + " rejected; its previously loaded objects stay in force");
    return false;
  }
  return true;
}

bool FileSource::rescan() {
  std::vector<std::string> errors;
  std::vector<std::string> files = controller::expand_manifest_paths(paths_, errors);
  for (const auto& e : errors) log_warning(e);

  std::set<std::string> present(files.begin(), files.end());
  bool changed = false;
  for (const auto& known : manifests_.files()) {
    if (present.count(known) == 0) {
      manifests_.remove_file(known);
      stamps_.erase(known);
      log_info("manifest " + known + " removed");
      changed = true;
    }
  }
  for (const auto& file : files) changed |= reload_if_changed(file);
  return translate_and_publish(changed);
}

bool FileSource::rescan_paths(const std::set<std::string>& paths) {
  bool changed = false;
  for (const std::string& file : paths) {
    if (stamps_.count(file) == 0) return rescan();  // a new file: only the walk knows its place
    struct stat st {};
    if (::lstat(file.c_str(), &st) != 0) {
      manifests_.remove_file(file);
      stamps_.erase(file);
      log_info("manifest " + file + " removed");
      changed = true;
      continue;
    }
    if (!S_ISREG(st.st_mode)) return rescan();  // a symlink or something else now: walk
    changed |= reload_if_changed(file);
  }
  return translate_and_publish(changed);
}

bool FileSource::translate_and_publish(bool changed) {
  if (!changed && last_) return false;

  auto sync_started = std::chrono::steady_clock::now();
  // The merged store is kept current file by file; the translator reuses what the unchanged
  // objects gave last time.
  const controller::Store& store = manifests_.store();
  for (const auto& w : manifests_.duplicate_warnings()) log_warning(w);
  controller::StoreChanges changes = manifests_.take_changes();
  // A file rewritten with the same objects changed nothing.
  if (last_ && changes.empty()) return false;
  if (last_ && changes.endpoints_only()) {
    // Only EndpointSlices moved (pods scaled, rolled or turned ready): rebuild those clusters and
    // keep the route table, as API mode does.
    if (auto next = controller::refresh_endpoints(*last_, store, changes.services)) {
      translator_.endpoints_refreshed(*next, changes.services);
      return publish_if_changed(std::move(next), sync_started, store.ingresses.size());
    }
  }
  controller::Translation translation = translator_.translate(store, changes);
  controller::log_new_warnings(translation.warnings, last_warnings_);
  return publish_if_changed(std::move(translation.snapshot), sync_started, store.ingresses.size());
}

bool FileSource::publish_if_changed(std::shared_ptr<Snapshot> snapshot,
                                    std::chrono::steady_clock::time_point sync_started,
                                    size_t ingresses) {
  bool same = last_ && equivalent(*last_, *snapshot);
  ConfigMetrics::instance().syncs.add();
  ConfigMetrics::instance().sync_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_started).count());
  if (same) return false;
  snapshot->version = ++version_;
  last_ = snapshot;
  log_info("configuration " + std::to_string(version_) + ": " + std::to_string(ingresses) +
           " ingresses, " + std::to_string(snapshot->clusters.size()) + " backends");
  publish_(last_);
  return true;
}

void FileSource::note_events(const char* buf, size_t len, Pending& pending) {
  for (size_t off = 0; off + sizeof(inotify_event) <= len;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
    off += sizeof(inotify_event) + ev->len;
    if (ev->mask & (IN_Q_OVERFLOW | IN_ISDIR | IN_DELETE_SELF | IN_MOVE_SELF)) {
      pending.full = true;  // lost events, or a directory came, went or moved
      continue;
    }
    auto w = watches_.find(ev->wd);
    if (w == watches_.end() || ev->len == 0) continue;  // IN_IGNORED of a removed watch
    std::string_view name(ev->name);
    if (!w->second.second) {
      pending.full = true;  // the parent of a configured file: the walk knows which file it is
      continue;
    }
    std::string path = (fs::path(w->second.first) / std::string(name)).string();
    if (ignored_name(name)) {
      // Temporary files are skipped, but not a symlink or the like appearing: a ConfigMap
      // volume swaps its "..data" symlink, which changes what every file resolves to.
      struct stat st {};
      if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && ::lstat(path.c_str(), &st) == 0 &&
          !S_ISREG(st.st_mode)) {
        pending.full = true;
      }
      continue;
    }
    if (ev->mask & (IN_CREATE | IN_MODIFY)) {
      pending.open.insert(path);
    } else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
      pending.open.erase(path);
    }
    pending.paths.insert(std::move(path));
  }
}

void FileSource::watch_directories() {
  auto watch = [this](const fs::path& dir, bool tree) {
    std::string d = dir.string();
    if (watched_dirs_.count(d)) return;
    int wd = ::inotify_add_watch(inotify_fd_, d.c_str(), kWatchMask);
    if (wd < 0) return;
    watched_dirs_.insert(d);
    // A directory both configured and the parent of a configured file is not a tree for the
    // events' purposes: every event there takes the full rescan.
    auto [it, fresh] = watches_.try_emplace(wd, d, tree);
    if (!fresh) it->second.second = it->second.second && tree;
  };
  for (const auto& p : paths_) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      watch(p, true);
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        // Hidden directories are skipped by the walk (expand_manifest_paths); events from
        // inside them would name paths it never lists.
        if (it->is_directory(ec))
          watch(it->path(), !it->path().filename().string().starts_with('.'));
      }
    } else {
      // A file: watch its directory, which also sees the file replaced by rename (editors,
      // ConfigMap volume updates).
      fs::path parent = fs::absolute(p, ec).parent_path();
      watch(parent, false);
    }
  }
}

void FileSource::start_watching() {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    log_error("inotify unavailable: manifest changes will not be applied live");
    return;
  }
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) return;
  watch_directories();
  thread_ = std::thread([this] { run(); });
}

void FileSource::run() {
  alignas(inotify_event) char buf[16384];
  while (true) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    // Drain, then keep draining until the directory has been quiet for kDebounceMs (kSettleMs
    // when every file written has been closed or renamed into place).
    Pending pending;
    do {
      ssize_t n;
      while ((n = ::read(inotify_fd_, buf, sizeof buf)) > 0) {
        note_events(buf, static_cast<size_t>(n), pending);
      }
      fds[0].revents = 0;
      if (::poll(fds, 2, pending.open.empty() ? kSettleMs : kDebounceMs) < 0) break;
      if (fds[1].revents) return;
    } while (fds[0].revents);
    try {
      if (pending.full) {
        watch_directories();  // new subdirectories
        rescan();
      } else {
        rescan_paths(pending.paths);
      }
    } catch (const std::exception& e) {
      log_error(std::string("applying manifest changes failed: ") + e.what());
    }
  }
}

void FileSource::stop() {
  if (stop_pipe_[1] >= 0) {
    char c = 1;
    ssize_t ignored = ::write(stop_pipe_[1], &c, 1);
    (void)ignored;
  }
  if (thread_.joinable()) thread_.join();
  for (int* fd : {&inotify_fd_, &stop_pipe_[0], &stop_pipe_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

}  // namespace strait::app

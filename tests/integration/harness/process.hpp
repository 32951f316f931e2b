// Child processes for the integration tests: spawned in their own process group, output captured
// to files (or pipes), always reaped, and killed with their whole group when their owner goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace it {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// "exited 0", "killed by signal 9 (Killed)", ...
std::string describe_wait_status(int status);

struct SpawnOptions {
  std::filesystem::path stdout_path;  // empty: /dev/null (unless stdout_pipe)
  std::filesystem::path stderr_path;  // empty: /dev/null
  bool stdin_pipe = false;            // else stdin is /dev/null
  bool stdout_pipe = false;
};

class Process {
 public:
  Process() = default;
  // Throws std::runtime_error when the program cannot be started.
  Process(const std::vector<std::string>& argv, const SpawnOptions& options);
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }
  // True while the child has not exited (reaps it when it has).
  bool running();
  // The raw wait status once the child has exited, or nullopt if it is still running after
  // timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::optional<int> exit_status() const { return status_; }
  // Sends sig to the child only (not its group).
  void signal(int sig);
  // SIGTERM to the group, up to grace for the child to exit, then SIGKILL to the group. Returns
  // the wait status.
  int stop(std::chrono::milliseconds grace = 3s);

  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  void close_stdin();

 private:
  void reset();
  pid_t pid_ = -1;
  std::optional<int> status_;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
};

struct CommandResult {
  int status = -1;  // raw wait status
  bool timed_out = false;
  std::string out;
  std::string err;
  bool exited_with(int code) const;
  std::string describe() const;
};

// Runs argv to completion (killing it at timeout) and returns what it wrote.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 30s);

// Polls cond every few milliseconds until it holds or timeout passes; returns its last value.
template <typename Cond>
bool eventually(Cond&& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 20ms);

std::string read_file(const std::filesystem::path& path);
// The last n lines of a file, for diagnostics.
std::string tail_file(const std::filesystem::path& path, size_t n);
// Writes through a temporary file and rename(2), as editors and config tools do.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);
// Truncates and rewrites the file in place (inotify sees IN_MODIFY/IN_CLOSE_WRITE).
void write_file_in_place(const std::filesystem::path& path, const std::string& content);

void sleep_for_poll(std::chrono::milliseconds interval);

template <typename Cond>
bool eventually(Cond&& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= deadline) return false;
    sleep_for_poll(interval);
  }
}

}  // namespace it

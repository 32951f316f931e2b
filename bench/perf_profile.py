"""`perf record` attached to a running process, and its report by symbol: shared by
request_cost.py (--measure perf) and file_scale.py (--perf)."""

import subprocess
import time


class Recording:
    """Starts `perf record` on `pid`, writing PREFIX.data; stop() writes the report to PREFIX.txt.

    Call graphs come from DWARF unwinding: release builds omit frame pointers."""

    def __init__(self, pid: int, prefix: str):
        self.prefix = prefix
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "2000",
             "-o", prefix + ".data", "-p", str(pid)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf attaches asynchronously

    def stop(self) -> str:
        """Ends the recording; writes and returns the report's path."""
        self.proc.send_signal(2)
        self.proc.wait(timeout=120)
        report = subprocess.run(
            ["perf", "report", "-i", self.prefix + ".data", "--stdio", "--no-children",
             "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.4"],
            capture_output=True, text=True).stdout
        with open(self.prefix + ".txt", "w") as f:
            f.write(report)
        return self.prefix + ".txt"

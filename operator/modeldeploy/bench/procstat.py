"""Memory and CPU time of a process, from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the high-water mark of the resident set, in MiB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """VmRSS: the resident set now, in MiB."""
    return _status_mb(pid, "VmRSS")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")

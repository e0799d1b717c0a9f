"""CPU time and memory of processes, from /proc: parsing and accounting are pure, reading is thin.

A part of the stack is a process tree: Triton runs each model in a Python-backend stub
process of its own, so its CPU is the server's plus its children's. A tree's CPU time is
``utime + stime`` of every living member plus ``cutime + cstime`` (children that exited
and were waited for), so time does not vanish when a child ends between two samples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the accounting needs; times in clock ticks."""

    pid: int
    comm: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def ticks(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(text: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command name may hold spaces and parentheses: split at the last ')'."""
    head, _, rest = text.rpartition(")")
    pid_text, _, comm = head.partition(" (")
    fields = rest.split()
    # rest starts at field 3 (state); utime is field 14, so rest[11].
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
    )


@dataclass(frozen=True)
class Memory:
    rss_kib: int  # VmRSS now
    hwm_kib: int  # VmHWM: the peak resident set since the process started


def parse_status(text: str) -> Memory:
    """VmRSS and VmHWM of a /proc/<pid>/status text (0 for a kernel thread or a zombie without them)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(value.split()[0])
    return Memory(rss_kib=values.get("VmRSS", 0), hwm_kib=values.get("VmHWM", 0))


def tree_of(root: int, table: Mapping[int, ProcStat]) -> list[int]:
    """``root`` and every living descendant in ``table`` (pid → stat), root first."""
    children: dict[int, list[int]] = {}
    for stat in table.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        if pid in table:
            found.append(pid)
            pending.extend(children.get(pid, []))
    return found


def tree_ticks(root: int, table: Mapping[int, ProcStat]) -> int:
    return sum(table[pid].ticks for pid in tree_of(root, table))


@dataclass(frozen=True)
class Snapshot:
    """CPU ticks per watched part at one moment."""

    at: float  # time.monotonic()
    ticks: Mapping[str, int]


def snapshot(parts: Mapping[str, int], table: Mapping[int, ProcStat], at: float) -> Snapshot:
    """The CPU ticks of each part's process tree (parts: name → root pid); a gone part counts 0."""
    return Snapshot(at=at, ticks={name: tree_ticks(pid, table) for name, pid in parts.items()})


def cpu_seconds(before: Snapshot, after: Snapshot, hz: int) -> dict[str, float]:
    """CPU seconds each part spent between two snapshots (parts present in both)."""
    return {name: max(0, after.ticks[name] - ticks) / hz for name, ticks in before.ticks.items() if name in after.ticks}


def per_item_ms(seconds: Mapping[str, float], items: int) -> dict[str, float | None]:
    """CPU milliseconds per item for each part; None when no item was processed."""
    return {name: (s * 1000.0 / items if items > 0 else None) for name, s in seconds.items()}


def machine_busy_fraction(before: str, after: str) -> float | None:
    """The share of all CPUs' time that was busy between two /proc/stat texts (their ``cpu`` lines)."""

    def totals(text: str) -> tuple[int, int]:
        line = next(raw for raw in text.splitlines() if raw.startswith("cpu "))
        numbers = [int(v) for v in line.split()[1:]]
        idle = numbers[3] + (numbers[4] if len(numbers) > 4 else 0)  # idle + iowait
        return sum(numbers[:8]), idle  # guest times are already inside user

    total_a, idle_a = totals(before)
    total_b, idle_b = totals(after)
    spent = total_b - total_a
    return None if spent <= 0 else 1.0 - (idle_b - idle_a) / spent


def listening_inodes(tcp_table: str, port: int) -> set[str]:
    """Socket inodes listening on ``port`` in a /proc/net/tcp or tcp6 text."""
    found = set()
    for line in tcp_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == LISTEN:
            found.add(fields[9])
    return found


# Reading /proc: the thin part.


def clock_ticks_per_second() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def read_table(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every process's stat now; processes that exit while being read are skipped."""
    table = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
    return table


def read_memory(pid: int, proc: Path = PROC) -> Memory | None:
    try:
        return parse_status((proc / str(pid) / "status").read_text())
    except OSError:
        return None


def read_machine_stat(proc: Path = PROC) -> str:
    return (proc / "stat").read_text()


def pid_listening_on(port: int, proc: Path = PROC) -> int | None:
    """The process that listens on a local TCP port (the broker, MongoDB), found through its socket's inode."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / table).read_text(), port)
        except OSError:
            continue
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    return next(_owners(wanted, proc), None)


def _owners(links: set[str], proc: Path) -> Iterator[int]:
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # the process ended, or is not ours to read
            continue
        if any(_link(fd) in links for fd in fds):
            yield int(entry.name)


def _link(fd: Path) -> str | None:
    # A descriptor closed between listing and reading is simply not the one sought.
    try:
        return os.readlink(fd)
    except OSError:
        return None

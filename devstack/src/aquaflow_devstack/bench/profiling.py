"""Where the services spend their CPU: py-spy samples each service process during a burst.

py-spy (``pip install py-spy``) is optional; without it the benchmark says so and goes on.
Its raw output is one line per distinct stack, ``frame;frame;...;frame count``, each frame
``function (file:line)``; the hottest functions are counted here by self time (the frame
on top of the stack) and by inclusive time (anywhere in the stack).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SAMPLES_PER_SECOND = 50  # low, so the sampling itself costs the services little
_LINE_NUMBER = re.compile(r":\d+\)$")


def py_spy() -> Path | None:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return beside
    found = shutil.which("py-spy")
    return Path(found) if found else None


def frame_name(frame: str) -> str:
    """``handle (aquaflow_router/service.py:42)`` → ``handle (aquaflow_router/service.py)``: lines merged."""
    return _LINE_NUMBER.sub(")", frame.strip())


OWN_CODE = "aquaflow_"  # the project's packages: aquaflow_inference/..., aquaflow_shared/...
ENTRY_SHARE = 0.85


def hottest(collapsed: str, top: int = 8) -> dict[str, Any]:
    """The ``top`` functions by self and by inclusive share of the samples in a py-spy raw text.

    ``own_code`` ranks the project's own functions by inclusive share: where, in aquaflow's
    code, the time below it goes (library and event-loop frames left out).
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return {"samples": 0, "self": [], "inclusive": [], "own_code": []}
    # Entry points (main, the HTTP server that runs the consumers) sit under nearly every sample.
    ours = Counter(
        {name: count for name, count in inclusive.items() if OWN_CODE in name and count < ENTRY_SHARE * total}
    )

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "share": round(c / total, 4)} for f, c in counter.most_common(top)]

    return {"samples": total, "self": shares(own), "inclusive": shares(inclusive), "own_code": shares(ours)}


class Profiler:
    """One ``py-spy record`` per process, stopped with SIGINT (py-spy then writes its file)."""

    def __init__(self, executable: Path, folder: Path) -> None:
        self.executable = executable
        self.folder = folder
        self.running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, processes: dict[str, int]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in processes.items():
            output = self.folder / f"{name}.txt"
            command = [
                str(self.executable), "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
                "--rate", str(SAMPLES_PER_SECOND), "--nonblocking",
            ]  # fmt: skip
            log = (self.folder / f"{name}.log").open("wb")
            self.running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), output)

    def stop(self, top: int = 8) -> dict[str, Any]:
        """Stop every recorder and read what each found."""
        found: dict[str, Any] = {}
        for name, (process, output) in self.running.items():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            try:
                found[name] = hottest(output.read_text(), top)
            except OSError:
                found[name] = {"error": f"py-spy wrote nothing; see {self.folder / (name + '.log')}"}
        self.running.clear()
        return found

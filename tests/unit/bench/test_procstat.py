"""CPU accounting from /proc samples: parsing, process trees, deltas, sockets."""

from __future__ import annotations

import os

import pytest

from aquaflow_devstack.bench import procstat
from aquaflow_devstack.bench.procstat import ProcStat, Snapshot


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    # Fields 3.. of /proc/<pid>/stat: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt,
    # majflt, cmajflt, utime, stime, cutime, cstime, then more we ignore.
    rest = f"S {ppid} 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 4 0 123 456789 1234"
    return f"{pid} ({comm}) {rest}\n"


def test_parse_stat_reads_times_even_with_spaces_and_parentheses_in_the_name() -> None:
    stat = procstat.parse_stat(stat_line(4242, "triton (stub) 1", 17, 300, 50, 7, 3))
    assert stat == ProcStat(pid=4242, comm="triton (stub) 1", ppid=17, utime=300, stime=50, cutime=7, cstime=3)
    assert stat.ticks == 360


def test_parse_stat_of_this_process() -> None:
    with open(f"/proc/{os.getpid()}/stat") as handle:
        stat = procstat.parse_stat(handle.read())
    assert stat.pid == os.getpid()
    assert stat.ppid == os.getppid()


def test_parse_status_reads_resident_and_peak_memory() -> None:
    text = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t4\n"
    memory = procstat.parse_status(text)
    assert memory.rss_kib == 102400
    assert memory.hwm_kib == 204800
    assert procstat.parse_status("Name:\tkthreadd\n").rss_kib == 0


def table(*stats: ProcStat) -> dict[int, ProcStat]:
    return {s.pid: s for s in stats}


def proc(pid: int, ppid: int, ticks: int, children_ticks: int = 0) -> ProcStat:
    return ProcStat(pid, f"p{pid}", ppid, ticks, 0, children_ticks, 0)


def test_a_tree_counts_living_descendants_and_waited_for_children() -> None:
    # Triton (10) with two stubs (11, 12), one of which has a child (13); 20 is unrelated.
    now = table(
        proc(10, 1, 100, children_ticks=5), proc(11, 10, 40), proc(12, 10, 30), proc(13, 12, 2), proc(20, 1, 999)
    )
    assert sorted(procstat.tree_of(10, now)) == [10, 11, 12, 13]
    assert procstat.tree_ticks(10, now) == 100 + 5 + 40 + 30 + 2
    assert procstat.tree_of(99, now) == []


def test_cpu_seconds_keep_the_time_of_a_child_that_exited_and_was_waited_for() -> None:
    parts = {"triton": 10, "s3": 20}
    before = procstat.snapshot(parts, table(proc(10, 1, 100), proc(11, 10, 50), proc(20, 1, 10)), at=0.0)
    # Stub 11 exited; its 80 ticks moved into the parent's cutime.
    after = procstat.snapshot(parts, table(proc(10, 1, 160, children_ticks=80), proc(20, 1, 110)), at=5.0)
    spent = procstat.cpu_seconds(before, after, hz=100)
    assert spent == {"triton": pytest.approx((160 + 80 - 150) / 100), "s3": pytest.approx(1.0)}
    assert procstat.per_item_ms(spent, 50) == {"triton": pytest.approx(18.0), "s3": pytest.approx(20.0)}
    assert procstat.per_item_ms(spent, 0) == {"triton": None, "s3": None}


def test_cpu_seconds_of_a_part_that_is_gone_are_never_negative() -> None:
    before = Snapshot(at=0.0, ticks={"results": 500})
    after = Snapshot(at=1.0, ticks={"results": 0})
    assert procstat.cpu_seconds(before, after, hz=100) == {"results": 0.0}


def test_machine_busy_fraction_from_two_proc_stat_texts() -> None:
    before = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n"
    after = "cpu  250 0 150 800 100 0 0 0 0 0\n"
    # 300 ticks spent, 100 of them idle (iowait unchanged).
    assert procstat.machine_busy_fraction(before, after) == pytest.approx(200 / 300)
    assert procstat.machine_busy_fraction(before, before) is None


def test_listening_inodes_pick_the_listening_socket_of_the_port() -> None:
    tcp = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1628 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 31337 1\n"
        "   1: 0100007F:1628 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   107        0 4242 1\n"
        "   2: 0100007F:6989 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n"
    )
    assert procstat.listening_inodes(tcp, 5672) == {"31337"}  # 0x1628, LISTEN only
    assert procstat.listening_inodes(tcp, 27017) == {"777"}
    assert procstat.listening_inodes(tcp, 80) == set()


def test_pid_listening_on_finds_this_process_socket() -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert procstat.pid_listening_on(server.getsockname()[1]) == os.getpid()

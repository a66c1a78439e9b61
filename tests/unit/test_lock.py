"""The app lock's judgement: free, held, or stale (and why), from the Lease and the server's clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kfctl.kube.lease import Holder, LockState, holder_of, judge, lease_body, lock_ref, process_alive, process_start

NOW = 1_800_000_000.0


def holder(**overrides: object) -> Holder:
    fields: dict[str, object] = {
        "identity": "build-7/41/abcd",
        "user": "bob",
        "host": "build-7",
        "pid": 41,
        "command": "apply",
        "acquired": NOW - 100,
        "renewed": NOW - 10,
        "duration": 60,
    }
    fields.update(overrides)
    return Holder(**fields)  # type: ignore[arg-type]


def alive(pid: int, start: str) -> bool:
    return True


def dead(pid: int, start: str) -> bool:
    return False


def test_free_held_and_stale_by_expiry() -> None:
    assert judge(None, NOW, host="here", process_alive=alive) == (LockState.FREE, "")
    assert judge(holder(), NOW, host="here", process_alive=alive)[0] is LockState.HELD
    state, why = judge(holder(renewed=NOW - 61), NOW, host="here", process_alive=alive)
    assert state is LockState.STALE and why == "not renewed for 61s (lease duration 60s)"


def test_a_dead_holder_on_this_host_is_stale_at_once_one_elsewhere_is_not() -> None:
    state, why = judge(holder(), NOW, host="build-7", process_alive=dead)
    assert state is LockState.STALE and why == "its process 41 on this host is gone"
    assert judge(holder(), NOW, host="laptop", process_alive=dead)[0] is LockState.HELD, (
        "another host's pids are not ours to look at: only expiry frees its lock"
    )


def test_a_lease_round_trips_its_holder() -> None:
    body = lease_body(lock_ref("kf"), "kf", holder(), NOW - 100, NOW - 10)
    assert body["metadata"]["name"] == "kfctl-kf-lock" and body["metadata"]["namespace"] == "kfctl-system"
    assert body["spec"]["renewTime"].endswith("Z") and "." in body["spec"]["renewTime"], "a MicroTime"
    read = holder_of(body)
    assert read is not None
    assert (read.user, read.host, read.pid, read.command) == ("bob", "build-7", 41, "apply")
    assert abs(read.renewed - (NOW - 10)) < 1e-3 and read.duration == 60
    assert "kfctl apply by bob on build-7 (pid 41)" in read.describe(NOW)
    body["spec"]["holderIdentity"] = None
    assert holder_of(body) is None, "a released lock has no holder"
    assert "credentials" not in json.dumps(body)


def test_a_process_is_alive_until_it_exits_and_a_reused_pid_is_told_apart() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = process_start(child.pid)
        assert start and process_alive(child.pid, start)
        assert not process_alive(child.pid, str(int(start) + 1)), "same pid, later start: another process"
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid, start)
    assert process_alive(os.getpid(), process_start(os.getpid()))

"""One kfctl run at a time per app (the app's Lease): a second run fails at once naming the holder;
a run killed with SIGKILL blocks nobody; a lock left by another host expires; `kfctl unlock` breaks one.

The platform is a small one of the test's own (KFCTL_CATALOG_DIR): one component whose Deployment
never becomes ready while its nodeSelector matches no node, so an apply of it holds the lock
for as long as the test needs; the config that removes the selector completes at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import LiveCluster
from tests.e2e.test_apply import events_of, report_of

CATALOG = """apiVersion: kfctl.dev/v1alpha1
kind: Platform
metadata: {name: lock-test}
spec:
  release: v0.0.1
  description: one slow component, for lock tests
  kubernetes: {min: "1.27", testedMax: "1.40"}
  sources:
    local: {dirName: src}
  defaultComponents: [slow]
  components:
    slow:
      description: a Deployment that is ready only once its nodeSelector is patched away
      paths: [slow]
"""
UNSELECT = '[{"op": "remove", "path": "/spec/template/spec/nodeSelector"}]'


@pytest.fixture
def lock_app(tmp_path: Path, cluster: LiveCluster) -> Iterator[dict[str, Any]]:
    tag = os.urandom(3).hex()
    app, namespace = f"lock-{tag}", f"t-lock-{tag}"
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "lock-test.yaml").write_text(CATALOG)
    source = tmp_path / "manifests" / "src" / "slow"
    source.mkdir(parents=True)
    (source / "kustomization.yaml").write_text("resources: [slow.yaml]\n")
    (source / "slow.yaml").write_text(f"""apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: slow, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: slow}}}}
  template:
    metadata: {{labels: {{app: slow}}}}
    spec:
      nodeSelector: {{kfctl.dev/no-such-node: "true"}}
      containers: [{{name: slow, image: registry.example/slow:1}}]
""")

    def config(name: str, replicas: int | None = None, *, ready: bool) -> Path:
        component: dict[str, Any] = {"name": "slow"}
        if ready:
            component["patches"] = [{"target": {"kind": "Deployment", "name": "slow"}, "patch": UNSELECT}]
        if replicas is not None:
            component["replicas"] = {"slow": replicas}
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {{name: {app}}}\n"
            f"spec:\n  profile: simulated\n  platform: lock-test\n  components: [{json.dumps(component)}]\n"
        )
        return path

    env = {**os.environ, "KFCTL_CATALOG_DIR": str(catalog), "KFCTL_MANIFESTS_DIR": str(tmp_path / "manifests")}
    yield {
        "app": app,
        "stuck": config("stuck", ready=False),
        "ready": config("ready", ready=True),
        "scaled": config("scaled", 2, ready=True),
        "env": env,
    }
    run(cluster, env, "unlock", "--app", app, "--yes")
    run(cluster, env, "delete", "--app", app, "--purge", "--yes")


def run(cluster: LiveCluster, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kfctl", "--kubeconfig", str(cluster.kubeconfig_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def lease(cluster: LiveCluster, app: str) -> dict[str, Any] | None:
    result = cluster.run_kubectl("get", "lease", f"kfctl-{app}-lock", "-n", "kfctl-system", "-o", "json")
    return json.loads(result.stdout) if result.returncode == 0 else None


def holder_identity(cluster: LiveCluster, app: str) -> str:
    return str(((lease(cluster, app) or {}).get("spec") or {}).get("holderIdentity") or "")


def foreign_lease(app: str, renewed: float) -> str:
    """The app's lock as a run on another machine wrote it."""
    stamp = datetime.fromtimestamp(renewed, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    holder = {"user": "bob", "host": "build-7", "pid": 4242, "command": "apply"}
    return json.dumps(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": f"kfctl-{app}-lock",
                "namespace": "kfctl-system",
                "annotations": {"kfctl.dev/holder": json.dumps(holder)},
            },
            "spec": {
                "holderIdentity": "build-7/4242/ci",
                "leaseDurationSeconds": 60,
                "acquireTime": stamp,
                "renewTime": stamp,
            },
        }
    )


def test_an_overlapping_run_fails_at_once_and_a_killed_run_blocks_nobody(
    cluster: LiveCluster, lock_app: dict[str, Any], tmp_path: Path
) -> None:
    app, env = lock_app["app"], lock_app["env"]
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(
        [
            "kfctl",
            "--kubeconfig",
            str(cluster.kubeconfig_path),
            "apply",
            "-f",
            str(lock_app["stuck"]),
            "--timeout",
            "10m",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        cluster.wait_until(
            "the first apply to hold the lock", lambda: f"/{first.pid}/" in holder_identity(cluster, app), timeout=300
        )
        records_before = cluster.kubectl(
            "get", "configmaps", "-n", "kfctl-system", "-l", f"kfctl.dev/app={app}", "-o", "name"
        )
        second = run(cluster, env, "apply", "-f", str(lock_app["ready"]), "-o", "json")
        assert second.returncode == 5, second.stderr[-2000:]
        error = json.loads(second.stdout)
        assert error["reason"] == "LockedError" and error["exitCode"] == 5
        assert f"app {app} is locked by kfctl apply by " in error["message"]
        assert f"(pid {first.pid}), since " in error["message"], error["message"]
        assert error["detail"]["holder"]["pid"] == first.pid
        assert "kfctl unlock" in error["hint"]
        deleting = run(cluster, env, "delete", "--app", app, "--yes")
        assert deleting.returncode == 5, "delete waits its turn too"
        assert holder_identity(cluster, app).split("/")[1] == str(first.pid), "the lock is still the first run's"
        records_after = cluster.kubectl(
            "get", "configmaps", "-n", "kfctl-system", "-l", f"kfctl.dev/app={app}", "-o", "name"
        )
        assert records_after == records_before, "the refused runs wrote no release record"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        log.close()
    assert first.returncode == -signal.SIGKILL
    assert f"/{first.pid}/" in holder_identity(cluster, app), "a killed run leaves its lock behind"

    third = run(cluster, env, "apply", "-f", str(lock_app["ready"]), "-o", "json")
    assert third.returncode == 0, third.stderr[-2000:]
    assert report_of(third)["status"] == "deployed"
    taken = [e for e in events_of(third) if e["event"] == "lock"]
    assert taken and "stale lock taken over" in taken[0]["message"], third.stderr[-2000:]
    assert f"its process {first.pid} on this host is gone" in taken[0]["message"]
    assert holder_identity(cluster, app) == "", "a finished run gives the lock back"


def test_another_hosts_lock_is_refused_until_it_expires_or_is_broken(
    cluster: LiveCluster, lock_app: dict[str, Any]
) -> None:
    app, env = lock_app["app"], lock_app["env"]
    assert run(cluster, env, "apply", "-f", str(lock_app["ready"])).returncode == 0
    cluster.kubectl("apply", "-f", "-", input=foreign_lease(app, time.time()))
    refused = run(cluster, env, "apply", "-f", str(lock_app["scaled"]))
    assert refused.returncode == 5, refused.stderr[-2000:]
    assert "locked by kfctl apply by bob on build-7 (pid 4242)" in refused.stderr
    no_op = run(cluster, env, "apply", "-f", str(lock_app["ready"]))
    assert no_op.returncode == 5, "even a run that would write nothing does not read a state being changed"

    broken = run(cluster, env, "unlock", "--app", app, "--yes", "-o", "json")
    assert broken.returncode == 0, broken.stderr[-2000:]
    document = json.loads(broken.stdout)
    assert document["wasLocked"] is True and document["holder"]["host"] == "build-7"
    assert holder_identity(cluster, app) == ""
    assert run(cluster, env, "unlock", "--app", app, "--yes").returncode == 0, "unlocking a free app is fine"

    # A lock its holder stopped renewing five minutes ago is stale: taken over, and said so.
    cluster.kubectl("apply", "-f", "-", input=foreign_lease(app, time.time() - 300))
    scaled = run(cluster, env, "apply", "-f", str(lock_app["scaled"]), "-o", "json")
    assert scaled.returncode == 0, scaled.stderr[-2000:]
    taken = [e for e in events_of(scaled) if e["event"] == "lock"]
    assert taken and "stale lock taken over from kfctl apply by bob on build-7" in taken[0]["message"]
    assert "not renewed for" in taken[0]["message"]
    assert cluster.get_json("deployment", "slow", "-n", f"t-{app}")["spec"]["replicas"] == 2

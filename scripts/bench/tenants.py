#!/usr/bin/env python3
"""Benchmark: many team namespaces in one apply (issue: tenancy).

On a fresh simulated cluster (its own, `bench-tenants`): `kfctl apply` of an app with kubeflow-roles
and N tenants (default 100), then the same apply again (a no-op), then, for the ratio, the same
tenant objects applied by `kubectl apply --server-side` from `kfctl build` on a second fresh
cluster. Prints wall times, API requests, writes, and the kfctl / kubectl ratio.

    python3 scripts/bench/tenants.py [--tenants 100] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("bench_apply", HERE / "apply.py")
assert spec and spec.loader
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_apply"] = bench
spec.loader.exec_module(bench)
bench.CLUSTER_NAME = "bench-tenants"
bench.CLUSTER_ENV = {
    "KFCTL_CLUSTER_NAME": bench.CLUSTER_NAME,
    "KFCTL_CLUSTER_DIR": str(bench.CACHE / "clusters" / bench.CLUSTER_NAME),
}


def config_text(count: int) -> str:
    lines = [
        "apiVersion: kfctl.dev/v1alpha1",
        "kind: AppConfig",
        "metadata: {name: teams}",
        "spec:",
        "  profile: simulated",
        "  platform: kubeflow-1.10",
        "  components: [kubeflow-namespace, kubeflow-roles]",
        "  tenants:",
    ]
    for index in range(count):
        lines += [
            f"  - name: team-{index:03d}",
            f"    owner: owner{index}@company.com",
            f"    members: [{{user: dev{index}@company.com, role: edit}}, {{group: readers-{index}, role: view}}]",
            f"    quota: {{gpu: {index % 4}, cpu: '16', memory: 64Gi}}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--manifests-dir", type=Path, default=bench.REPO.parent / "shared" / "upstream")
    parser.add_argument("--keep", action="store_true", help="leave the bench cluster up")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kfctl-bench-tenants-"))
    config = work / "kfctl.yaml"
    config.write_text(config_text(args.tenants))
    env = bench.cluster_env({"KFCTL_MANIFESTS_DIR": str(args.manifests_dir)})
    kfctl = [sys.executable, "-m", "kfctl", "apply", "-f", str(config), "-o", "json"]
    try:
        bench.fresh_cluster(3.0)
        first = bench.run_in_cluster(kfctl, env=env)
        second = bench.run_in_cluster(kfctl, env=env)
        for run in (first, second):
            if run.returncode != 0:
                raise SystemExit(f"bench: kfctl apply failed:\n{run.stderr[-3000:]}")
        reports = [bench.json_document(run.stdout) for run in (first, second)]
        built = bench.run_in_cluster([sys.executable, "-m", "kfctl", "build", "-f", str(config)], env=env)
        (work / "all.yaml").write_text(built.stdout)
        bench.fresh_cluster(3.0)
        kubectl = bench.run_in_cluster(
            ["kubectl", "apply", "--server-side", "--field-manager=bench", "-f", str(work / "all.yaml")], env=env
        )
        if kubectl.returncode != 0:
            raise SystemExit(f"bench: kubectl apply failed:\n{kubectl.stderr[-3000:]}")
        objects = sum(c["applied"] + c["unchanged"] for c in reports[0]["components"])
        figures = {
            "tenants": args.tenants,
            "objects": objects,
            "apply": {
                "seconds": round(first.seconds, 2),
                "requests": reports[0]["requests"],
                "writes": reports[0]["writes"],
            },
            "noOp": {
                "seconds": round(second.seconds, 2),
                "requests": reports[1]["requests"],
                "writes": reports[1]["writes"],
            },
            "kubectlServerSide": {"seconds": round(kubectl.seconds, 2)},
            "ratioApplyToKubectl": round(bench.ratio(first.seconds, kubectl.seconds), 2),
            "ratioNoOpToApply": round(bench.ratio(second.seconds, first.seconds), 2),
        }
        print(json.dumps(figures, indent=2))
    finally:
        if not args.keep:
            bench.local_cluster("down")


if __name__ == "__main__":
    main()

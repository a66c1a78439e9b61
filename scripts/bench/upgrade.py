#!/usr/bin/env python3
"""Benchmark: `kfctl upgrade` through the real release chain (issue: upgrades).

On a fresh simulated cluster of its own (`bench-upgrade`): Kubeflow 1.9 (default components) installed
with `kfctl apply`, then for each step to 26.03 `kfctl upgrade --to NEXT --dry-run` and the step itself.
Prints wall time, requests and writes of each, and each step's time over a fresh `kfctl apply` of the
release it reaches on a second cluster (the install an operator would otherwise redo).

    python3 scripts/bench/upgrade.py [--keep]
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
bench.CLUSTER_NAME = "bench-upgrade"
bench.CLUSTER_ENV = {
    "KFCTL_CLUSTER_NAME": bench.CLUSTER_NAME,
    "KFCTL_CLUSTER_DIR": str(bench.CACHE / "clusters" / bench.CLUSTER_NAME),
}
CHAIN = ("kubeflow-1.9", "kubeflow-1.10", "kubeflow-1.11", "kubeflow-26.03")


def config_text(platform: str, manifests: Path) -> str:
    return (
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: upgraded}\n"
        f"spec:\n  profile: simulated\n  platform: {platform}\n"
        f"  mirrors: {{'https://github.com/': '{manifests / 'mirror' / 'github.com'}/'}}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifests-dir", type=Path, default=bench.REPO.parent / "shared" / "upstream")
    parser.add_argument("--keep", action="store_true", help="leave the bench cluster up")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kfctl-bench-upgrade-"))
    env = bench.cluster_env({"KFCTL_MANIFESTS_DIR": str(args.manifests_dir)})
    kfctl = [sys.executable, "-m", "kfctl"]

    def run(*command: str) -> tuple[float, dict[str, object]]:
        result = bench.run_in_cluster([*kfctl, *command, "-o", "json"], env=env)
        if result.returncode != 0:
            raise SystemExit(f"bench: kfctl {' '.join(command)} failed:\n{result.stderr[-3000:]}")
        return result.seconds, bench.json_document(result.stdout)

    config = work / "kfctl.yaml"
    config.write_text(config_text(CHAIN[0], args.manifests_dir))
    figures: dict[str, object] = {}
    try:
        bench.fresh_cluster(3.0)
        seconds, report = run("apply", "-f", str(config))
        figures[f"install {CHAIN[0]}"] = {"seconds": round(seconds, 2), "requests": report["requests"]}
        steps = []
        for target in CHAIN[1:]:
            dry_seconds, _ = run("upgrade", "-f", str(config), "--to", target, "--dry-run")
            step_seconds, report = run("upgrade", "-f", str(config), "--to", target, "--yes")
            step = report["steps"][0]  # type: ignore[index]
            steps.append(
                {
                    "step": step["step"],
                    "dryRunSeconds": round(dry_seconds, 2),
                    "stepSeconds": round(step_seconds, 2),
                    "requests": step["apply"]["requests"],
                    "writes": step["apply"]["writes"],
                    "recreated": len(step["recreated"]),
                    "migrationsRun": [m["id"] for m in step["migrationsRun"]],
                }
            )
        bench.fresh_cluster(3.0)
        fresh = work / "fresh.yaml"
        fresh.write_text(config_text(CHAIN[-1], args.manifests_dir))
        fresh_seconds, _ = run("apply", "-f", str(fresh))
        figures["steps"] = steps
        figures[f"fresh install {CHAIN[-1]}"] = round(fresh_seconds, 2)
        figures["ratioLastStepToFreshInstall"] = round(bench.ratio(steps[-1]["stepSeconds"], fresh_seconds), 2)
        print(json.dumps(figures, indent=2))
    finally:
        if not args.keep:
            bench.local_cluster("down")


if __name__ == "__main__":
    main()

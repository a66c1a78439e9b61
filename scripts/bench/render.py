#!/usr/bin/env python3
"""Render benchmark: the full Kubeflow 1.10 platform with `kfctl build` against the same
kustomize builds run one after another, measured in the same run; and `kfctl --help` start-up.

    python3 scripts/bench/render.py [--runs 5] [--manifests-dir ../shared/upstream]

Prints medians and the ratio kfctl / sequential (target <= 0.7) and the start-up time (target <= 0.3 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kfctl.config.app import load_app_config  # noqa: E402
from kfctl.render.build import write_kustomizations  # noqa: E402
from kfctl.render.kustomize import find_kustomize  # noqa: E402
from kfctl.render.resolve import resolve_app  # noqa: E402

CONFIG = """apiVersion: kfctl.dev/v1alpha1
kind: AppConfig
metadata: {name: bench}
spec:
  profile: generic
  platform: kubeflow-1.10
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env={**os.environ, **(env or {})}
    )
    return time.perf_counter() - started


def sequential(command: tuple[str, ...], directories: Iterable[Path], env: dict[str, str]) -> float:
    started = time.perf_counter()
    for directory in directories:
        subprocess.run(
            [*command, str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            env={**os.environ, **env},
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--manifests-dir", type=Path, default=REPO.parent / "shared" / "upstream")
    args = parser.parse_args()
    manifests = args.manifests_dir.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        config_path = Path(scratch) / "kfctl.yaml"
        config_path.write_text(CONFIG)
        app = resolve_app(load_app_config(config_path), manifests_dir=manifests)
        kustomize = find_kustomize()
        directories = write_kustomizations(app, Path(scratch) / "components", app.source_roots)
        kfctl = [
            sys.executable,
            "-m",
            "kfctl",
            "build",
            "-f",
            str(config_path),
            "--manifests-dir",
            str(manifests),
            "--kustomize-bin",
            kustomize.command[0],
            "-o",
            "-",
        ]
        sequential_runs, tuned_runs, kfctl_runs, help_runs = [], [], [], []
        for _ in range(args.runs):
            sequential_runs.append(sequential(kustomize.command, directories.values(), {}))
            tuned_runs.append(sequential(kustomize.command, directories.values(), {"GOGC": "400"}))
            kfctl_runs.append(timed(kfctl, {"PYTHONPATH": str(REPO)}))
            help_runs.append(timed([sys.executable, "-m", "kfctl", "--help"], {"PYTHONPATH": str(REPO)}))
    baseline = statistics.median(sequential_runs)
    tuned = statistics.median(tuned_runs)
    ours = statistics.median(kfctl_runs)
    startup = statistics.median(help_runs)
    print(f"kustomize: {kustomize.label}; {len(directories)} components; {os.cpu_count()} CPUs; {args.runs} runs")
    print(f"sequential kustomize builds, as users run them: {baseline:.2f}s (median)")
    print(f"sequential kustomize builds with kfctl's GOGC=400: {tuned:.2f}s (median)")
    print(f"kfctl build (render in parallel, validate, order, print): {ours:.2f}s (median)")
    print(f"ratio kfctl / sequential: {ours / baseline:.2f}x (target <= 0.70x)")
    print(f"ratio kfctl / sequential with the same GOGC (parallelism alone): {ours / tuned:.2f}x")
    print(f"kfctl --help start-up: {startup:.3f}s (median, target <= 0.300s)")


if __name__ == "__main__":
    main()

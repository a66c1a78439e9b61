"""`kfctl generate`: a self-contained app directory that plain `kustomize build` renders to
exactly what kfctl renders, so it can be committed and handed to GitOps.

Layout:
  APP_DIR/kfctl.yaml                          the app config
  APP_DIR/upstream/<source folder>/           copies of the manifest sources (unless --no-vendor)
  APP_DIR/components/<component>/kustomization.yaml
  APP_DIR/components/order.yaml               the waves, in apply order
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from kfctl.platform.catalog import PROJECT_SOURCE
from kfctl.render.build import tree_digest, write_kustomizations
from kfctl.render.resolve import ResolvedApp

STAMP = ".kfctl-digest"


@dataclass
class GenerateResult:
    app_dir: Path
    components: list[str]
    vendored: dict[str, Path]

    def as_dict(self) -> dict[str, object]:
        return {
            "appDir": str(self.app_dir),
            "components": self.components,
            "vendored": {name: str(path) for name, path in self.vendored.items()},
        }


def generate_app_dir(app: ResolvedApp, *, vendor: bool = True) -> GenerateResult:
    app_dir = app.config.directory
    sources: dict[str, Path] = {}
    vendored: dict[str, Path] = {}
    for name, root in app.source_roots.items():
        if not vendor:
            sources[name] = root
            continue
        folder = "kfctl-kustomize" if name == PROJECT_SOURCE else app.platform.sources[name].dir_name
        target = app_dir / "upstream" / folder
        _vendor(root, target)
        sources[name] = target
        vendored[name] = target
    components_dir = app_dir / "components"
    write_kustomizations(app, components_dir, sources)
    order = {"waves": app.waves, "platform": app.platform.name, "profile": app.profile.name}
    (components_dir / "order.yaml").write_text(
        "# Apply order: every component's dependencies are in an earlier wave.\n"
        + yaml.safe_dump(order, sort_keys=False)
    )
    return GenerateResult(app_dir, [c.name for c in app.components], vendored)


def _vendor(source: Path, target: Path) -> None:
    """Copy a source tree, unless an identical copy is already there."""
    digest = tree_digest(source)
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    (staging / STAMP).write_text(digest + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)

"""Cluster profiles (kfctl/data/profiles/*.yaml): what a kind of cluster needs and how components fit it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from kfctl.data import PROFILES, data_dir, empty_dir_error
from kfctl.errors import ConfigError
from kfctl.schema import Bool, Field, ListOf, MapOf, Obj, Scalar, Str, Where, load_yaml_file, suggest

PROFILES_ENV = "KFCTL_PROFILES_DIR"
VERSION = r"\d+\.\d+(\.\d+)?"
CNIS = [
    "calico",
    "cilium",
    "flannel",
    "aws-vpc-cni",
    "azure-cni",
    "gke-dataplane",
    "kindnet",
    "weave",
    "antrea",
    "ovn-kubernetes",
    "any",
]
RELAXATIONS = ["webhook-answers", "certificate-issuance", "endpoints", "load-balancers"]

PROFILE = Obj(
    {
        "apiVersion": Field(Str(choices=["kfctl.dev/v1alpha1"]), required=True),
        "kind": Field(Str(choices=["ClusterProfile"]), required=True),
        "metadata": Field(
            Obj({"name": Field(Str(pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"), required=True)}), required=True
        ),
        "spec": Field(
            Obj(
                {
                    "description": Field(Str(), required=True),
                    "requirements": Field(
                        Obj(
                            {
                                "kubernetes": Field(
                                    Obj({"min": Field(Str(pattern=VERSION)), "max": Field(Str(pattern=VERSION))}),
                                    default=dict,
                                ),
                                "cni": Field(ListOf(Str(choices=CNIS)), default=lambda: ["any"]),
                                "gpu": Field(
                                    Obj({"required": Field(Bool(), default=False), "runtimeClass": Field(Str())}),
                                    default=dict,
                                ),
                                "storage": Field(
                                    Obj(
                                        {
                                            "defaultClass": Field(Bool(), default=True),
                                            "provisioners": Field(ListOf(Str()), default=list),
                                        }
                                    ),
                                    default=dict,
                                ),
                                "coreDNS": Field(Bool(), default=True),
                                "certManager": Field(Str(choices=["kfctl", "preinstalled"]), default="kfctl"),
                            }
                        ),
                        default=dict,
                    ),
                    "components": Field(
                        MapOf(
                            Obj({"overlay": Field(Str()), "parameters": Field(MapOf(MapOf(Scalar())), default=dict)})
                        ),
                        default=dict,
                    ),
                    "simulation": Field(
                        Obj({"relax": Field(ListOf(Str(choices=RELAXATIONS)), default=list)}), default=dict
                    ),
                }
            ),
            required=True,
        ),
    }
)


@dataclass(frozen=True)
class ClusterProfile:
    name: str
    description: str
    file: Path
    kubernetes_min: str | None = None
    kubernetes_max: str | None = None
    cni: tuple[str, ...] = ("any",)
    gpu_required: bool = False
    gpu_runtime_class: str | None = None
    default_storage_class: bool = True
    storage_provisioners: tuple[str, ...] = ()
    coredns: bool = True
    cert_manager: str = "kfctl"
    component_overlays: dict[str, str] = field(default_factory=dict)
    component_parameters: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    relaxations: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "requirements": {
                "kubernetes": {"min": self.kubernetes_min, "max": self.kubernetes_max},
                "cni": list(self.cni),
                "gpu": {"required": self.gpu_required, "runtimeClass": self.gpu_runtime_class},
                "storage": {
                    "defaultClass": self.default_storage_class,
                    "provisioners": list(self.storage_provisioners),
                },
                "coreDNS": self.coredns,
                "certManager": self.cert_manager,
            },
            "components": {name: {"overlay": overlay} for name, overlay in self.component_overlays.items()},
            "simulation": {"relax": list(self.relaxations)},
        }


def profiles_dir() -> Path:
    """The bundled profiles, or $KFCTL_PROFILES_DIR (a site's own)."""
    return data_dir(PROFILES, PROFILES_ENV)


def profile_files() -> list[Path]:
    """The profile files by name; none at all means a broken installation or a wrong override."""
    directory = profiles_dir()
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise empty_dir_error("profiles directory", directory, PROFILES_ENV, "cluster profiles (*.yaml)")
    return paths


def list_profiles() -> dict[str, ClusterProfile]:
    return {path.stem: load_profile_file(path) for path in profile_files()}


@cache
def load_profile_file(path: Path) -> ClusterProfile:
    raw = PROFILE.check(load_yaml_file(path, what="cluster profile"), Where(str(path), 1, ""))
    spec = raw["spec"]
    req = spec["requirements"] or {}
    kube = req.get("kubernetes") or {}
    gpu = req.get("gpu") or {}
    storage = req.get("storage") or {}
    return ClusterProfile(
        name=raw["metadata"]["name"],
        description=spec["description"],
        file=path,
        kubernetes_min=kube.get("min"),
        kubernetes_max=kube.get("max"),
        cni=tuple(req.get("cni") or ("any",)),
        gpu_required=bool(gpu.get("required", False)),
        gpu_runtime_class=gpu.get("runtimeClass"),
        default_storage_class=bool(storage.get("defaultClass", True)),
        storage_provisioners=tuple(storage.get("provisioners") or ()),
        coredns=bool(req.get("coreDNS", True)),
        cert_manager=req.get("certManager") or "kfctl",
        component_overlays={k: v["overlay"] for k, v in spec["components"].items() if v["overlay"]},
        component_parameters={k: v["parameters"] for k, v in spec["components"].items() if v["parameters"]},
        relaxations=tuple((spec["simulation"] or {}).get("relax") or ()),
    )


def load_profile(name_or_path: str, *, base: Path, where: Where | None = None) -> ClusterProfile:
    """A profile by name (NAME.yaml in the profiles directory) or by path (relative to the app config)."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        path = Path(name_or_path).expanduser()
        path = path if path.is_absolute() else (base / path)
        if not path.is_file():
            raise _where(where).error(f"profile file {path} does not exist")
        return load_profile_file(path.resolve())
    known = {path.stem: path for path in profile_files()}
    if name_or_path not in known:
        raise _where(where).error(
            f"unknown profile {name_or_path!r}", hint=suggest(name_or_path, list(known), "profile")
        )
    return load_profile_file(known[name_or_path])


def _where(where: Where | None) -> Where:
    return where or Where("--profile", None, "")


__all__ = ["ClusterProfile", "ConfigError", "list_profiles", "load_profile", "load_profile_file"]

"""The kustomize subset in tests/unit/deploy/kustomize.py renders as kustomize does."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.k8s import BASE, OVERLAY
from tests.unit.deploy.kustomize import KustomizeError, render, resource_id, split_image, strategic_merge


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - {name: init, image: "registry.local:5000/tools/init"}
      containers:
        - name: web
          image: web
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
        - {name: sidecar, image: "proxy:1.0@sha256:abc"}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "base/kustomization.yaml": """\
                resources: [deployment.yaml, namespace.yaml]
                images:
                  - {name: web, newName: registry.example.org/web, newTag: "2.0"}
            """,
            "base/deployment.yaml": DEPLOYMENT,
            "base/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
            "overlay/kustomization.yaml": """\
                namespace: shop
                resources: [../base]
                images:
                  - {name: registry.local:5000/tools/init, newTag: v3}
                  - {name: proxy, digest: "sha256:def"}
                patches:
                  - path: more-env.yaml
                  - target: {kind: Deployment, name: web}
                    patch: |-
                      - {op: add, path: /spec/replicas, value: 3}
                      - {op: replace, path: /spec/template/spec/containers/0/env/0/value, value: "10"}
            """,
            "overlay/more-env.yaml": """\
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  template:
                    spec:
                      containers:
                        - name: web
                          env:
                            - {name: B, value: "20"}
                            - {name: C, value: "30"}
            """,
        },
    )


def test_renders_resources_patches_namespace_and_images(project: Path) -> None:
    resources = render(project / "overlay")
    namespace, deployment = sorted(resources, key=lambda r: str(r["kind"]), reverse=True)
    assert namespace == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    assert deployment["metadata"]["namespace"] == "shop"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    web, sidecar = pod["containers"]
    assert web["image"] == "registry.example.org/web:2.0"
    # The patch's items first, in its order (B, C), then the others (A): as kustomize orders them.
    assert web["env"] == [{"name": "B", "value": "10"}, {"name": "C", "value": "30"}, {"name": "A", "value": "1"}]
    assert sidecar["image"] == "proxy@sha256:def"
    assert pod["initContainers"][0]["image"] == "registry.local:5000/tools/init:v3"


def test_strategic_merge_deletes_with_null_and_patch_directives() -> None:
    original: dict[str, Any] = {
        "metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {"volumes": [{"name": "x", "emptyDir": {}}, {"name": "y", "emptyDir": {}}], "args": ["a", "b"]},
    }
    patch = {
        "metadata": {"labels": {"a": None}},
        "spec": {"volumes": [{"name": "x", "$patch": "delete"}], "args": ["c"]},
    }
    merged = strategic_merge(original, patch)
    assert merged["metadata"]["labels"] == {"b": "2"}
    assert merged["spec"]["volumes"] == [{"name": "y", "emptyDir": {}}]
    # A list without a merge key is replaced whole, as Kubernetes does.
    assert merged["spec"]["args"] == ["c"]
    assert original["metadata"]["labels"] == {"a": "1", "b": "2"}, "the original is left alone"


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("nginx", ("nginx", None, None)),
        ("nginx:1.27", ("nginx", "1.27", None)),
        ("registry.local:5000/a/b", ("registry.local:5000/a/b", None, None)),
        ("registry.local:5000/a/b:v1@sha256:00", ("registry.local:5000/a/b", "v1", "sha256:00")),
    ],
)
def test_splits_image_references(image: str, parts: tuple[str, str | None, str | None]) -> None:
    assert split_image(image) == parts


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [deployment.yaml]\ncommonLabels: {a: b}\n", "does not apply"),
        ("resources: [missing.yaml]\n", "does not exist"),
        ("resources: [deployment.yaml, deployment.yaml]\n", "defined twice"),
        ("resources: [deployment.yaml]\npatches:\n  - target: {kind: Service}\n    patch: '[]'\n", "matches no"),
        (
            "resources: [deployment.yaml]\npatches:\n  - target: {kind: Deployment}\n"
            "    patch: '[{op: test, path: /spec/replicas, value: 9}]'\n",
            "no 'replicas'",
        ),
        (
            "resources: [deployment.yaml]\npatches:\n  - target: {kind: Deployment}\n"
            "    patch: '[{op: move, from: /a, path: /b}]'\n",
            "not implemented",
        ),
    ],
)
def test_refuses_what_it_cannot_render_faithfully(tmp_path: Path, kustomization: str, message: str) -> None:
    write(tmp_path, {"kustomization.yaml": kustomization, "deployment.yaml": DEPLOYMENT})
    with pytest.raises(KustomizeError, match=message):
        render(tmp_path)


def kubectl_kustomize(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=60)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) is not installed")
@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_deploy_k8s_renders_as_kubectl_kustomize_does(folder: Path) -> None:
    ours = {resource_id(r): r for r in render(folder)}
    theirs = {resource_id(r): r for r in kubectl_kustomize(folder)}
    assert set(ours) == set(theirs)
    for key, resource in ours.items():
        assert resource == theirs[key], key


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) is not installed")
def test_the_example_project_renders_as_kubectl_kustomize_does(project: Path) -> None:
    ours = {resource_id(r): r for r in render(project / "overlay")}
    theirs = {resource_id(r): r for r in kubectl_kustomize(project / "overlay")}
    assert ours == theirs

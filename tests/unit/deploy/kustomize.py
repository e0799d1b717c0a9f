"""The subset of kustomize that deploy/k8s uses, so its output can be checked without a cluster.

``render(folder)`` builds a kustomization as ``kubectl kustomize`` does for these fields:
``resources`` (files with one or more documents, and folders holding a kustomization),
``patches`` (strategic-merge patches and JSON 6902 patches, from ``path`` or inline ``patch``,
selected by ``target`` or by the patch's own kind and name), ``namespace`` and ``images``
(``newName``, ``newTag``, ``digest``). Anything else in a kustomization is refused, so a
manifest cannot quietly rely on a feature this renderer does not apply. Where ``kubectl`` is
installed, the tests compare this output with its own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}

# Kinds that live outside any namespace: the namespace transformer leaves them alone.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ClusterTriggerAuthentication",
    }
)

# Strategic-merge keys of the lists these manifests patch (Kubernetes' patchMergeKey);
# every other list is replaced whole, as Kubernetes does for lists without one.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def render(folder: Path) -> list[Resource]:
    """Every resource the kustomization in ``folder`` produces, in the order it lists them."""
    kustomization = _load_kustomization(folder)
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        resources.extend(_load_resource(folder / entry))
    for patch in kustomization.get("patches", []):
        _apply_patch(resources, folder, patch)
    if "namespace" in kustomization:
        set_namespace(resources, kustomization["namespace"])
    for image in kustomization.get("images", []):
        set_image(resources, image)
    _refuse_duplicates(resources)
    return resources


def _load_kustomization(folder: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        path = folder / name
        if path.is_file():
            loaded = yaml.safe_load(path.read_text()) or {}
            unsupported = set(loaded) - SUPPORTED_FIELDS
            if unsupported:
                raise KustomizeError(f"{path}: fields this renderer does not apply: {sorted(unsupported)}")
            return dict(loaded)
    raise KustomizeError(f"no kustomization in {folder}")


def _load_resource(path: Path) -> list[Resource]:
    if path.is_dir():
        return render(path)
    if not path.is_file():
        raise KustomizeError(f"resource {path} does not exist")
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _refuse_duplicates(resources: Iterable[Resource]) -> None:
    seen: set[tuple[str, str, str | None, str]] = set()
    for resource in resources:
        key = resource_id(resource)
        if key in seen:
            raise KustomizeError(f"{key} is defined twice")
        seen.add(key)


def resource_id(resource: Resource) -> tuple[str, str, str | None, str]:
    """(apiVersion, kind, namespace, name): what identifies a resource in a rendering."""
    metadata = resource.get("metadata", {})
    return resource["apiVersion"], resource["kind"], metadata.get("namespace"), metadata["name"]


# -- patches ------------------------------------------------------------------------------


def _apply_patch(resources: list[Resource], folder: Path, entry: dict[str, Any]) -> None:
    if "path" in entry:
        text = (folder / entry["path"]).read_text()
    elif "patch" in entry:
        text = entry["patch"]
    else:
        raise KustomizeError(f"a patch needs path or patch: {entry}")
    body = yaml.safe_load(text)
    target = entry.get("target")
    if isinstance(body, list):
        if target is None:
            raise KustomizeError("a JSON 6902 patch needs a target")
        matched = [r for r in resources if _selected(r, target)]
        for resource in matched:
            json6902(resource, body)
    elif isinstance(body, dict):
        selector = target or {
            "kind": body.get("kind"),
            "name": body.get("metadata", {}).get("name"),
        }
        matched = [r for r in resources if _selected(r, selector)]
        for index, resource in enumerate(resources):
            if any(resource is m for m in matched):
                merged = strategic_merge(resource, body)
                # The patch's own identity fields name the target; they never rename it.
                merged["metadata"]["name"] = resource["metadata"]["name"]
                resources[index] = merged
    else:
        raise KustomizeError(f"a patch is a mapping or a list of operations, not {type(body).__name__}")
    if not matched:
        raise KustomizeError(f"patch {entry.get('path', '(inline)')} matches no resource")


def _selected(resource: Resource, selector: dict[str, Any]) -> bool:
    group, _, version = resource["apiVersion"].rpartition("/")
    metadata = resource.get("metadata", {})
    wanted = {
        "group": group,
        "version": version,
        "kind": resource["kind"],
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
    }
    return all(selector[field] == value for field, value in wanted.items() if selector.get(field) is not None)


def strategic_merge(original: Any, patch: Any, field: str | None = None) -> Any:
    """Kubernetes' strategic merge for the fields above: maps merge, keyed lists merge by key.

    ``null`` in the patch removes a key; a list item with ``$patch: delete`` removes the item.
    """
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(original)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = _without_directives(value)
        return merged
    if isinstance(original, list) and isinstance(patch, list) and MERGE_KEYS.get(field or "") is not None:
        return _merge_keyed_list(original, patch, MERGE_KEYS[field or ""] or "")
    return _without_directives(patch)


def _merge_keyed_list(original: list[Any], patch: list[Any], key: str) -> list[Any]:
    """Items named in the patch come first, in the patch's order, then the others (as kustomize orders them)."""
    by_key = {item.get(key): item for item in original}
    patched = {item.get(key) for item in patch}
    merged = []
    for item in patch:
        if item.get("$patch") == "delete":
            continue
        existing = by_key.get(item.get(key))
        merged.append(_without_directives(item) if existing is None else strategic_merge(existing, item))
    merged.extend(copy.deepcopy(item) for item in original if item.get(key) not in patched)
    return merged


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_directives(v) for k, v in value.items() if not k.startswith("$patch")}
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return copy.deepcopy(value)


def json6902(resource: Resource, operations: list[dict[str, Any]]) -> None:
    """Apply RFC 6902 operations (add, remove, replace, test) to ``resource`` in place."""
    for operation in operations:
        op, path = operation["op"], operation["path"]
        parent, last = _pointer_parent(resource, path)
        if op == "test":
            if _child(parent, last) != operation["value"]:
                raise KustomizeError(f"test failed at {path}")
        elif op == "remove":
            _child(parent, last)
            del parent[int(last) if isinstance(parent, list) else last]
        elif op == "replace":
            _child(parent, last)
            parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(operation["value"])
        elif op == "add":
            value = copy.deepcopy(operation["value"])
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                parent[last] = value
        else:
            raise KustomizeError(f"JSON 6902 operation {op!r} is not implemented")


def _pointer_parent(document: Any, pointer: str) -> tuple[Any, str]:
    if not pointer.startswith("/"):
        raise KustomizeError(f"{pointer!r} is not a JSON pointer")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
    node = document
    for token in tokens[:-1]:
        node = _child(node, token)
    return node, tokens[-1]


def _child(node: Any, token: str) -> Any:
    try:
        return node[int(token)] if isinstance(node, list) else node[token]
    except (KeyError, IndexError, ValueError, TypeError) as error:
        raise KustomizeError(f"no {token!r} in the patched resource") from error


# -- namespace and images -----------------------------------------------------------------


def set_namespace(resources: Iterable[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] not in CLUSTER_SCOPED:
            resource.setdefault("metadata", {})["namespace"] = namespace


def pod_specs(resource: Resource) -> Iterator[dict[str, Any]]:
    """The pod specs a workload carries (a Pod's own, a template's, a CronJob's job template's)."""
    spec = resource.get("spec", {})
    if resource["kind"] == "Pod":
        yield spec
    template = spec.get("template", {}).get("spec")
    if template is not None:
        yield template
    job = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if job is not None:
        yield job


def containers(resource: Resource) -> Iterator[dict[str, Any]]:
    for spec in pod_specs(resource):
        for field in CONTAINER_LISTS:
            yield from spec.get(field, [])


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/repo/name:tag@sha256:…`` → (name, tag, digest)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def set_image(resources: Iterable[Resource], rule: dict[str, Any]) -> None:
    for resource in resources:
        for container in containers(resource):
            name, tag, digest = split_image(container["image"])
            if name != rule["name"]:
                continue
            name = rule.get("newName", name)
            if "digest" in rule:
                tag, digest = None, rule["digest"]
            elif "newTag" in rule:
                tag, digest = str(rule["newTag"]), None
            container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")

#!/usr/bin/env python3
"""Checks the manifests mlops-deploy renders against real schemas (used by its tests).

    check_manifests.py DIR

For every *.yaml / *.json file in DIR (one object each):
  - serving.kserve.io InferenceService / ClusterServingRuntime: built field by field into
    the `kserve` Python SDK's model classes (V1beta1InferenceService, ...), refusing any
    key the SDK does not know, letting the SDK's setters check required fields, then
    serialised back through the SDK's attribute maps; the round trip must give the same
    document (so nothing was dropped or renamed).
  - core / apps objects (Service, Deployment, ...): `kubernetes-validate --strict`
    against the Kubernetes OpenAPI schema.
  - Argo Rollouts objects are left to the Rust tests (no Python model exists).
Prints one line per file and exits 1 on the first failure.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import kserve
import kubernetes.client
import yaml

PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object}


def resolve(name):
    for mod in (kserve, kubernetes.client):
        if hasattr(mod, name):
            return getattr(mod, name)
    raise KeyError(f"no model class {name}")


def build(data, typ, path):
    if typ == "ResourceQuantity":  # a Kubernetes quantity: "500m", "1Gi" or a number
        if not isinstance(data, (str, int, float)):
            raise TypeError(f"{path}: expected a quantity")
        return data
    m = re.fullmatch(r"[lL]ist\[(.+)\]", typ)
    if m:
        if not isinstance(data, list):
            raise TypeError(f"{path}: expected a list")
        return [build(x, m.group(1), f"{path}[{i}]") for i, x in enumerate(data)]
    m = re.fullmatch(r"dict\(([^,]+), (.+)\)", typ) or re.fullmatch(r"Dict\[([^,]+), (.+)\]", typ)
    if m:
        if not isinstance(data, dict):
            raise TypeError(f"{path}: expected a map")
        return {k: build(v, m.group(2), f"{path}.{k}") for k, v in data.items()}
    if typ in PRIMITIVES:
        if typ != "object" and not isinstance(data, PRIMITIVES[typ]):
            raise TypeError(f"{path}: expected {typ}, got {type(data).__name__}")
        return data
    if typ == "datetime":
        return data
    klass = resolve(typ)
    if not isinstance(data, dict):
        raise TypeError(f"{path}: expected an object for {typ}")
    by_json = {v: k for k, v in klass.attribute_map.items()}
    kwargs = {}
    for key, value in data.items():
        if key not in by_json:
            raise KeyError(f"{path}.{key}: not a field of {typ}")
        attr = by_json[key]
        kwargs[attr] = build(value, klass.openapi_types[attr], f"{path}.{key}")
    return klass(**kwargs)


def serialize(obj, src):
    """The model object back to JSON by the SDK's own attribute_map; fields the input did
    not have are left out when the SDK only filled them with an empty default."""
    if isinstance(obj, list):
        return [serialize(x, s) for x, s in zip(obj, src if isinstance(src, list) else [None] * len(obj))]
    if isinstance(obj, dict):
        return {k: serialize(v, (src or {}).get(k)) for k, v in obj.items()}
    if hasattr(obj, "attribute_map"):
        out = {}
        for attr, key in obj.attribute_map.items():
            value = getattr(obj, attr)
            if value is None:
                continue
            if key not in (src or {}) and value in ("", [], {}):
                continue
            out[key] = serialize(value, (src or {}).get(key))
        return out
    return obj


def check_kserve(doc, name):
    kind = doc["kind"]
    klass = {"InferenceService": "V1beta1InferenceService",
             "ClusterServingRuntime": "V1alpha1ClusterServingRuntime"}[kind]
    obj = build(doc, klass, kind)
    back = serialize(obj, doc)
    if back != doc:
        raise ValueError(f"round trip through {klass} changed the document:\n"
                         f"{json.dumps(back, sort_keys=True)}\n!=\n{json.dumps(doc, sort_keys=True)}")


def main():
    root = Path(sys.argv[1])
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    if not files:
        print(f"no manifests in {root}", file=sys.stderr)
        return 1
    for p in files:
        doc = yaml.safe_load(p.read_text())
        api = doc.get("apiVersion", "")
        try:
            if api.startswith("serving.kserve.io/"):
                check_kserve(doc, p.name)
                how = "kserve SDK model classes"
            elif api.startswith("argoproj.io/"):
                print(f"skip {p.name}: Argo Rollouts (checked by the Rust tests)")
                continue
            else:
                r = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", str(p)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise ValueError(r.stdout + r.stderr)
                how = "kubernetes-validate --strict"
        except Exception as e:  # noqa: BLE001 - report and fail
            print(f"FAIL {p.name}: {e}")
            return 1
        print(f"ok {p.name} ({doc['kind']}, {how})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

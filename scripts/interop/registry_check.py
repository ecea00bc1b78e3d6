#!/usr/bin/env python3
"""Interop check of the mlops registry against the MLflow Python client.

Run by mlops-core's integration tests (tests/integration/registry.rs) with
$MLOPS_TEST_PYTHON, in one of two steps, against either a local file store
(`file:` URI, MLFLOW_ALLOW_FILE_STORE=true is set here) or a real server (`http:` URI):

  check    URI MODEL ALIAS VERSION DIGEST
      the alias, registered from Rust, must resolve through the Python client's
      get_model_version_by_alias to VERSION, carrying the package digest tag DIGEST.
  register URI MODEL ALIAS SOURCE RUN_ID DIGEST
      registers a new version of MODEL from Python (source SOURCE, run RUN_ID or "-",
      package digest tag DIGEST) and points ALIAS at it, for Rust to resolve.

Prints one JSON object on stdout; exits non-zero (with the reason) when a check fails.
"""
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

from mlflow import MlflowClient  # noqa: E402

DIGEST_TAG = "mlops.package_digest"


def client(uri):
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def check(uri, model, alias, version, digest):
    c = client(uri)
    mv = c.get_model_version_by_alias(model, alias)
    problems = []
    if str(mv.version) != str(version):
        problems.append(f"alias {alias} -> version {mv.version}, expected {version}")
    if mv.tags.get(DIGEST_TAG) != digest:
        problems.append(f"digest tag {mv.tags.get(DIGEST_TAG)!r}, expected {digest!r}")
    if alias not in (mv.aliases or []):
        problems.append(f"version aliases {mv.aliases!r} lack {alias}")
    rm = c.get_registered_model(model)
    if rm.aliases.get(alias) != str(version):
        problems.append(f"registered model aliases {rm.aliases!r}")
    if uri.startswith("file:"):
        # The SDK keeps its state beside the root, so MLflow's tracking store still lists
        # experiments on the same root (a stray directory inside would make it raise).
        try:
            c.search_experiments()
        except Exception as e:  # noqa: BLE001
            problems.append(f"search_experiments on the same root failed: {e}")
    out = {"version": str(mv.version), "source": mv.source, "tags": mv.tags,
           "aliases": list(mv.aliases or []), "problems": problems}
    print(json.dumps(out))
    return 1 if problems else 0


def register(uri, model, alias, source, run_id, digest):
    c = client(uri)
    mv = c.create_model_version(
        model, source, run_id=None if run_id == "-" else run_id,
        tags={DIGEST_TAG: digest, "registered_by": "python"},
        description="registered from Python",
    )
    c.set_registered_model_alias(model, alias, mv.version)
    print(json.dumps({"version": str(mv.version)}))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    step, args = argv[1], argv[2:]
    if step == "check" and len(args) == 5:
        return check(*args)
    if step == "register" and len(args) == 6:
        return register(*args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

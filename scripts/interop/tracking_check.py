#!/usr/bin/env python3
"""Interop checks between the Rust tracker and the MLflow Python client.

Run by mlops-core's integration tests (with MLOPS_TEST_PYTHON). Two modes, one format:

  tracking_check.py dump  --uri URI --run RUN_ID --out FILE
      reads a run (logged from Rust) with MlflowClient and writes what Python sees;
  tracking_check.py write --uri URI --experiment NAME --out FILE
      logs a run (params, metrics with steps incl. NaN, tags, a nested run, a directory
      of artifacts) with MlflowClient, then writes the same dump of it.

The dump (JSON): run info, params, tags, the full history of every metric as
[timestamp, repr(value), step] (repr keeps NaN/inf and every bit of the value), the
SHA-256 of every artifact file, and the ids of child runs. The Rust side compares it to
what it logged / what it reads, value by value.

For file: URIs MLFLOW_ALLOW_FILE_STORE=true is set here (MLflow 3 refuses file stores
without it).
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402


def dump(client, run_id):
    run = client.get_run(run_id)
    info = run.info
    metrics = {}
    for key in run.data.metrics:
        hist = client.get_metric_history(run_id, key)
        metrics[key] = [[m.timestamp, repr(float(m.value)), m.step] for m in hist]
    artifacts = {}
    with tempfile.TemporaryDirectory() as d:
        if client.list_artifacts(run_id):
            local = client.download_artifacts(run_id, "", d)
            for root, _dirs, files in os.walk(local):
                for f in files:
                    p = os.path.join(root, f)
                    rel = os.path.relpath(p, local).replace(os.sep, "/")
                    with open(p, "rb") as fh:
                        artifacts[rel] = hashlib.sha256(fh.read()).hexdigest()
    children = [
        r.info.run_id
        for r in client.search_runs(
            [info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
        )
    ]
    return {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "metrics": metrics,
        "artifacts": artifacts,
        "children": sorted(children),
    }


def write(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    run = client.create_run(exp_id, run_name="python-run", tags={"origin": "python", "t/nested": "x y"})
    rid = run.info.run_id
    client.log_batch(rid, params=[Param("lr", "0.01"), Param("layers", "3"), Param("p/sub", "é ü")])
    ts = 1_700_000_000_000
    points = []
    for step in range(600):
        points.append(Metric("loss", 1.0 / (step + 1), ts + step, step))
        points.append(Metric("acc", float("nan") if step == 7 else step / 600.0, ts + step, step))
        points.append(Metric("group/lr", 0.1 * 0.99**step, ts + step, step))
    for i in range(0, len(points), 1000):
        client.log_batch(rid, metrics=points[i : i + 1000])
    client.log_metric(rid, "single", 3.25, timestamp=ts, step=-2)
    client.set_tag(rid, "stage", "candidate")
    child = client.create_run(exp_id, run_name="python-child", tags={"mlflow.parentRunId": rid})
    client.log_metric(child.info.run_id, "child_metric", 0.5, timestamp=ts, step=1)
    client.set_terminated(child.info.run_id)
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "sub"))
        with open(os.path.join(d, "a.txt"), "w") as f:
            f.write("hello from python\n")
        with open(os.path.join(d, "sub", "b.bin"), "wb") as f:
            f.write(bytes(range(256)) * 40)
        client.log_artifacts(rid, d, "data")
    client.set_terminated(rid, "FINISHED")
    return rid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["dump", "write"])
    ap.add_argument("--uri", required=True)
    ap.add_argument("--run")
    ap.add_argument("--experiment")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    client = MlflowClient(tracking_uri=a.uri)
    rid = a.run if a.mode == "dump" else write(client, a.experiment)
    with open(a.out, "w") as f:
        json.dump(dump(client, rid), f)
    print(f"ok {rid}")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""scikit-learn models as ONNX, and onnxruntime's answers on them: the reference the
Rust `onnx` flavor (tract plus our ONNX-ML ops) must reproduce.

Four commands, all deterministic (fixed data, fixed seeds):

  fixtures OUT_DIR
      Writes small .onnx graphs and OUT_DIR/reference.json: one case per graph with its
      inputs and onnxruntime's outputs. Single-node graphs cover each ONNX-ML op in the
      variants skl2onnx and onnxruntime treat differently (binary layouts, post
      transforms, base values, string labels, ZipMap); small scikit-learn models
      converted by skl2onnx cover whole pipelines. Committed as
      mlops-train/tests/data/onnx/ (plain `cargo test` checks every case).
  register PREFIX OUT_JSON
      Trains the logistic regression (in a Pipeline with StandardScaler), the random
      forest and the gradient boosting classifier on fixed binary and multiclass data,
      converts each with skl2onnx (zipmap=False; one more with ZipMap), logs it with
      mlflow.onnx.log_model on the server named by MLFLOW_TRACKING_URI, registers it as
      PREFIX-<model>-<task> and points the alias `champion` at it. Writes OUT_JSON with
      the model names, the evaluation rows and onnxruntime's labels and probabilities.
  scoring FIXTURE_DIR OUT_JSON
      MLflow's scoring answers for the scikit-learn fixtures (FIXTURE_DIR as `fixtures`
      wrote it): each graph saved with mlflow.onnx.save_model, loaded as a pyfunc,
      asked to predict a pandas frame of the case's rows (columns "0".."7") and its
      answer turned into JSON by the scoring server's predictions_to_json, or the error
      MLflow raises. OUT_JSON maps case name to {"predictions": ...} or {"error": ...}.
  bench OUT_DIR
      Writes bench-sized models (logistic, 100-tree forest) and their evaluation rows for
      scripts/bench-onnx, and prints onnxruntime's single-row and 100-row latency.

Data: sklearn.datasets.make_classification (no download). Multiclass labels are
strings, so the string-label paths are exercised too.
"""
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402

ML = "ai.onnx.ml"
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)]
MULTI_LABELS = np.array(["high", "low", "mid"])
N_FEATURES = 8


def dataset(task, n_samples=600, seed=None):
    """Fixed data: 8 float32 features; binary int labels or 3 string labels."""
    if task == "binary":
        X, y = make_classification(n_samples=n_samples, n_features=N_FEATURES, n_informative=5,
                                   n_redundant=1, random_state=seed or 7)
    else:
        X, y = make_classification(n_samples=n_samples, n_features=N_FEATURES, n_informative=5,
                                   n_redundant=1, n_classes=3, random_state=seed or 11)
        y = MULTI_LABELS[y]
    X = X.astype(np.float32)
    return X, y


def sklearn_models(size):
    """name -> (estimator, the step that takes the zipmap option)."""
    trees, depth = (10, 4) if size == "small" else (100, 8) if size == "bench" else (50, 8)
    lr = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    rf = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=0)
    gb = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=0)
    return {"lr": (lr, lr.steps[-1][1]), "rf": (rf, rf), "gb": (gb, gb)}


def convert(model, step, X, zipmap=False):
    return to_onnx(model, X[:1], options={id(step): {"zipmap": zipmap}},
                   target_opset={"": 17, ML: 1})


def tensor_json(a):
    a = np.asarray(a)
    def num(v):  # JSON has no NaN: null stands for it
        return None if np.isnan(v) else float(v)

    if a.dtype.kind in "US" or a.dtype == object:
        dt, data = "string", [str(v) for v in a.reshape(-1)]
    elif a.dtype == np.float32:
        dt, data = "float32", [num(v) for v in a.reshape(-1)]
    elif a.dtype == np.float64:
        dt, data = "float64", [num(v) for v in a.reshape(-1)]
    elif a.dtype == np.int64:
        dt, data = "int64", [int(v) for v in a.reshape(-1)]
    elif a.dtype == np.int32:
        dt, data = "int32", [int(v) for v in a.reshape(-1)]
    else:
        raise SystemExit(f"unsupported dtype {a.dtype}")
    return {"dtype": dt, "shape": list(a.shape), "data": data}


def run_ort(model_bytes, feeds):
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(None, feeds)
    result = []
    for name, out in zip(names, outs):
        if isinstance(out, list):  # ZipMap: a list of {class: probability}
            keys = list(out[0].keys())
            rows = [[float(np.float32(d[k])) for k in keys] for d in out]
            result.append({"name": name, "dtype": "zipmap", "keys": [str(k) for k in keys],
                           "shape": [len(rows), len(keys)],
                           "data": [v for r in rows for v in r]})
        else:
            result.append({"name": name, **tensor_json(out)})
    return result


def graph(op, inputs, outputs, attrs):
    """One ONNX-ML node (plus helpers) as a model."""
    node = helper.make_node(op, [i.name for i in inputs], [o.name for o in outputs], domain=ML,
                            **attrs)
    g = helper.make_graph([node], op, inputs, outputs)
    m = helper.make_model(g, opset_imports=OPSETS, producer_name="mlops-fixtures")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def fin(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def op_cases(rng):
    """Single-op graphs: (name, model, feeds)."""
    cases = []
    X3 = rng.normal(size=(7, 3)).astype(np.float32)
    X3[2] = 0.0  # a zero row (normalizers divide by nothing)
    X3[4, :] = [-2.0, -1.0, -0.5]  # all negative (MAX norm of a negative row)
    x_f = fin("X", TensorProto.FLOAT, [None, 3])
    y_f = fin("Y", TensorProto.FLOAT, [None, 3])

    cases.append(("scaler_float", graph("Scaler", [x_f], [y_f],
                  {"offset": [0.5, -1.0, 2.0], "scale": [2.0, 0.25, -3.0]}), {"X": X3}))
    cases.append(("scaler_scalar_params", graph("Scaler", [x_f], [y_f],
                  {"offset": [0.1], "scale": [1.7]}), {"X": X3}))
    x_d = fin("X", TensorProto.DOUBLE, [None, 3])
    cases.append(("scaler_double", graph("Scaler", [x_d], [y_f],
                  {"offset": [0.1, 0.2, 0.3], "scale": [3.0, 1e-3, 7.5]}),
                  {"X": rng.normal(size=(5, 3)) * 1e3}))
    for norm in ("MAX", "L1", "L2"):
        cases.append((f"normalizer_{norm.lower()}", graph("Normalizer", [x_f], [y_f],
                      {"norm": norm}), {"X": X3}))

    X4 = rng.normal(size=(9, 4)).astype(np.float32)
    X4[0] = 0.0
    coef2 = rng.normal(size=(2, 4)).astype(np.float32)
    coef3 = rng.normal(size=(3, 4)).astype(np.float32)
    x4 = fin("X", TensorProto.FLOAT, [None, 4])
    lab_i = fin("label", TensorProto.INT64, [None])
    lab_s = fin("label", TensorProto.STRING, [None])

    def probs(c):
        return fin("probabilities", TensorProto.FLOAT, [None, c])

    # skl2onnx's binary layout: two models (-w, w), LOGISTIC.
    cases.append(("linear_binary_two_models_logistic", graph(
        "LinearClassifier", [x4], [lab_i, probs(2)],
        {"classlabels_ints": [0, 1], "coefficients": list(np.r_[-coef2[0], coef2[0]]),
         "intercepts": [-0.3, 0.3], "multi_class": 0, "post_transform": "LOGISTIC"}), {"X": X4}))
    for post in ("NONE", "LOGISTIC"):
        cases.append((f"linear_binary_one_model_{post.lower()}", graph(
            "LinearClassifier", [x4], [lab_i, probs(2)],
            {"classlabels_ints": [3, 7], "coefficients": list(coef2[0]), "intercepts": [0.2],
             "post_transform": post}), {"X": X4}))
    for post in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        cases.append((f"linear_multi_{post.lower()}", graph(
            "LinearClassifier", [x4], [lab_s, probs(3)],
            {"classlabels_strings": list(MULTI_LABELS), "coefficients": list(coef3.reshape(-1)),
             "intercepts": [0.1, -0.2, 0.05], "multi_class": 1, "post_transform": post}),
            {"X": X4}))
    cases.append(("linear_multi_double_input", graph(
        "LinearClassifier", [fin("X", TensorProto.DOUBLE, [None, 4])], [lab_i, probs(3)],
        {"classlabels_ints": [10, 20, 30], "coefficients": list(coef3.reshape(-1)),
         "intercepts": [0.0, 0.5, -0.5], "post_transform": "SOFTMAX"}),
        {"X": X4.astype(np.float64)}))

    # ArrayFeatureExtractor with constant indices; Cast (a standard op) after it.
    idx = helper.make_tensor("indices", TensorProto.INT64, [3], [0, 3, 3])
    z = fin("Z", TensorProto.FLOAT, [None, 3])
    node = helper.make_node("ArrayFeatureExtractor", ["X", "indices"], ["Z"], domain=ML)
    g = helper.make_graph([node], "afe", [x4], [z], initializer=[idx])
    m = helper.make_model(g, opset_imports=OPSETS)
    m.ir_version = 8
    cases.append(("array_feature_extractor", m, {"X": X4}))
    cast_node = helper.make_node("Cast", ["X"], ["Y"], to=TensorProto.INT64)
    g = helper.make_graph([cast_node], "cast", [x4], [fin("Y", TensorProto.INT64, [None, 4])])
    m = helper.make_model(g, opset_imports=OPSETS)
    m.ir_version = 8
    cases.append(("cast_float_to_int64", m, {"X": X4 * 10}))

    # A hand-made tree ensemble with every branch mode and NaN tracking.
    modes = ["BRANCH_LT", "BRANCH_GTE", "LEAF", "LEAF", "LEAF",
             "BRANCH_EQ", "BRANCH_NEQ", "LEAF", "LEAF", "LEAF"]
    XT = np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 0.0], [np.nan, 0.0, 1.0], [2.0, np.nan, 3.0],
                   [0.0, 3.0, np.nan], [1.0, 2.0, 2.0]], dtype=np.float32)
    tree_attrs = {
        "nodes_treeids": [0] * 5 + [1] * 5,
        "nodes_nodeids": [0, 1, 2, 3, 4] * 2,
        "nodes_featureids": [0, 1, 0, 0, 0, 2, 1, 0, 0, 0],
        "nodes_values": [1.0, 1.0, 0, 0, 0, 2.0, 1.0, 0, 0, 0],
        "nodes_modes": modes,
        "nodes_truenodeids": [1, 2, 0, 0, 0, 1, 3, 0, 0, 0],
        "nodes_falsenodeids": [4, 3, 0, 0, 0, 2, 4, 0, 0, 0],
        "nodes_missing_value_tracks_true": [1, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    }
    xt = fin("X", TensorProto.FLOAT, [None, 3])
    leaves = [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)]
    multi = {
        "class_treeids": [t for t, _ in leaves for _ in range(3)],
        "class_nodeids": [n for _, n in leaves for _ in range(3)],
        "class_ids": [0, 1, 2] * len(leaves),
        "class_weights": list(rng.uniform(-1, 1, size=3 * len(leaves)).astype(np.float32)),
    }
    for post, base in (("NONE", None), ("SOFTMAX", [0.1, 0.2, -0.3]), ("LOGISTIC", None),
                       ("SOFTMAX_ZERO", None)):
        attrs = {**tree_attrs, **multi, "classlabels_strings": list(MULTI_LABELS),
                 "post_transform": post}
        if base:
            attrs["base_values"] = base
        cases.append((f"tree_multi_{post.lower()}", graph(
            "TreeEnsembleClassifier", [xt], [lab_s, probs(3)], attrs), {"X": XT}))
    one = {
        "class_treeids": [t for t, _ in leaves],
        "class_nodeids": [n for _, n in leaves],
        "class_ids": [0] * len(leaves),
    }
    for name, w, post, base in (
        ("tree_binary_positive_none", [0.1, 0.3, 0.25, 0.2, 0.05, 0.4], "NONE", None),
        ("tree_binary_mixed_logistic", [-0.4, 0.3, 0.2, -0.1, 0.6, -0.2], "LOGISTIC", [0.05]),
        ("tree_binary_mixed_none", [-0.4, 0.3, 0.2, -0.1, 0.6, -0.2], "NONE", None),
    ):
        attrs = {**tree_attrs, **one, "class_weights": w, "classlabels_int64s": [4, 9],
                 "post_transform": post}
        if base:
            attrs["base_values"] = base
        cases.append((name, graph("TreeEnsembleClassifier", [xt], [lab_i, probs(2)], attrs),
                      {"X": XT}))
    # Binary as multiclass: both class ids present.
    attrs = {**tree_attrs, "class_treeids": [t for t, _ in leaves for _ in range(2)],
             "class_nodeids": [n for _, n in leaves for _ in range(2)]}
    attrs["class_ids"] = [0, 1] * len(leaves)
    attrs["class_weights"] = list(rng.uniform(0, 1, size=2 * len(leaves)).astype(np.float32))
    attrs["classlabels_int64s"] = [0, 1]
    cases.append(("tree_binary_two_classes", graph(
        "TreeEnsembleClassifier", [xt], [lab_i, probs(2)], attrs), {"X": XT}))
    for agg in ("SUM", "AVERAGE", "MIN", "MAX"):
        attrs = {**tree_attrs, "target_treeids": [t for t, _ in leaves for _ in range(2)],
                 "target_nodeids": [n for _, n in leaves for _ in range(2)],
                 "target_ids": [0, 1] * len(leaves),
                 "target_weights": list(rng.normal(size=2 * len(leaves)).astype(np.float32)),
                 "n_targets": 2, "aggregate_function": agg, "base_values": [0.5, -0.5]}
        cases.append((f"tree_regressor_{agg.lower()}", graph(
            "TreeEnsembleRegressor", [xt], [fin("variable", TensorProto.FLOAT, [None, 2])],
            attrs), {"X": XT}))
    return cases


def sklearn_cases():
    cases = []
    for task in ("binary", "multiclass"):
        X, y = dataset(task, n_samples=300)
        for name, (model, step) in sklearn_models("small").items():
            model.fit(X[:250], y[:250])
            cases.append((f"sk_{name}_{task}", convert(model, step, X), {"X": X[250:]}))
            if name == "lr":
                zipped = convert(model, step, X, zipmap=True)
                cases.append((f"sk_{name}_{task}_zipmap", zipped, {"X": X[250:]}))
                if task == "binary":
                    # A ZipMap whose maps are not a graph output: refused at load, with
                    # an error that names zipmap=False (only an output ZipMap is removed).
                    fed = onnx.ModelProto()
                    fed.CopyFrom(zipped)
                    fed.graph.output.remove(fed.graph.output[1])
                    cases.append(("sk_lr_binary_zipmap_fed", fed, {"X": X[250:]}))
    Xr, yr = make_regression(n_samples=200, n_features=5, random_state=3)
    Xr = Xr.astype(np.float32)
    for name, model in (("rf", RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0)),
                        ("gb", GradientBoostingRegressor(n_estimators=10, max_depth=3,
                                                         random_state=0))):
        model.fit(Xr[:150], yr[:150])
        cases.append((f"sk_{name}_regressor", to_onnx(model, Xr[:1], target_opset={"": 17, ML: 1}),
                      {"X": Xr[150:]}))
    return cases


def fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(42)
    out = {"generator": "scripts/interop/onnx_models.py fixtures",
           "versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                        "skl2onnx": __import__("skl2onnx").__version__,
                        "scikit-learn": __import__("sklearn").__version__},
           "cases": []}
    for name, model, feeds in op_cases(rng) + sklearn_cases():
        data = model.SerializeToString()
        with open(os.path.join(out_dir, f"{name}.onnx"), "wb") as f:
            f.write(data)
        out["cases"].append({
            "name": name, "file": f"{name}.onnx",
            "ops": sorted({n.op_type for n in model.graph.node}),
            "inputs": {k: tensor_json(v) for k, v in feeds.items()},
            "outputs": run_ort(data, feeds),
        })
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({"cases": len(out["cases"])}))


def register(prefix, out_json):
    import mlflow
    import mlflow.onnx
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    uri = os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_experiment(f"{prefix}-onnx-interop")
    columns = [f"f{i}" for i in range(N_FEATURES)]
    result = {"models": []}
    for task in ("binary", "multiclass"):
        X, y = dataset(task)
        X_train, y_train, X_eval = X[:500], y[:500], X[500:]
        for name, (model, step) in sklearn_models("interop").items():
            model.fit(X_train, y_train)
            variants = [(f"{prefix}-{name}-{task}", False)]
            if name == "lr" and task == "binary":
                variants.append((f"{prefix}-{name}-{task}-zipmap", True))
            for reg_name, zipmap in variants:
                onx = convert(model, step, X, zipmap=zipmap)
                frame = pd.DataFrame(X_eval, columns=columns)
                sess = ort.InferenceSession(onx.SerializeToString(),
                                            providers=["CPUExecutionProvider"])
                outs = sess.run(None, {sess.get_inputs()[0].name: X_eval})
                labels, probs = outs[0], outs[1]
                if isinstance(probs, list):
                    keys = list(probs[0].keys())
                    probs = np.array([[d[k] for k in keys] for d in probs], dtype=np.float32)
                with mlflow.start_run(run_name=reg_name):
                    info = mlflow.onnx.log_model(
                        onx, name="model", registered_model_name=reg_name,
                        signature=infer_signature(frame, pd.Series(labels, name="label")))
                version = info.registered_model_version
                client.set_registered_model_alias(reg_name, "champion", str(version))
                classes = [str(c) for c in model.classes_]
                result["models"].append({
                    "name": reg_name, "kind": name, "task": task, "zipmap": zipmap,
                    "version": str(version), "classes": classes, "columns": columns,
                    "X": X_eval.astype(np.float64).tolist(),
                    "labels": [str(v) for v in labels],
                    "probabilities": np.asarray(probs, dtype=np.float64).tolist(),
                })
    with open(out_json, "w") as f:
        json.dump(result, f)
    print(json.dumps({"registered": [m["name"] for m in result["models"]]}))


def scoring(fixture_dir, out_json):
    import io
    import tempfile

    import mlflow.onnx
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.pyfunc.scoring_server import predictions_to_json

    with open(os.path.join(fixture_dir, "reference.json")) as f:
        ref = json.load(f)
    result = {}
    for case in ref["cases"]:
        if not case["name"].startswith("sk_") or case["name"].endswith("_fed"):
            continue
        x = case["inputs"]["X"]
        X = np.array(x["data"], dtype=np.float64).reshape(x["shape"])
        frame = pd.DataFrame(X, columns=[str(i) for i in range(X.shape[1])])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model")
            mlflow.onnx.save_model(onnx.load(os.path.join(fixture_dir, case["file"])), path)
            model = mlflow.pyfunc.load_model(path)
            try:
                buf = io.StringIO()
                predictions_to_json(model.predict(frame), buf)
                result[case["name"]] = json.loads(buf.getvalue())
            except Exception as e:  # MLflow's own failure is part of the reference
                result[case["name"]] = {"error": f"{type(e).__name__}: {e}"}
    with open(out_json, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: "error" in v for k, v in result.items()}))


def bench(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    X, y = dataset("binary", n_samples=2000)
    models = sklearn_models("bench")
    report = {}
    for name in ("lr", "rf"):
        model, step = models[name]
        model.fit(X[:1500], y[:1500])
        data = convert(model, step, X).SerializeToString()
        with open(os.path.join(out_dir, f"{name}.onnx"), "wb") as f:
            f.write(data)
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        sess_opts = ort.SessionOptions()
        sess_opts.intra_op_num_threads = 1
        sess1 = ort.InferenceSession(data, sess_opts, providers=["CPUExecutionProvider"])
        for label, s in (("default threads", sess), ("1 thread", sess1)):
            for rows in (1, 100):
                batch = X[1500:1500 + rows]
                for _ in range(200):
                    s.run(None, {"X": batch})
                times = []
                for i in range(2000 if rows == 1 else 500):
                    t = time.perf_counter()
                    s.run(None, {"X": batch})
                    times.append((time.perf_counter() - t) * 1e6)
                times.sort()
                report[f"{name} {rows} row(s), onnxruntime {label}"] = {
                    "p50_us": times[len(times) // 2], "p99_us": times[int(len(times) * 0.99)]}
    np.savetxt(os.path.join(out_dir, "rows.csv"), X[1500:1600], delimiter=",")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "fixtures" and len(sys.argv) == 3:
        fixtures(sys.argv[2])
    elif cmd == "register" and len(sys.argv) == 4:
        register(sys.argv[2], sys.argv[3])
    elif cmd == "scoring" and len(sys.argv) == 4:
        scoring(sys.argv[2], sys.argv[3])
    elif cmd == "bench" and len(sys.argv) == 3:
        bench(sys.argv[2])
    else:
        raise SystemExit(__doc__)

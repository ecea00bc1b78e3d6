"""Trains the benchmark's scikit-learn classifier on the rows the Rust model was
trained on (wine.csv from the serve_fixture example) and saves it as MLflow models:

- OUT/sklearn-model: mlflow.sklearn (StandardScaler + LogisticRegression pipeline,
  with a signature), what `mlflow models serve` serves;
- OUT/onnx-model: the same fitted pipeline converted by skl2onnx (zipmap=False) and
  saved with mlflow.onnx, what our server serves through the onnx flavor (skipped,
  with a note on stderr, when skl2onnx is not installed).

The benchmark compares serving cost; the tests compare answers.
"""

import shutil
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = Path(sys.argv[1])
df = pd.read_csv(out / "wine.csv")
X, y = df.drop(columns=["good"]), df["good"]
clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)).fit(X, y)
print(f"sklearn training accuracy {clf.score(X, y):.4f}", file=sys.stderr)

for d in ("sklearn-model", "onnx-model"):
    shutil.rmtree(out / d, ignore_errors=True)
mlflow.sklearn.save_model(
    clf,
    str(out / "sklearn-model"),
    signature=infer_signature(X, clf.predict(X)),
    input_example=X.head(3),
)
try:
    from skl2onnx import to_onnx
except ImportError:
    print("skl2onnx is not installed: no ONNX model", file=sys.stderr)
    sys.exit(0)
onx = to_onnx(
    clf,
    X[:1].to_numpy(dtype=np.float32),
    options={id(clf.steps[-1][1]): {"zipmap": False}},
)
mlflow.onnx.save_model(
    onx, str(out / "onnx-model"), signature=infer_signature(X, clf.predict(X))
)
print(out / "onnx-model")

#!/usr/bin/env python3
"""Reference values for mlops-deploy's windowed quality numbers.

Writes mlops-deploy/tests/data/monitor_vectors.json. Run it with the workspace venv:

    .venv/bin/python scripts/vectors/monitor_vectors.py

- accuracy, precision, recall, ROC AUC: scikit-learn.
- Wilson score interval: statsmodels' proportion_confint(method="wilson") formula,
  evaluated here with scipy.stats.norm.ppf (statsmodels is not in the venv).
- DeLong's AUC variance: computed by its definition (every positive/negative pair's
  placement values, O(m n)), not by the midrank shortcut the Rust code uses.
"""
import json
import math
import os

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn import metrics

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "mlops-deploy", "tests", "data",
                   "monitor_vectors.json")


def wilson(x, n, conf):
    z = stats.norm.ppf(0.5 + conf / 2)
    p = x / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [p, max(0.0, center - half), min(1.0, center + half)]


def delong(y, s):
    pos = s[y == 1]
    neg = s[y == 0]
    psi = (pos[:, None] > neg[None, :]).astype(float) + 0.5 * (pos[:, None] == neg[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    auc = psi.mean()
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    return auc, var


rng = np.random.default_rng(14)
cases = []
for i, (n, rate, rounding) in enumerate([(40, 0.5, None), (300, 0.3, 2), (1000, 0.1, None),
                                         (57, 0.7, 1), (2000, 0.5, 3)]):
    y = (rng.random(n) < rate).astype(int)
    score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    if rounding is not None:
        score = np.round(score, rounding)  # ties
    pred = (score >= 0.5).astype(int)
    conf = [0.9, 0.95, 0.99][i % 3]
    auc, var = delong(y, score)
    assert abs(auc - metrics.roc_auc_score(y, score)) < 1e-12
    z = stats.norm.ppf(0.5 + conf / 2)
    tp = int(((pred == 1) & (y == 1)).sum())
    cases.append({
        "y_true": y.tolist(),
        "score": score.tolist(),
        "y_pred": pred.tolist(),
        "confidence": conf,
        "accuracy": wilson(int((pred == y).sum()), n, conf),
        "accuracy_sklearn": metrics.accuracy_score(y, pred),
        "precision": wilson(tp, int(pred.sum()), conf),
        "precision_sklearn": metrics.precision_score(y, pred, zero_division=0),
        "recall": wilson(tp, int(y.sum()), conf),
        "recall_sklearn": metrics.recall_score(y, pred, zero_division=0),
        "roc_auc": [auc, max(0.0, auc - z * math.sqrt(var)), min(1.0, auc + z * math.sqrt(var))],
        "delong_variance": var,
    })

with open(OUT, "w") as f:
    json.dump({"versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                            "sklearn": sklearn.__version__},
               "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")

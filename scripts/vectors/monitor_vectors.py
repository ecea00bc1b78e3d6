#!/usr/bin/env python3
"""Reference values for mlops-deploy's windowed quality numbers.

Writes mlops-deploy/tests/data/monitor_vectors.json. Run it with the workspace venv:

    .venv/bin/python scripts/vectors/monitor_vectors.py

- accuracy, precision, recall, ROC AUC: scikit-learn.
- Wilson score interval: statsmodels' proportion_confint(method="wilson") formula,
  evaluated here with scipy.stats.norm.ppf (statsmodels is not in the venv).
- DeLong's AUC variance: computed by its definition (every positive/negative pair's
  placement values, O(m n)), not by the midrank shortcut the Rust code uses.
- Multiclass macro precision and recall: values from scikit-learn
  (average="macro", zero_division=0); intervals (adjusted Wald, see macro_adjusted)
  from scikit-learn's confusion matrix and per-class figures.
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



def macro_adjusted(successes, trials, conf):
    """Macro mean of per-class proportions with the adjusted Wald interval: each class
    that has trials gets 2/K successes and 4/K trials added (Agresti-Caffo's one success
    and one failure per group when K = 2); the variance is the sum of the adjusted
    per-class binomial variances over K^2. A class without trials counts 0 (scikit-learn's
    zero_division=0) and adds no variance."""
    k = len(trials)
    z = stats.norm.ppf(0.5 + conf / 2)
    a, b = 2.0 / k, 4.0 / k
    has = trials > 0
    adj = np.where(has, (successes + a) / (trials + b), 0.0)
    var = np.where(has, adj * (1 - adj) / (trials + b), 0.0).sum() / k ** 2
    center = adj.mean()
    half = z * math.sqrt(var)
    return max(0.0, center - half), min(1.0, center + half)


# Multiclass: macro precision and recall over the labels present in y_true or y_pred
# (scikit-learn's default labels), values from scikit-learn, intervals from its
# per-class counts.
multiclass = []
for i, (n, k, acc, drop_pred, extra_pred) in enumerate([
        (60, 3, 0.9, None, None), (400, 4, 0.7, None, None), (1500, 5, 0.55, None, None),
        (90, 3, 0.97, None, None), (200, 4, 0.8, 3, None), (150, 3, 0.75, None, 3)]):
    prior = rng.dirichlet(np.full(k, 3.0))
    y = rng.choice(k, size=n, p=prior)
    wrong = rng.random(n) >= acc
    pred = np.where(wrong, (y + rng.integers(1, k, size=n)) % k, y)
    if drop_pred is not None:  # a class never predicted: precision 0 by zero_division
        pred = np.where(pred == drop_pred, (drop_pred + 1) % k, pred)
    if extra_pred is not None:  # a predicted class absent from y_true: recall 0
        pred = np.where(rng.random(n) < 0.05, extra_pred, pred)
    conf = [0.9, 0.95, 0.99][i % 3]
    labels = np.unique(np.concatenate([y, pred]))
    cm = metrics.confusion_matrix(y, pred, labels=labels)
    tp = np.diag(cm).astype(float)
    prec, rec, _, support = metrics.precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0)
    assert np.allclose(prec, np.where(cm.sum(0) > 0, tp / np.maximum(cm.sum(0), 1), 0.0))
    assert np.array_equal(support, cm.sum(1))
    multiclass.append({
        "y_true": y.tolist(),
        "y_pred": pred.tolist(),
        "confidence": conf,
        "labels": labels.tolist(),
        "precision_macro": [metrics.precision_score(y, pred, average="macro", zero_division=0),
                            *macro_adjusted(tp, cm.sum(0).astype(float), conf)],
        "recall_macro": [metrics.recall_score(y, pred, average="macro", zero_division=0),
                         *macro_adjusted(tp, cm.sum(1).astype(float), conf)],
        "accuracy": wilson(int((pred == y).sum()), n, conf),
    })

with open(OUT, "w") as f:
    json.dump({"versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                            "sklearn": sklearn.__version__},
               "cases": cases, "multiclass": multiclass}, f)
print(f"wrote {len(cases)} binary and {len(multiclass)} multiclass cases to "
      f"{os.path.normpath(OUT)}")

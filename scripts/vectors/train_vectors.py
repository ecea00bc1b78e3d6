#!/usr/bin/env python3
"""Reference values for mlops-train's metrics, statistical tests and fairness measures.

Writes mlops-train/tests/data/metrics_vectors.json. Run it with the workspace venv:

    .venv/bin/python scripts/vectors/train_vectors.py

Every value comes from scikit-learn / SciPy (versions recorded in the file). Where the
reference library is not installed in the venv, the definition is computed here from
its documented formula and said so:
  - McNemar: statsmodels.stats.contingency_tables.mcnemar's formulas (exact: two-sided
    binomial, min(1, 2 * binom.cdf(min(b, c), b + c, 0.5)); asymptotic with continuity
    correction: (|b - c| - 1)^2 / (b + c) against chi2(1)), evaluated with SciPy.
  - DeLong: the fast DeLong algorithm of Sun & Xu (2014), implemented below with numpy
    and scipy.stats.rankdata; its AUCs are checked against sklearn's roc_auc_score.
  - Fairness: Fairlearn's definitions (demographic parity difference = max - min group
    selection rate; equal opportunity difference = max - min group true positive rate),
    with the per-group rates from scikit-learn.
Errors that scikit-learn raises are stored as {"error": "<ExceptionType>"}; NaN results
as the string "nan".
"""
import json
import math
import os
import warnings

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn import metrics as m
from sklearn.calibration import calibration_curve

warnings.simplefilter("ignore")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "mlops-train", "tests", "data", "metrics_vectors.json")


def val(f, *a, **k):
    try:
        v = f(*a, **k)
    except Exception as e:  # noqa: BLE001 - the error type is the expected value
        return {"error": type(e).__name__}
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return [x.tolist() if isinstance(x, np.ndarray) else x for x in v]
    v = float(v)
    return "nan" if math.isnan(v) else v


def binary_case(name, y_true, y_score):
    y_true = np.asarray(y_true, dtype=int)
    y_score = np.asarray(y_score, dtype=float)
    y_pred = (y_score >= 0.5).astype(int)
    e = {
        "accuracy_score": val(m.accuracy_score, y_true, y_pred),
        "balanced_accuracy_score": val(m.balanced_accuracy_score, y_true, y_pred),
        "precision_score": val(m.precision_score, y_true, y_pred),
        "recall_score": val(m.recall_score, y_true, y_pred),
        "f1_score": val(m.f1_score, y_true, y_pred),
        "f1_score_macro": val(m.f1_score, y_true, y_pred, average="macro"),
        "f1_score_weighted": val(m.f1_score, y_true, y_pred, average="weighted"),
        "precision_score_macro": val(m.precision_score, y_true, y_pred, average="macro"),
        "recall_score_macro": val(m.recall_score, y_true, y_pred, average="macro"),
        "precision_score_weighted": val(m.precision_score, y_true, y_pred, average="weighted"),
        "recall_score_weighted": val(m.recall_score, y_true, y_pred, average="weighted"),
        "roc_auc_score": val(m.roc_auc_score, y_true, y_score),
        "average_precision_score": val(m.average_precision_score, y_true, y_score),
        "log_loss": val(m.log_loss, y_true, y_score, labels=[0, 1]),
        "brier_score_loss": val(m.brier_score_loss, y_true, y_score, labels=[0, 1]),
        "matthews_corrcoef": val(m.matthews_corrcoef, y_true, y_pred),
        "confusion_matrix": val(m.confusion_matrix, y_true, y_pred, labels=[0, 1]),
        "calibration_curve": val(calibration_curve, y_true, y_score, n_bins=10, pos_label=1),
    }
    return {"name": name, "y_true": y_true.tolist(), "y_score": y_score.tolist(),
            "y_pred": y_pred.tolist(), "expected": e}


def multiclass_case(name, y_true, y_pred, proba, k):
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    proba = np.asarray(proba, dtype=float)
    labels = list(range(k))
    e = {
        "accuracy_score": val(m.accuracy_score, y_true, y_pred),
        "balanced_accuracy_score": val(m.balanced_accuracy_score, y_true, y_pred),
        "precision_score_macro": val(m.precision_score, y_true, y_pred, average="macro"),
        "recall_score_macro": val(m.recall_score, y_true, y_pred, average="macro"),
        "f1_score_macro": val(m.f1_score, y_true, y_pred, average="macro"),
        "precision_score_weighted": val(m.precision_score, y_true, y_pred, average="weighted"),
        "recall_score_weighted": val(m.recall_score, y_true, y_pred, average="weighted"),
        "f1_score_weighted": val(m.f1_score, y_true, y_pred, average="weighted"),
        "matthews_corrcoef": val(m.matthews_corrcoef, y_true, y_pred),
        "log_loss": val(m.log_loss, y_true, proba, labels=labels),
        "roc_auc_score_ovr_macro": val(m.roc_auc_score, y_true, proba, multi_class="ovr",
                                       average="macro", labels=labels),
        "confusion_matrix": val(m.confusion_matrix, y_true, y_pred, labels=labels),
    }
    return {"name": name, "n_classes": k, "y_true": y_true.tolist(), "y_pred": y_pred.tolist(),
            "y_proba": proba.tolist(), "expected": e}


def regression_case(name, y_true, y_pred):
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    e = {
        "root_mean_squared_error": val(m.root_mean_squared_error, y_true, y_pred),
        "mean_absolute_error": val(m.mean_absolute_error, y_true, y_pred),
        "r2_score": val(m.r2_score, y_true, y_pred),
        "mean_absolute_percentage_error": val(m.mean_absolute_percentage_error, y_true, y_pred),
    }
    return {"name": name, "y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "expected": e}


def fairness_case(name, y_true, y_pred, groups):
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    groups = np.asarray(groups)
    per = {}
    for g in sorted(set(groups.tolist())):
        s = groups == g
        per[g] = {
            "selection_rate": float(np.mean(y_pred[s] == 1)),
            "true_positive_rate": float(m.recall_score(y_true[s], y_pred[s], labels=[0, 1], zero_division=0)),
            "precision_score": float(m.precision_score(y_true[s], y_pred[s], labels=[0, 1], zero_division=0)),
            "recall_score": float(m.recall_score(y_true[s], y_pred[s], labels=[0, 1], zero_division=0)),
            "accuracy_score": float(m.accuracy_score(y_true[s], y_pred[s])),
            "count": int(s.sum()),
        }
    sr = [v["selection_rate"] for v in per.values()]
    tpr = [v["true_positive_rate"] for v in per.values()]
    return {"name": name, "y_true": y_true.tolist(), "y_pred": y_pred.tolist(),
            "groups": groups.tolist(), "expected": {
                "demographic_parity_difference": max(sr) - min(sr),
                "equal_opportunity_difference": max(tpr) - min(tpr),
                "by_group": per}}


def mcnemar_case(b, c):
    n = b + c
    exact_p = min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)) if n > 0 else 1.0
    if n > 0:
        chi2 = (abs(b - c) - 1.0) ** 2 / n
        chi2_p = float(stats.chi2.sf(chi2, 1))
    else:
        chi2, chi2_p = "nan", "nan"
    return {"b": b, "c": c, "exact_pvalue": float(exact_p), "chi2_statistic": chi2, "chi2_pvalue": chi2_p}


# --- fast DeLong (Sun & Xu 2014), for two correlated ROC AUCs on the same rows ---
def _midrank(x):
    return stats.rankdata(x, method="average")


def delong(y_true, s1, s2):
    y_true = np.asarray(y_true)
    order = np.argsort(-y_true, kind="stable")
    m_ = int(y_true.sum())
    n_ = len(y_true) - m_
    preds = np.vstack([np.asarray(s1, float)[order], np.asarray(s2, float)[order]])
    k = preds.shape[0]
    tx = np.empty((k, m_)); ty = np.empty((k, n_)); tz = np.empty((k, m_ + n_))
    for r in range(k):
        tx[r] = _midrank(preds[r, :m_])
        ty[r] = _midrank(preds[r, m_:])
        tz[r] = _midrank(preds[r])
    aucs = tz[:, :m_].sum(axis=1) / m_ / n_ - (m_ + 1.0) / 2.0 / n_
    v01 = (tz[:, :m_] - tx) / n_
    v10 = 1.0 - (tz[:, m_:] - ty) / m_
    sx = np.cov(v01)
    sy = np.cov(v10)
    cov = sx / m_ + sy / n_
    diff = aucs[0] - aucs[1]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = diff / math.sqrt(var)
    p = 2 * stats.norm.sf(abs(z))
    return {"auc1": float(aucs[0]), "auc2": float(aucs[1]), "var1": float(cov[0, 0]),
            "var2": float(cov[1, 1]), "cov12": float(cov[0, 1]), "z": float(z), "pvalue": float(p),
            "sklearn_auc1": float(m.roc_auc_score(y_true, s1)), "sklearn_auc2": float(m.roc_auc_score(y_true, s2))}


def main():
    rng = np.random.default_rng(20261129)
    out = {"generator": "scripts/vectors/train_vectors.py",
           "versions": {"scikit-learn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__}}

    b = []
    y = rng.integers(0, 2, 200)
    s = np.clip(0.35 * y + rng.normal(0.35, 0.2, 200), 0, 1)
    b.append(binary_case("random_200", y, s))
    b.append(binary_case("ties_rounded", y[:100], np.round(s[:100], 1)))
    b.append(binary_case("constant_scores", [0, 1, 1, 0, 1, 0, 0], [0.5] * 7))
    b.append(binary_case("one_class_negative", [0, 0, 0, 0], [0.1, 0.7, 0.3, 0.2]))
    b.append(binary_case("one_class_positive", [1, 1, 1], [0.9, 0.2, 0.6]))
    b.append(binary_case("perfect", [0, 0, 1, 1], [0.0, 0.2, 0.8, 1.0]))
    b.append(binary_case("inverted_with_extremes", [0, 0, 1, 1], [1.0, 0.9, 0.0, 0.1]))
    b.append(binary_case("two_rows", [1, 0], [0.4, 0.6]))
    b.append(binary_case("all_predicted_negative", [0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.45]))
    b.append(binary_case("imbalanced_1000", (rng.random(1000) < 0.07).astype(int),
                         np.round(rng.beta(2, 5, 1000), 3)))
    out["binary"] = b

    mc = []
    for name, n, k, absent in [("three_class_150", 150, 3, None), ("four_class_80", 80, 4, None),
                               ("class_2_absent_from_truth", 60, 3, 2)]:
        yt = rng.integers(0, k, n)
        if absent is not None:
            yt[yt == absent] = 0
        proba = rng.dirichlet(np.ones(k), n)
        proba[np.arange(n), yt] += 0.4
        proba /= proba.sum(axis=1, keepdims=True)
        yp = proba.argmax(axis=1)
        mc.append(multiclass_case(name, yt, yp, proba, k))
    mc.append(multiclass_case("ties_in_predictions", [0, 1, 2, 2, 1, 0], [0, 0, 0, 0, 0, 0],
                              [[1 / 3, 1 / 3, 1 / 3]] * 6, 3))
    out["multiclass"] = mc

    r = []
    yt = rng.normal(10, 3, 120)
    r.append(regression_case("random_120", yt, yt + rng.normal(0, 1.5, 120)))
    r.append(regression_case("constant_truth_perfect", [2, 2, 2], [2, 2, 2]))
    r.append(regression_case("constant_truth_imperfect", [2, 2, 2], [2, 3, 2]))
    r.append(regression_case("zeros_in_truth", [0.0, 1.0, -2.0, 0.0], [0.5, 1.5, -2.0, 0.0]))
    r.append(regression_case("one_row", [3.0], [2.0]))
    r.append(regression_case("negative_r2", [1, 2, 3, 4], [4, 3, 2, 1]))
    out["regression"] = r

    f = []
    n = 300
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    yt = rng.integers(0, 2, n)
    yp = ((yt + (groups == "b") * 0.4 + rng.normal(0, 0.4, n)) > 0.7).astype(int)
    f.append(fairness_case("three_groups", yt, yp, groups))
    f.append(fairness_case("group_without_positives", [0, 0, 1, 1, 0, 1], [0, 1, 1, 0, 0, 1],
                           ["x", "x", "y", "y", "z", "y"]))
    out["fairness"] = f

    out["mcnemar"] = [mcnemar_case(b_, c_) for b_, c_ in
                      [(0, 0), (1, 0), (3, 7), (10, 10), (12, 30), (40, 25), (150, 100), (0, 30)]]

    d = []
    for name, n, sep in [("delong_200", 200, 0.3), ("delong_ties", 120, 0.2)]:
        yt = rng.integers(0, 2, n)
        s1 = yt * sep + rng.normal(0, 0.3, n)
        s2 = 0.7 * s1 + yt * 0.1 + rng.normal(0, 0.2, n)
        if name == "delong_ties":
            s1, s2 = np.round(s1, 1), np.round(s2, 1)
        d.append({"name": name, "y_true": yt.tolist(), "score_a": s1.tolist(), "score_b": s2.tolist(),
                  "expected": delong(yt, s1, s2)})
    out["delong"] = d

    with open(OUT, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()

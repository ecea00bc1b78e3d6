#!/usr/bin/env python3
"""Test vectors for mlops-data's drift statistics.

Writes mlops-data/tests/data/drift_vectors.json: samples (or category counts) and the
values SciPy (and Evidently, for the methods Evidently defines) gives for them. The
Rust tests (tests/integration/drift.rs) must agree to 1e-9 relative.

Run with a Python that has scipy (the repo's .venv):

    .venv/bin/python scripts/vectors/drift_vectors.py

If `evidently` is importable (e.g. the benchmark venv .cache/evvenv), the values of
Evidently's own methods are also computed by Evidently itself and checked against
the formulas below (agreement to 1e-9 is asserted: Evidently sums categories in set order).

Cases cover ties, heavy tails, unseen categories, tiny and large samples and constant
columns.
"""
import json
import math
import os
import sys
import warnings

import numpy as np
from scipy import stats
from scipy.spatial import distance
from scipy.stats._ksstats import kolmogn

warnings.filterwarnings("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "mlops-data", "tests", "data", "drift_vectors.json")


def f(x):
    """JSON-safe float: NaN and infinities as strings."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


# --- Evidently's formulas (evidently/legacy/calculations/stattests, 0.7.23) --------

def ev_binned(ref, cur, numeric, fill, integer=False):
    ref = np.asarray(ref)
    cur = np.asarray(cur)
    if numeric and len(np.unique(ref)) > 20:
        combined = np.concatenate([ref, cur])
        if integer:
            combined = combined.astype(np.int64)
        bins = np.histogram_bin_edges(combined, bins="sturges")
        r = np.histogram(ref, bins)[0] / len(ref)
        c = np.histogram(cur, bins)[0] / len(cur)
        edges = bins
    else:
        keys = sorted(set(ref.tolist()) | set(cur.tolist()))
        r = np.array([np.sum(ref == k) / len(ref) for k in keys])
        c = np.array([np.sum(cur == k) / len(cur) for k in keys])
        edges = None
    if fill:
        for p in (r, c):
            m = min(p[p != 0])
            np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return r, c, edges


def shares_from_counts(rc, cc, fill):
    r = np.asarray(rc, dtype=float) / np.sum(rc)
    c = np.asarray(cc, dtype=float) / np.sum(cc)
    if fill:
        for p in (r, c):
            m = min(p[p != 0])
            np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return r, c


def psi_from(r, c):
    return float(np.sum((r - c) * np.log(r / c)))


def hellinger_num(ref, cur, integer=False):
    keys = np.unique(np.concatenate([ref, cur]))
    if integer:
        keys = keys.astype(np.int64)
    bins = np.histogram_bin_edges(keys, bins="sturges")
    h1 = np.histogram(ref, bins=bins, density=True)[0]
    h2 = np.histogram(cur, bins=bins, density=True)[0]
    bw = (max(bins) - min(bins)) / (len(bins) - 1)
    s = 0.0
    for i in range(len(h1)):
        s += math.sqrt(float(h1[i]) * float(h2[i])) * bw
    return math.sqrt(1 - float(np.clip(s, 0, 1)))


def hellinger_cat(rc, cc):
    r = np.asarray(rc, float) / np.sum(rc)
    c = np.asarray(cc, float) / np.sum(cc)
    s = sum(math.sqrt(a * b) for a, b in zip(r, c))
    return math.sqrt(1 - float(np.clip(s, 0, 1)))


def ev_chisquare(rc, cc):
    k_norm = np.sum(cc) / np.sum(rc)
    f_exp = [r * k_norm for r in rc]
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.chisquare(cc, f_exp)
    return float(res[0]), float(res[1])


def ev_z(rc, cc):
    """Evidently's z-test (first sorted category vs the rest), exact two-sided tail."""
    nz_r = [i for i, v in enumerate(rc) if v > 0]
    nz_c = [i for i, v in enumerate(cc) if v > 0]
    if len(nz_r) == 1 and len(nz_c) == 1 and nz_r == nz_c:
        return 0.0, 1.0
    n1, n2 = float(sum(rc)), float(sum(cc))
    p1 = (n1 - rc[0]) / n1
    p2 = (n2 - cc[0]) / n2
    P = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * stats.norm.sf(abs(z)))


def tvd(rc, cc):
    r = np.asarray(rc, float) / np.sum(rc)
    c = np.asarray(cc, float) / np.sum(cc)
    return 0.5 * float(np.sum(np.abs(r - c)))


# --- cases ----------------------------------------------------------------------

def numeric_cases():
    rng = np.random.default_rng(20261129)
    cases = []

    def add(name, ref, cur, integer=False):
        cases.append((name, np.asarray(ref, float), np.asarray(cur, float), integer))

    add("tiny_5_7", rng.normal(size=5), rng.normal(0.5, 1, size=7))
    add("tiny_3_3", [0.1, 0.7, 0.3], [0.9, 1.2, 0.8])
    add("tiny_ties_8_12", rng.integers(0, 4, 8), rng.integers(1, 5, 12), True)
    add("equal_50_50", rng.normal(size=50), rng.normal(0.3, 1, size=50))
    add("normal_100_110", rng.normal(size=100), rng.normal(size=110))
    add("shift_200_150", rng.normal(size=200), rng.normal(0.4, 1.2, size=150))
    add("cvm_exact_13_17", rng.normal(size=13), rng.normal(0.2, 1, size=17))
    add("cvm_exact_ties_20_20", np.round(rng.normal(size=20), 1), np.round(rng.normal(size=20), 1))
    add("heavy_cauchy_500_600", rng.standard_t(1, size=500), rng.standard_t(1, size=600) * 1.1)
    add("ties_int_300_400", np.round(rng.normal(size=300) * 2), np.round(rng.normal(0.2, 1, size=400) * 2), True)
    add("ints_many_2000_1500", rng.integers(0, 40, 2000), rng.integers(0, 42, 1500), True)
    add("lognormal_3000_2500", rng.lognormal(size=3000), rng.lognormal(0.05, 1, size=2500))
    # asymptotic KS: max(n) > 10000
    add("ks_asymp_small_en_30_12000", np.round(rng.normal(size=30), 3), np.round(rng.normal(size=12000), 3))
    add("ks_asymp_12000_11000", np.round(rng.normal(size=12000), 3), np.round(rng.normal(0.02, 1, size=11000), 3))
    add("ks_asymp_shift_15000_10001", np.round(rng.normal(size=15000), 2), np.round(rng.normal(0.3, 1, size=10001), 2))
    add("constant_same", np.full(40, 3.0), np.full(30, 3.0))
    add("constant_diff", np.full(40, 3.0), np.full(30, 4.0))
    add("two_values", rng.integers(0, 2, 500), rng.integers(0, 2, 400), True)
    add("five_values", rng.integers(0, 5, 700), rng.integers(0, 5, 800), True)
    return cases


def cat_cases():
    return [
        ("binary", [600, 400], [550, 450]),
        ("binary_equal_props", [50, 50], [100, 100]),
        ("five_cats", [200, 150, 100, 30, 20], [180, 160, 90, 50, 20]),
        ("unseen_in_reference", [100, 80, 0], [90, 70, 5]),
        ("unseen_in_current", [100, 80, 5], [90, 70, 0]),
        ("zipf_20", [int(10000 / (i + 1)) for i in range(20)], [int(10000 / (i + 1) ** 1.05) for i in range(20)]),
        ("constant_same", [500], [400]),
        ("single_category_each", [300, 0], [0, 200]),
        ("large_counts", [400123, 300456, 299421], [401000, 299000, 300000]),
    ]


def numeric_vector(name, ref, cur, integer):
    v = {"name": name, "reference": ref.tolist(), "current": cur.tolist(), "integer": integer}
    ks = stats.ks_2samp(ref, cur)
    v["ks"] = [f(ks.statistic), f(ks.pvalue)]
    std = max(float(np.std(ref)), 0.001)
    v["wasserstein_raw"] = f(stats.wasserstein_distance(ref, cur))
    v["wasserstein"] = f(stats.wasserstein_distance(ref, cur) / std)
    v["energy_distance"] = f(stats.energy_distance(ref, cur))
    if len(ref) > 1 and len(cur) > 1:
        t = stats.ttest_ind(ref, cur)
        v["t_test"] = [f(t.statistic), f(t.pvalue)]
        c = stats.cramervonmises_2samp(ref, cur)
        v["cramer_von_mises"] = [f(c.statistic), f(c.pvalue)]
    mw = stats.mannwhitneyu(ref, cur, alternative="two-sided")
    v["mannw"] = [f(mw.statistic), f(mw.pvalue)]
    if len(np.unique(np.concatenate([ref, cur]))) > 1:
        ad = stats.anderson_ksamp([ref, cur], variant="midrank")
        v["anderson"] = [f(ad.statistic), f(ad.pvalue)]
    v["hellinger"] = f(hellinger_num(ref, cur, integer))
    r, c, edges = ev_binned(ref, cur, True, False, integer)
    v["bins"] = {"edges": None if edges is None else [f(e) for e in edges],
                 "reference": [f(x) for x in r], "current": [f(x) for x in c]}
    rf, cf, _ = ev_binned(ref, cur, True, True, integer)
    v["psi"] = f(psi_from(rf, cf))
    v["kl_div"] = f(stats.entropy(rf, cf))
    v["jensenshannon"] = f(distance.jensenshannon(r, c))
    return v


def cat_vector(name, rc, cc):
    v = {"name": name, "reference": rc, "current": cc}
    v["chisquare"] = [f(x) for x in ev_chisquare(rc, cc)]
    if sum(1 for a, b in zip(rc, cc) if a + b > 0) >= 2:
        res = stats.chi2_contingency(np.array([rc, cc]))
        v["chi2_contingency"] = [f(res.statistic), f(res.pvalue)]
    else:
        v["chi2_contingency"] = [0.0, 1.0]
    v["z"] = [f(x) for x in ev_z(rc, cc)]
    r, c = shares_from_counts(rc, cc, True)
    v["psi"] = f(psi_from(r, c))
    v["kl_div"] = f(stats.entropy(r, c))
    r0, c0 = shares_from_counts(rc, cc, False)
    v["jensenshannon"] = f(distance.jensenshannon(r0, c0))
    v["hellinger"] = f(hellinger_cat(rc, cc))
    v["tvd"] = f(tvd(rc, cc))
    return v


def kolmogorov_vectors():
    """kstwo.sf(x, n) over every branch of SciPy's _kolmogn."""
    out = []
    for n in [1, 2, 5, 10, 30, 100, 140, 141, 500, 1000, 5000, 20000, 100000, 100001, 500000, 1200000]:
        for x in [0.3 / n, 0.7 / n, 1.5 / n, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.08, 0.1, 0.2, 0.3, 0.45,
                  0.5, 0.6, 0.9, 1 - 0.5 / n]:
            if 0 < x < 1:
                out.append([n, x, f(kolmogn(n, x, cdf=False))])
    return out


def check_against_evidently(vectors):
    try:
        import pandas as pd
        from evidently.legacy.calculations.stattests import registry  # noqa: F401
        from evidently.legacy.calculations.stattests.psi import _psi
        from evidently.legacy.calculations.stattests.kl_div import _kl_div
        from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
        from evidently.legacy.calculations.stattests.hellinger_distance import _hellinger_distance
        from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
        from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
        from evidently.legacy.calculations.stattests.z_stattest import _z_stat_test
        from evidently.legacy.core import ColumnType
    except Exception as e:  # evidently not installed: formulas above stand alone
        print(f"evidently not importable ({e.__class__.__name__}); skipping the cross-check", file=sys.stderr)
        return
    worst = 0.0

    def close(a, b, what):
        nonlocal worst
        if isinstance(a, str) or isinstance(b, str) or a is None:
            return
        d = abs(a - b) / max(abs(a), abs(b), 1e-300)
        if abs(a - b) < 1e-15:
            d = 0.0
        worst = max(worst, d)
        assert d < 1e-9, (what, a, b)

    for v in vectors["numeric"]:
        ref = pd.Series(v["reference"])
        cur = pd.Series(v["current"])
        if v["integer"]:
            ref = ref.astype(np.int64)
            cur = cur.astype(np.int64)
        num = ColumnType.Numerical
        close(v["psi"], float(_psi(ref, cur, num, 0.1)[0]), v["name"] + " psi")
        close(v["kl_div"], float(_kl_div(ref, cur, num, 0.1)[0]), v["name"] + " kl")
        close(v["jensenshannon"], float(_jensenshannon(ref, cur, num, 0.1)[0]), v["name"] + " js")
        close(v["hellinger"], float(_hellinger_distance(ref.copy(), cur.copy(), num, 0.1)[0]), v["name"] + " hell")
        close(v["wasserstein"], float(_wasserstein_distance_norm(ref, cur, num, 0.1)[0]), v["name"] + " wass")
    for v in vectors["categorical"]:
        labels = [f"c{i:02d}" for i in range(len(v["reference"]))]
        ref = pd.Series([l for l, n in zip(labels, v["reference"]) for _ in range(n)])
        cur = pd.Series([l for l, n in zip(labels, v["current"]) for _ in range(n)])
        cat = ColumnType.Categorical
        close(v["psi"], float(_psi(ref, cur, cat, 0.1)[0]), v["name"] + " psi")
        close(v["kl_div"], float(_kl_div(ref, cur, cat, 0.1)[0]), v["name"] + " kl")
        close(v["jensenshannon"], float(_jensenshannon(ref, cur, cat, 0.1)[0]), v["name"] + " js")
        close(v["hellinger"], float(_hellinger_distance(ref.copy(), cur.copy(), cat, 0.1)[0]), v["name"] + " hell")
        with np.errstate(divide="ignore", invalid="ignore"):
            close(v["chisquare"][1], float(_chi_stat_test(ref, cur, cat, 0.05)[0]), v["name"] + " chi")
        zp = float(_z_stat_test(ref, cur, cat, 0.05)[0])
        if v["z"][1] > 1e-6:
            close(v["z"][1], zp, v["name"] + " z")
    print(f"evidently cross-check passed (worst relative difference {worst:.2e})", file=sys.stderr)


def main():
    vectors = {
        "generator": "scripts/vectors/drift_vectors.py",
        "scipy": __import__("scipy").__version__,
        "numpy": np.__version__,
        "numeric": [numeric_vector(*c) for c in numeric_cases()],
        "categorical": [cat_vector(*c) for c in cat_cases()],
        "kolmogorov_sf": kolmogorov_vectors(),
    }
    check_against_evidently(vectors)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(vectors, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

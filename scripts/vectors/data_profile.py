#!/usr/bin/env python3
"""Test vectors for mlops-data profiles: exact statistics of the red-wine data.

Reads mlops-data/tests/data/winequality-red.csv (extracted from linfa-datasets' embedded
winequality-red.csv.gz) and writes mlops-data/tests/data/winequality_stats.json with, per
column: count, mean, std (ddof=1, numpy), min, max, distinct count, and the exact
quantiles (numpy 'linear' and 'inverted_cdf') at 0.01 .. 0.99. The Rust tests compare
exact fields to near machine precision and sketch quantiles within their rank bound.

    .venv/bin/python scripts/vectors/data_profile.py
"""
import json
import pathlib

import numpy as np
import pandas as pd
import scipy.stats

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "mlops-data/tests/data/winequality-red.csv"
OUT = ROOT / "mlops-data/tests/data/winequality_stats.json"
QS = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]

df = pd.read_csv(DATA)
cols = {}
for name in df.columns:
    x = df[name].to_numpy(dtype=np.float64)
    d = scipy.stats.describe(x)
    cols[name] = {
        "count": int(d.nobs),
        "mean": float(d.mean),
        "std": float(np.sqrt(d.variance)),  # scipy's variance is ddof=1
        "min": float(d.minmax[0]),
        "max": float(d.minmax[1]),
        "distinct": int(len(np.unique(x))),
        "quantiles_linear": {str(q): float(np.quantile(x, q, method="linear")) for q in QS},
        "quantiles_inverted_cdf": {
            str(q): float(np.quantile(x, q, method="inverted_cdf")) for q in QS
        },
    }
OUT.write_text(json.dumps({"rows": int(len(df)), "columns": cols}, indent=1) + "\n")
print(f"wrote {OUT}")

"""Generate the benchmark table: 1,000,000 rows x 12 columns (10 float64, 2 string).

Same recipe as the team's data anchors (seed 42): normal, lognormal, uniform,
exponential, normal, gamma, t5, beta, normal, and normal with 1% NaN; cat_0 has 5
categories, cat_1 20 Zipf-distributed ones named k00..k19. Writes DATA.parquet and the
12-check contract (CONTRACT.json) that every tool validates.
"""
import json
import sys

import numpy as np
import polars as pl

out, contract_path = sys.argv[1], sys.argv[2]
n = 1_000_000
rng = np.random.default_rng(42)
cols = {
    "num_0": rng.normal(0, 1, n),
    "num_1": rng.lognormal(0, 0.5, n),
    "num_2": rng.uniform(0, 100, n),
    "num_3": rng.exponential(2.0, n),
    "num_4": rng.normal(10, 3, n),
    "num_5": rng.gamma(2.0, 2.0, n),
    "num_6": rng.standard_t(5, n),
    "num_7": rng.beta(2, 5, n),
    "num_8": rng.normal(-5, 2, n),
}
x = rng.normal(0, 1, n)
x[rng.random(n) < 0.01] = np.nan
cols["num_9"] = x
cats = np.array(["a", "b", "c", "d", "e"])
cols["cat_0"] = cats[rng.integers(0, 5, n)]
z = np.minimum(rng.zipf(1.5, n), 20) - 1
cols["cat_1"] = np.array([f"k{i:02d}" for i in range(20)])[z]
pl.DataFrame(cols).write_parquet(out)

# The 12 checks: a range per numeric column (wide enough for clean data), a set, a regex.
ranges = {
    "num_0": (-10, 10), "num_1": (0, 100), "num_2": (0, 100), "num_3": (0, 100),
    "num_4": (-50, 70), "num_5": (0, 200), "num_6": (-1000, 1000), "num_7": (0, 1),
    "num_8": (-50, 40), "num_9": (-10, 10),
}
columns = []
for name, (lo, hi) in ranges.items():
    columns.append({
        "name": name, "dtype": "float64", "nullable": name == "num_9",
        "checks": [{"check": "range", "min": float(lo), "max": float(hi)}],
    })
columns.append({"name": "cat_0", "dtype": "string", "nullable": False,
                "checks": [{"check": "allowed_set", "values": list(cats)}]})
columns.append({"name": "cat_1", "dtype": "string", "nullable": False,
                "checks": [{"check": "regex", "pattern": r"^k\d{2}$"}]})
with open(contract_path, "w") as f:
    json.dump({"name": "bench", "columns": columns}, f, indent=1)
with open(contract_path + ".ranges.json", "w") as f:
    json.dump(ranges, f)

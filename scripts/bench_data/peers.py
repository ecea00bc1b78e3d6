"""pandera (polars backend) and Great Expectations on the same 12 checks.

Both validate the frame already in memory (as ours does); times are wall seconds,
best of 5 for pandera, best of 2 for GX (it takes seconds). Prints one JSON object.
"""
import json
import os
import sys
import time

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import pandera.polars as pa
import polars as pl

data, ranges_path = sys.argv[1], sys.argv[2]
ranges = json.load(open(ranges_path))
df = pl.read_parquet(data)
out = {}

cols = {
    name: pa.Column(pl.Float64, pa.Check.in_range(lo, hi), nullable=(name == "num_9"))
    for name, (lo, hi) in ranges.items()
}
cols["cat_0"] = pa.Column(pl.String, pa.Check.isin(["a", "b", "c", "d", "e"]), nullable=False)
cols["cat_1"] = pa.Column(pl.String, pa.Check.str_matches(r"^k\d{2}$"), nullable=False)
schema = pa.DataFrameSchema(cols)


def best(runs, f):
    b = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        f()
        b = min(b, time.perf_counter() - t)
    return b


out["pandera_polars"] = best(5, lambda: schema.validate(df, lazy=True))

import great_expectations as gx  # noqa: E402

pdf = df.to_pandas()
ctx = gx.get_context(mode="ephemeral")
asset = ctx.data_sources.add_pandas("pd").add_dataframe_asset("bench")
batch_def = asset.add_batch_definition_whole_dataframe("whole")
suite = ctx.suites.add(gx.ExpectationSuite(name="bench"))
E = gx.expectations
for name, (lo, hi) in ranges.items():
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(column=name, min_value=lo, max_value=hi))
suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="cat_0", value_set=["a", "b", "c", "d", "e"]))
suite.add_expectation(E.ExpectColumnValuesToMatchRegex(column="cat_1", regex=r"^k\d{2}$"))
vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="bench", data=batch_def, suite=suite))
result = {}


def run_gx():
    result["r"] = vd.run(batch_parameters={"dataframe": pdf}, result_format="SUMMARY")


out["great_expectations"] = best(2, run_gx)
out["great_expectations_success"] = bool(result["r"].success)
print(json.dumps(out))

"""whylogs 1.6 profile of the benchmark table (its own venv: it needs numpy 1.x)."""
import json
import sys
import time

import pandas as pd
import whylogs as why

pdf = pd.read_parquet(sys.argv[1])
t = time.perf_counter()
view = why.log(pdf).view()
elapsed = time.perf_counter() - t
print(json.dumps({"whylogs_profile": elapsed, "columns": len(view.get_columns())}))

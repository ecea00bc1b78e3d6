"""Drives the mlops model server with the reference Python clients.

    serve_check.py mlflow URL ROWS.csv   # MLflow's ScoringServerClient (/ping, /version, /invocations)
    serve_check.py kserve URL NAME ROWS.csv   # the kserve SDK's InferenceRESTClient (V2 REST)

ROWS.csv holds the input rows (header = feature names). Prints one JSON object on the
last line: the predictions each client got back, by request shape.
"""

import json
import sys


def mlflow_check(url, rows_csv):
    import numpy as np
    import pandas as pd
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = ScoringServerClient(host, int(port))
    client.wait_server_ready(timeout=30)
    df = pd.read_csv(rows_csv)
    out = {"version": client.get_version()}

    def labels(resp):
        preds = resp.get_predictions()
        return [int(x) for x in np.asarray(preds).reshape(-1)]

    # A DataFrame goes as dataframe_split, a 2-D array as "inputs" (positional rows);
    # params ride along. (The client's dict-of-arrays path raises in MLflow 3.17.2's
    # dump_input_data, before sending anything, so records and named columns are
    # posted with requests and read back with MLflow's PredictionsResponse.)
    out["dataframe"] = labels(client.invoke(df))
    out["ndarray"] = labels(client.invoke(df.to_numpy()))
    out["params"] = labels(client.invoke(df, params={"unused": 1}))
    import requests
    from mlflow.deployments import PredictionsResponse

    def post(body):
        r = requests.post(url + "/invocations", json=body, timeout=30)
        r.raise_for_status()
        return labels(PredictionsResponse.from_json(r.text))

    out["records"] = post({"dataframe_records": df.to_dict(orient="records")})
    out["columns"] = post({"inputs": {c: df[c].tolist() for c in df.columns}})
    try:
        client.invoke(df.drop(columns=[df.columns[0]]))
        out["missing_column"] = "accepted"
    except Exception as e:  # the client raises on a non-200 answer
        out["missing_column"] = str(e)
    print(json.dumps(out))


def kserve_check(url, name, rows_csv):
    import asyncio

    import numpy as np
    import pandas as pd
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    df = pd.read_csv(rows_csv)

    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))
        out = {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, name),
        }
        # One tensor per column, named like the signature's columns.
        inputs = []
        for c in df.columns:
            t = InferInput(name=c, shape=[len(df)], datatype="FP64")
            t.set_data_from_numpy(df[c].to_numpy(dtype=np.float64), binary_data=False)
            inputs.append(t)
        res = await client.infer(url, InferRequest(model_name=name, infer_inputs=inputs, request_id="by-column"), model_name=name)
        out["by_column"] = {
            "id": res.id,
            "model_name": res.model_name,
            "outputs": {o.name: o.as_numpy().tolist() for o in res.outputs},
        }
        # One [N, F] tensor.
        m = InferInput(name="input-0", shape=list(df.shape), datatype="FP64")
        m.set_data_from_numpy(df.to_numpy(dtype=np.float64), binary_data=False)
        res = await client.infer(url, InferRequest(model_name=name, infer_inputs=[m], request_id="matrix"), model_name=name)
        out["matrix"] = {o.name: o.as_numpy().tolist() for o in res.outputs}
        await client.close()
        return out

    print(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    if sys.argv[1] == "mlflow":
        mlflow_check(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "kserve":
        kserve_check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")

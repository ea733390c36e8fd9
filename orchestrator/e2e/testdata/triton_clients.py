"""Calls a Baton pipeline with NVIDIA's own Python clients (tritonclient.http
and tritonclient.grpc), as a user would, and prints what came back as JSON.

usage: triton_clients.py HTTP_HOST:PORT GRPC_HOST:PORT MODEL ROW [ROW...]
"""
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient


def main():
    http_url, grpc_url, model, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    data = np.array([[r.encode()] for r in rows], dtype=np.object_)
    out = {}

    h = httpclient.InferenceServerClient(url=http_url)
    assert h.is_server_live() and h.is_server_ready() and h.is_model_ready(model)
    md = h.get_model_metadata(model)
    inp = httpclient.InferInput("ROWS", list(data.shape), "BYTES")
    inp.set_data_from_numpy(data, binary_data=True)
    res = h.infer(model, [inp], outputs=[httpclient.InferRequestedOutput("LABEL", binary_data=True),
                                          httpclient.InferRequestedOutput("SCORE", binary_data=False)])
    out["http"] = {
        "metadata_inputs": [i["name"] for i in md["inputs"]],
        "labels": [b.decode() for b in res.as_numpy("LABEL").reshape(-1)],
        "scores_hex": res.as_numpy("SCORE").astype("<f4").tobytes().hex(),
    }

    g = grpcclient.InferenceServerClient(url=grpc_url)
    assert g.is_server_live() and g.is_server_ready() and g.is_model_ready(model)
    gmd = g.get_model_metadata(model, as_json=True)
    ginp = grpcclient.InferInput("ROWS", list(data.shape), "BYTES")
    ginp.set_data_from_numpy(data)
    gres = g.infer(model, [ginp], request_id="py-grpc-1")
    out["grpc"] = {
        "metadata_inputs": [i["name"] for i in gmd["inputs"]],
        "labels": [b.decode() for b in gres.as_numpy("LABEL").reshape(-1)],
        "scores_hex": gres.as_numpy("SCORE").astype("<f4").tobytes().hex(),
        "id": gres.get_response().id,
    }
    try:
        g.infer("no_such_pipeline", [ginp])
        out["grpc_unknown"] = "no error"
    except Exception as e:  # tritonclient raises InferenceServerException
        out["grpc_unknown"] = str(e)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""CSV row -> feature vector (the "SparkML preprocessing" stage).

Input  ROWS     BYTES [1]  one CSV line per batch element, e.g.
                           "M,0.455,0.365,0.095,0.514"
                           (sex,length,diameter,height,whole_weight)
Output FEATURES FP32  [F]  one-hot(sex) followed by (value - mean) / std of
                           each numeric column; schema and statistics come
                           from 1/preprocess.json (written by generate.py).

A request containing any invalid row (wrong column count, empty or
non-numeric value, unknown category, non-UTF-8 bytes) gets an INVALID_ARG
error response naming the row and the column; other requests in the same
execute() call are unaffected and the model keeps running.
"""

import json
import math
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class RowError(ValueError):
    pass


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(
            args["model_repository"], args["model_version"], "preprocess.json"
        )
        with open(path, "r", encoding="utf-8") as f:
            spec = json.load(f)
        self.columns = list(spec["columns"])
        cat = spec["categorical"]
        self.cat_index = int(cat["index"])
        self.categories = list(cat["categories"])
        self.numeric = [
            (int(n["index"]), n["column"], float(n["mean"]), float(n["std"]))
            for n in spec["numeric"]
        ]
        self.num_features = len(self.categories) + len(self.numeric)
        if self.num_features != len(spec["features"]):
            raise ValueError("%s: feature count mismatch" % path)

    def _column(self, index):
        return "column %d (%s)" % (index, self.columns[index])

    def _parse(self, raw):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        except UnicodeDecodeError:
            raise RowError("not valid UTF-8")
        fields = [f.strip() for f in line.strip().split(",")]
        if len(fields) != len(self.columns):
            raise RowError(
                "expected %d columns (%s), got %d"
                % (len(self.columns), ",".join(self.columns), len(fields))
            )
        out = np.zeros(self.num_features, dtype=np.float32)
        value = fields[self.cat_index]
        if value not in self.categories:
            raise RowError(
                "%s: unknown category %r, expected one of %s"
                % (self._column(self.cat_index), value, "/".join(self.categories))
            )
        out[self.categories.index(value)] = 1.0
        for k, (index, _, mean, std) in enumerate(self.numeric):
            text = fields[index]
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is None or not math.isfinite(number):
                raise RowError(
                    "%s: %r is not a finite number" % (self._column(index), text)
                )
            out[len(self.categories) + k] = np.float32((number - mean) / std)
        return out

    def execute(self, requests):
        responses = []
        for request in requests:
            rows = pb_utils.get_input_tensor_by_name(request, "ROWS").as_numpy()
            flat = rows.reshape(-1)
            features = np.zeros((flat.shape[0], self.num_features), dtype=np.float32)
            error = None
            for i, raw in enumerate(flat):
                try:
                    features[i] = self._parse(raw)
                except RowError as e:
                    error = "row %d: %s" % (i, e)
                    break
            if error is not None:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            error,
                            pb_utils.TritonError.INVALID_ARG,
                        )
                    )
                )
                continue
            features = features.reshape(rows.shape[:-1] + (self.num_features,))
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("FEATURES", features)]
                )
            )
        return responses

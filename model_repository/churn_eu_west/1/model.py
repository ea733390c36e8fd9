"""Small MLP classifier: FEATURES FP32 [F] -> PROBABILITIES FP32 [C] (softmax).

This file is the single implementation behind tabular_classifier and every
churn_<region> model; generate.py copies it byte-for-byte into each churn
model directory. Each model reads its own weights from
<model dir>/<version>/weights.json (written by generate.py).

Config parameters (config.pbtxt `parameters`, or a load-time config override):
  ballast_bytes  integer, default 0. The model allocates that many bytes of
                 resident memory at initialize() and keeps them until it is
                 unloaded, so tests can make a model "weigh" a chosen amount.
  weights_file   optional, default "weights.json" (relative to the version
                 directory).
  delay_ms       integer, default 0. Each execute() sleeps that long first,
                 so tests can hold a request open on the model.

Rows are computed one at a time in float64 so a row's result never depends on
how many other rows share its batch.
"""

import json
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils

INPUT_NAME = "FEATURES"
OUTPUT_NAME = "PROBABILITIES"
DEFAULT_MAX_BATCH_SIZE = 32


def _parameter(model_config, key, default):
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _load_weights(path):
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    w1 = np.asarray(doc["w1"], dtype=np.float64)
    b1 = np.asarray(doc["b1"], dtype=np.float64)
    w2 = np.asarray(doc["w2"], dtype=np.float64)
    b2 = np.asarray(doc["b2"], dtype=np.float64)
    if (
        w1.ndim != 2
        or w2.ndim != 2
        or b1.shape != (w1.shape[1],)
        or w2.shape[0] != w1.shape[1]
        or b2.shape != (w2.shape[1],)
    ):
        raise ValueError("%s: inconsistent layer shapes" % path)
    return w1, b1, w2, b2


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        # Lets a load-time config override be as short as
        # {"backend":"python","parameters":{...}}: missing tensors, batching
        # and scheduler are filled in. Anything given explicitly is kept.
        cfg = auto_complete_model_config.as_dict()
        here = os.path.dirname(os.path.abspath(__file__))
        try:
            w1, _, w2, _ = _load_weights(os.path.join(here, "weights.json"))
            features, classes = w1.shape[0], w2.shape[1]
        except Exception:  # reported properly by initialize()
            return auto_complete_model_config
        if not cfg.get("input") and not cfg.get("output"):
            if cfg.get("max_batch_size", 0) == 0:
                auto_complete_model_config.set_max_batch_size(DEFAULT_MAX_BATCH_SIZE)
            auto_complete_model_config.set_dynamic_batching()
        if not cfg.get("input"):
            auto_complete_model_config.add_input(
                {"name": INPUT_NAME, "data_type": "TYPE_FP32", "dims": [features]}
            )
        if not cfg.get("output"):
            auto_complete_model_config.add_output(
                {"name": OUTPUT_NAME, "data_type": "TYPE_FP32", "dims": [classes]}
            )
        return auto_complete_model_config

    def initialize(self, args):
        self.name = args["model_name"]
        config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])

        weights_file = _parameter(config, "weights_file", "weights.json")
        self.w1, self.b1, self.w2, self.b2 = _load_weights(
            os.path.join(version_dir, weights_file)
        )

        features = pb_utils.get_input_config_by_name(config, INPUT_NAME)
        classes = pb_utils.get_output_config_by_name(config, OUTPUT_NAME)
        if features is None or classes is None:
            raise ValueError(
                "%s: config must declare input %s and output %s"
                % (self.name, INPUT_NAME, OUTPUT_NAME)
            )
        if list(features["dims"])[-1:] != [self.w1.shape[0]]:
            raise ValueError(
                "%s: input %s dims %s do not match weights (%d features)"
                % (self.name, INPUT_NAME, features["dims"], self.w1.shape[0])
            )
        if list(classes["dims"])[-1:] != [self.w2.shape[1]]:
            raise ValueError(
                "%s: output %s dims %s do not match weights (%d classes)"
                % (self.name, OUTPUT_NAME, classes["dims"], self.w2.shape[1])
            )

        raw = _parameter(config, "ballast_bytes", "0")
        try:
            ballast = int(raw)
        except ValueError:
            ballast = -1
        if ballast < 0:
            raise ValueError(
                "%s: parameter ballast_bytes must be a non-negative integer, got %r"
                % (self.name, raw)
            )
        raw = _parameter(config, "delay_ms", "0")
        try:
            self.delay_s = int(raw) / 1000.0
        except ValueError:
            self.delay_s = -1
        if self.delay_s < 0:
            raise ValueError(
                "%s: parameter delay_ms must be a non-negative integer, got %r"
                % (self.name, raw)
            )
        # np.ones writes every byte, so the pages are really resident.
        self.ballast = np.ones(ballast, dtype=np.uint8) if ballast else None
        pb_utils.Logger.log_info(
            "%s: loaded %s (%d features, %d classes), ballast_bytes=%d"
            % (self.name, weights_file, self.w1.shape[0], self.w2.shape[1], ballast)
        )

    def _probabilities(self, x):
        out = np.empty((x.shape[0], self.w2.shape[1]), dtype=np.float32)
        for i, row in enumerate(x.astype(np.float64)):
            hidden = np.maximum(np.dot(row, self.w1) + self.b1, 0.0)
            logits = np.dot(hidden, self.w2) + self.b2
            e = np.exp(logits - logits.max())
            out[i] = e / e.sum()
        return out

    def execute(self, requests):
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy()
            batch_shape = x.shape[:-1]
            probs = self._probabilities(x.reshape(-1, x.shape[-1]))
            probs = probs.reshape(batch_shape + (probs.shape[-1],))
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor(OUTPUT_NAME, probs)]
                )
            )
        return responses

    def finalize(self):
        self.ballast = None

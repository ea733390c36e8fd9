"""Class probabilities -> most likely class.

Input  PROBABILITIES FP32  [C]
Output LABEL         BYTES [1]  class name (UTF-8), from 1/labels.json
       SCORE         FP32  [1]  probability of that class

Ties go to the lower class index.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(
            args["model_repository"], args["model_version"], "labels.json"
        )
        with open(path, "r", encoding="utf-8") as f:
            classes = json.load(f)["classes"]
        self.labels = np.array([c.encode("utf-8") for c in classes], dtype=np.object_)
        config = json.loads(args["model_config"])
        dims = pb_utils.get_input_config_by_name(config, "PROBABILITIES")["dims"]
        if list(dims)[-1:] != [len(classes)]:
            raise ValueError(
                "tabular_postprocess: PROBABILITIES dims %s do not match the %d "
                "classes in %s" % (dims, len(classes), path)
            )

    def execute(self, requests):
        responses = []
        for request in requests:
            probs = pb_utils.get_input_tensor_by_name(
                request, "PROBABILITIES"
            ).as_numpy()
            best = probs.argmax(axis=-1)[..., np.newaxis]
            label = self.labels[best]
            score = np.take_along_axis(probs, best, axis=-1).astype(np.float32)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("LABEL", label),
                        pb_utils.Tensor("SCORE", score),
                    ]
                )
            )
        return responses

"""Echo every provided IN_<T> back as OUT_<T>, unchanged.

Types: BYTES FP16 FP32 FP64 INT8 INT16 INT32 INT64 UINT8 UINT16 UINT32
UINT64 BOOL. All inputs are optional (config `optional: true`), so a request
may carry any subset; the response contains OUT_<T> for each IN_<T> sent
and nothing else.
"""

import json

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.suffixes = [
            i["name"][len("IN_"):]
            for i in config["input"]
            if i["name"].startswith("IN_")
        ]

    def execute(self, requests):
        responses = []
        for request in requests:
            outputs = []
            for suffix in self.suffixes:
                tensor = pb_utils.get_input_tensor_by_name(request, "IN_" + suffix)
                if tensor is not None:
                    outputs.append(pb_utils.Tensor("OUT_" + suffix, tensor.as_numpy()))
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses

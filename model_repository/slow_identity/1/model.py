"""Sleep, then OUTPUT0 = INPUT0 (FP32). Used to hold a request open.

The delay is the config parameter delay_ms (default 200), or the request
parameter "delay_ms" when the request carries one. The sleep is cut short
when Triton marks the request cancelled; the response is then a CANCELLED
error.
"""

import json
import time

import triton_python_backend_utils as pb_utils

DEFAULT_DELAY_MS = 200


def _delay_ms(value, where):
    try:
        delay = int(str(value).strip())
    except ValueError:
        delay = -1
    if delay < 0:
        raise ValueError(
            "slow_identity: %s delay_ms must be a non-negative integer, got %r"
            % (where, value)
        )
    return delay


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        raw = (
            config.get("parameters", {})
            .get("delay_ms", {})
            .get("string_value", str(DEFAULT_DELAY_MS))
        )
        self.delay_ms = _delay_ms(raw, "config parameter")

    def _sleep(self, request, delay_ms):
        """Sleep delay_ms; return False if the request was cancelled."""
        deadline = time.monotonic() + delay_ms / 1000.0
        cancellable = hasattr(request, "is_cancelled")
        while True:
            if cancellable and request.is_cancelled():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.01))

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                params = json.loads(request.parameters() or "{}")
                delay_ms = (
                    _delay_ms(params["delay_ms"], "request parameter")
                    if "delay_ms" in params
                    else self.delay_ms
                )
            except ValueError as e:
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            str(e), pb_utils.TritonError.INVALID_ARG
                        )
                    )
                )
                continue
            if not self._sleep(request, delay_ms):
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            "slow_identity: request cancelled",
                            pb_utils.TritonError.CANCELLED,
                        )
                    )
                )
                continue
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("OUTPUT0", x.copy())]
                )
            )
        return responses

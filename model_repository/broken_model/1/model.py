"""A model that never loads: initialize() always raises."""

MESSAGE = "broken_model: initialize() always fails (intentional, for load-failure tests)"


class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError(MESSAGE)

    def execute(self, requests):  # never reached
        raise RuntimeError(MESSAGE)

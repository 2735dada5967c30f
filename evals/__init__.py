"""evals: a test-and-assessment harness for large language models."""
__version__ = "0.1.0"

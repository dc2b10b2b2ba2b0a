"""modeldeploy: a Kubernetes operator for TensorFlow Serving."""

__version__ = "0.1.0"

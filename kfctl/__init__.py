"""kfctl: install and run the whole lifecycle of a Kubeflow ML platform on any Kubernetes cluster."""

__version__ = "0.1.0"

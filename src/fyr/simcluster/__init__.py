"""A simulated Kubernetes API server (the demo's cluster and the tests' fake)."""

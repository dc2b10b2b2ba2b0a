"""What the tests share, one module per job; test modules import from here and from nowhere else in tests/.

- ``paths``: where the repository's files are.
- ``kubectl`` (``Kube``: kubectl returning JSON) and ``kubeapi`` (``RawApi``: direct HTTP calls): API calls.
- ``clusters``: seeded model stores, operator configuration, namespaces, clusters of a module's own.
- ``waits``: polling with a deadline, the only way tests wait.
- ``manifests``: the ModelDeployment manifest; ``crd_schema``: its CRD's schema by path, and its CEL rules.
- ``conditions``: status conditions by type.
- ``metrics``: the operator's and the API server's Prometheus counters.
- ``settle``: a model settles, then the operator writes nothing more.
- ``clock``: a fake clock for the model poller; ``status_scenarios``: observed children run through
  compute_status.
- ``emulated`` and ``tfserving``: TF Serving pods and the emulated model server, in-process.
- ``spec_strategies``: Hypothesis strategies for ModelDeployment specs.
- ``kwok``, ``kstatus``, ``argocd``: KWOK pod stages, the kstatus judge, Argo CD's health check.
- ``install``, ``rbac``, ``gitops`` and ``buildah``: installing with Helm or kustomize, what the installed
  operator may do, what a GitOps sync sees, building the image.
- ``child_schemas``: regenerates operator/modeldeploy/data/child_schemas.json
  (``python -m tests.support.child_schemas``).
"""

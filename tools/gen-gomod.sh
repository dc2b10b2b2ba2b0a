#!/usr/bin/env bash
# Regenerate the wrapper go.mod/go.sum of each tool from tools/versions.env.
# Run this after changing a version; the results are committed so builds are pinned by go.sum.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

wrapper() {  # dir module-path
  rm -f "$here/$1/go.mod" "$here/$1/go.sum"
  (cd "$here/$1" && go mod init "modeldeploy.local/tools/$1" >/dev/null 2>&1 && go mod edit -go=1.24.0)
}

# k8s.io/kubernetes requires its staging modules at v0.0.0 with replace lines into ./staging;
# a wrapper must point each one at the release that matches the Kubernetes version.
wrapper kubernetes
kmod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging_release="v0.${KUBERNETES_VERSION#v1.}"
grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$kmod" | awk '{print $1}' | sort -u | while read -r m; do
  (cd "$here/kubernetes" && go mod edit -replace "$m=$m@$staging_release")
done
(cd "$here/kubernetes" && go mod edit -require "k8s.io/kubernetes@$KUBERNETES_VERSION" \
  && go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
       "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
       "k8s.io/kubernetes/cmd/kube-scheduler@$KUBERNETES_VERSION" && go mod tidy)

wrapper etcd
(cd "$here/etcd" && go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy)

wrapper kwok
(cd "$here/kwok" && go get -tool "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" && go mod tidy)

wrapper helm
(cd "$here/helm" && go get -tool "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" && go mod tidy)

wrapper metrics-server
(cd "$here/metrics-server" && go get -tool "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" \
  && go mod tidy)

# KEDA's go.mod has one replace, which only applies when KEDA is the main module: copy it.
wrapper keda
keda_mod=$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
grep -E '^replace ' "$keda_mod" | sed 's/^replace //' | while read -r from from_v _ to to_v; do
  (cd "$here/keda" && go mod edit -replace "$from@$from_v=$to@$to_v")
done
(cd "$here/keda" && go get -tool "github.com/kedacore/keda/v2/cmd/operator@$KEDA_VERSION" \
  "github.com/kedacore/keda/v2/cmd/adapter@$KEDA_VERSION" && go mod tidy)

# Prometheus ships a go.work for its own development; a wrapper module does not use it.
wrapper prometheus
(cd "$here/prometheus" && GOWORK=off go get -tool "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" && GOWORK=off go mod tidy)

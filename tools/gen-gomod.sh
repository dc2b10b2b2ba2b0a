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

# kstatus: our own main package (main.go) on cli-utils' status package. Every module it shares with the
# Kubernetes build is pinned to the version that build uses, so the compiled packages come from the Go
# build cache the Kubernetes build filled and a cold `make test` pays only for the few packages left.
rm -f "$here/kstatus/go.mod" "$here/kstatus/go.sum"
(cd "$here/kstatus" && go mod init modeldeploy.local/tools/kstatus >/dev/null 2>&1 && go mod edit -go=1.24.0 \
  && go get "sigs.k8s.io/cli-utils@$CLI_UTILS_VERSION" "k8s.io/client-go@$staging_release" \
       "k8s.io/api@$staging_release" "k8s.io/apimachinery@$staging_release" && go mod tidy)
# Raise (never lower: that could pull cli-utils back) each shared module to the Kubernetes build's version.
fmt='{{.Path}} {{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}'
# The modules whose packages the Kubernetes build compiles (read-only: its go.sum stays as it is).
(cd "$here/kubernetes" && GOFLAGS=-mod=readonly go list -deps -f "{{with .Module}}$fmt{{end}}" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager | sort -u) \
  >"$here/kstatus/k8s-modules.txt"
(cd "$here/kstatus" && go list -m -f "$fmt" all | python3 -c '
import sys
k8s = dict(line.split() for line in open("k8s-modules.txt") if len(line.split()) == 2)
ours = dict(line.split() for line in sys.stdin if len(line.split()) == 2)
def key(v):
    core = v.lstrip("v").split("+")[0].split("-")[0]
    return tuple(int(x) for x in core.split(".")), v
raise_to = [f"{m}@{v}" for m, v in k8s.items() if m in ours and ours[m] != v and key(v) > key(ours[m])]
print("\n".join(raise_to))
' | xargs -r go get && go mod tidy)
rm -f "$here/kstatus/k8s-modules.txt"

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

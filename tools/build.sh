#!/usr/bin/env bash
# Build the local control plane from source through the Go module proxy, into a cache keyed by each
# tool's pinned go.mod/go.sum, so a warm run rebuilds nothing and a version bump rebuilds one tool.
# Prints the bin directory on stdout (progress goes to stderr).
#
# With no arguments it builds the control plane (what `make up` needs). Optional tools are built only
# when named, so the demo never waits for them: `tools/build.sh metrics-server`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/versions.env"
cache=${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=-mod=readonly
export GOMODCACHE=${GOMODCACHE:-$cache/gomod} GOCACHE=${GOCACHE:-$cache/gobuild}

if ! command -v go >/dev/null 2>&1; then
  echo "modeldeploy: Go is not installed; install Go >= $GO_MIN_VERSION (https://go.dev/dl) and retry." >&2
  exit 2
fi
go_version=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$go_version" | sort -V | head -n1)" != "$GO_MIN_VERSION" ]; then
  echo "modeldeploy: Go $go_version is too old; install Go >= $GO_MIN_VERSION (https://go.dev/dl) and retry." >&2
  exit 2
fi

bin="$cache/bin"
logs="$cache/logs"
mkdir -p "$bin" "$logs"
# One progress line per tool on stderr; go's own output (hundreds of "go: downloading" lines) goes to a
# log file per tool, named when a build fails.
total_tools=$(grep -c '^build ' "$0")
command -v kubectl >/dev/null 2>&1 || total_tools=$((total_tools + 1))
tool_number=0 build_start=$SECONDS announced=0

# The pinned version of a wrapper's tool (versions.env), for the progress lines; " v1.2.3" or nothing.
tool_version() {
  case $1 in
    etcd) echo " $ETCD_VERSION" ;;
    kubernetes) echo " $KUBERNETES_VERSION" ;;
    kwok) echo " $KWOK_VERSION" ;;
    helm) echo " $HELM_VERSION" ;;
    kstatus) echo " $CLI_UTILS_VERSION" ;;
  esac
}
mkdir -p "$bin"
# One build at a time per cache: a test that builds an optional tool lazily may start while another
# build runs, and two builds of one tool would share (and delete) its temporary directory.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bin/.build.lock"
  flock 9
fi

# [GO_TAGS=tag,...] build WRAPPER NAME LDFLAGS PACKAGE=OUTPUT...
# One go build per call so packages of one wrapper share compilation.
build() {
  local wrapper=$1 name=$2 ldflags=$3 tags=${GO_TAGS:-}; shift 3
  local key dir missing=0
  # The key covers exactly what goes into this tool, so changing one tool rebuilds only that one.
  # A wrapper's own Go files (only kstatus has one) are part of it; the others hash as before.
  key=$( (cat "$here/$wrapper/go.mod" "$here/$wrapper/go.sum"; cat "$here/$wrapper"/*.go 2>/dev/null || true
    echo "$ldflags $*"; [ -z "$tags" ] || echo "tags $tags") | sha256sum | cut -c1-16)
  dir="$bin/$name-$key"
  for pair in "$@"; do [ -x "$dir/${pair#*=}" ] || missing=1; done
  tool_number=$((tool_number + 1))
  if [ $missing = 1 ]; then
    local start=$SECONDS pkgs=() log="$logs/$name.log"
    if [ "$announced" = 0 ]; then
      echo "modeldeploy: building the local control plane from source into $bin" \
        "(the first time takes 15-25 minutes on 2 cores; go's output: $logs/)" >&2
      announced=1
    fi
    # On a terminal the line shows what is being built and is completed in place when it is done.
    [ -t 2 ] && printf 'modeldeploy: [%s/%s] building %s%s ...' "$tool_number" "$total_tools" "$name" \
      "$(tool_version "$wrapper")" >&2
    for pair in "$@"; do pkgs+=("${pair%=*}"); done
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    if ! (cd "$here/$wrapper" && go build -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" \
      -o "$dir.tmp/" "${pkgs[@]}") \
      >"$log" 2>&1; then
      [ -t 2 ] && echo >&2
      grep -v '^go: downloading' "$log" | tail -n 15 >&2
      echo "modeldeploy: building $name failed after $((SECONDS - start))s; full log: $log" >&2
      exit 1
    fi
    # go names a binary after the last path element that is not a major-version suffix.
    for pair in "$@"; do
      local pkg=${pair%=*} out=${pair#*=} base
      base=$(basename "$pkg"); [[ $base =~ ^v[0-9]+$ ]] && base=$(basename "$(dirname "$pkg")")
      [ "$base" = "$out" ] || mv "$dir.tmp/$base" "$dir.tmp/$out"
    done
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    # Older builds of this tool are unreachable now; keep the cache from growing with every bump.
    find "$bin" -maxdepth 1 -type d -name "$name-*" ! -name "$(basename "$dir")" -exec rm -rf {} +
    [ -t 2 ] && printf '\r\033[K' >&2
    echo "modeldeploy: [$tool_number/$total_tools] built $name$(tool_version "$wrapper") in" \
      "$((SECONDS - start))s (elapsed $((SECONDS - build_start))s)" >&2
  else
    echo "modeldeploy: [$tool_number/$total_tools] $name$(tool_version "$wrapper") cached" >&2
  fi
  for pair in "$@"; do ln -sfn "$dir/${pair#*=}" "$bin/${pair#*=}"; done
}

kminor=${KUBERNETES_VERSION#v1.}; kminor=${kminor%%.*}
kver="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kminor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kminor"

build etcd etcd "" go.etcd.io/etcd/server/v3=etcd
build kubernetes kubernetes "$kver" \
  k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler=kube-scheduler
build kwok kwok "" sigs.k8s.io/kwok/cmd/kwok=kwok
# Helm's offline default Kubernetes version (helm template, helm lint) is 1.20 unless told otherwise.
hver="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in pkg/chartutil pkg/lint/rules; do
  hver="$hver -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$kminor"
done
build helm helm "$hver" helm.sh/helm/v3/cmd/helm=helm
# kstatus: the checker the status tests use as their judge (tools/kstatus/main.go on cli-utils).
build kstatus kstatus "" modeldeploy.local/tools/kstatus=kstatus
# kubectl: the machine's own when it has one, else ours.
if ! command -v kubectl >/dev/null 2>&1; then
  build kubernetes kubectl "$kver" k8s.io/kubernetes/cmd/kubectl=kubectl
fi
# copy_crds WRAPPER MODULE DIR-IN-MODULE OUTPUT GLOB...: CRD files of a pinned module into $bin/OUTPUT.
copy_crds() {
  local wrapper=$1 module=$2 sub=$3 out=$4 src; shift 4
  src=$(cd "$here/$wrapper" && go mod download "$module" && go list -m -f '{{.Dir}}' "$module")
  mkdir -p "$bin/$out"
  for pattern in "$@"; do
    # install, not cp: the module cache is read-only, the copies must stay replaceable.
    for file in "$src/$sub"/$pattern; do install -m 0644 "$file" "$bin/$out/"; done
  done
}

# Optional tools, each built only when asked for by name.
for tool in "$@"; do
  case $tool in
    metrics-server)
      build metrics-server metrics-server "" sigs.k8s.io/metrics-server/cmd/metrics-server=metrics-server
      # KWOK reads simulated usage from these kinds but leaves installing their CRDs to the user;
      # they come from the same pinned KWOK module.
      copy_crds kwok sigs.k8s.io/kwok kustomize/crd/bases kwok-crds \
        'kwok.x-k8s.io_clusterresourceusages.yaml' 'kwok.x-k8s.io_resourceusages.yaml' ;;
    # KEDA's operator and its metrics adapter (the external metrics API server), for request-rate scaling.
    keda)
      build keda keda "-X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION" \
        github.com/kedacore/keda/v2/cmd/operator=keda-operator \
        github.com/kedacore/keda/v2/cmd/adapter=keda-adapter
      copy_crds keda github.com/kedacore/keda/v2 config/crd/bases keda-crds 'keda.sh_*.yaml' 'eventing.keda.sh_*.yaml' ;;
    # Only KEDA's CRDs (what ScaledObjects are validated against), without building KEDA.
    keda-crds) copy_crds keda github.com/kedacore/keda/v2 config/crd/bases keda-crds 'keda.sh_*.yaml' 'eventing.keda.sh_*.yaml' ;;
    # The Prometheus server and promtool come from one module and share nearly all packages: one go
    # build compiles them once (built apart, promtool's cold build alone took most of the time of both).
    # Asking for either builds both; the second name in one run is then a cached no-op. Of the service
    # discoveries only Kubernetes' is compiled in (Prometheus's own build tags, plugins/plugin_*.go): the
    # cloud SDKs of the others (AWS, Azure, GCE, ...) were most of the compile time, and nothing here uses them.
    promtool|prometheus)
      GO_TAGS=remove_all_sd,enable_kubernetes_sd \
        build prometheus prometheus "" github.com/prometheus/prometheus/cmd/prometheus=prometheus \
        github.com/prometheus/prometheus/cmd/promtool=promtool ;;
    *) echo "modeldeploy: unknown optional tool '$tool' (known: metrics-server keda keda-crds promtool prometheus)" >&2; exit 2 ;;
  esac
done
echo "$bin"

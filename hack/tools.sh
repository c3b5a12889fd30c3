#!/usr/bin/env bash
# Build (once) and cache every Go-built tool afflux's local cluster and tests use,
# at the versions pinned in hack/versions.env.
#
#   hack/tools.sh              build whatever is missing from the cache
#   hack/tools.sh kubernetes   only that tool (kubernetes|node|etcd|kwok|kustomize|helm|helm4|sops|cosign|cosign3|notation|gitea|flux|coredns|podinfo)
#   hack/tools.sh --print-bin  print the cache's bin directory and exit
#
# Binaries land in $AFFLUX_CACHE/bin/<name>-<version> (default ~/.cache/afflux) with a
# stable symlink $AFFLUX_CACHE/bin/<name> next to them; a second run finds them and ends
# in seconds. Each build logs to $AFFLUX_CACHE/logs/<tool>.log; on a failure this script
# says which tool, which step, and where the log is.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${AFFLUX_CACHE:-$HOME/.cache/afflux}
bin=$cache/bin
logs=$cache/logs
work=$cache/build
mkdir -p "$bin" "$logs" "$work"


export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

step() { printf '[tools] %s\n' "$*"; }
fail() {
  local tool=$1 what=$2 log=$3
  printf '[tools] FAILED: %s, step "%s". Last lines of %s:\n' "$tool" "$what" "$log" >&2
  tail -n 25 "$log" >&2 || true
  printf '[tools] full log: %s\n' "$log" >&2
  exit 1
}
# A step that fails on the network (the module proxy, a checksum database) is tried again:
# up to $AFFLUX_TOOLS_ATTEMPTS times (default 3), 15 s then 45 s apart. Any other failure
# (a compile error, a module the proxy refuses) fails at once.
attempts=${AFFLUX_TOOLS_ATTEMPTS:-3}
TRANSIENT='dial tcp|i/o timeout|connection reset|connection refused|TLS handshake timeout|unexpected EOF|no such host|temporary failure|stream error|Too Many Requests|: 50[0-9] |HTTP/[0-9.]+ 50[0-9]'
# run TOOL STEP CMD...: run a build step with its output in the tool's log.
run() {
  local tool=$1 what=$2; shift 2
  local log=$logs/$tool.log try=1 start
  while :; do
    printf '\n== %s: %s (attempt %d)\n$ %s\n' "$(date -u +%FT%TZ)" "$what" "$try" "$*" >>"$log"
    start=$(stat -c %s "$log")
    "$@" >>"$log" 2>&1 && return 0
    # this attempt's output only: did it fail on the network?
    if (( try >= attempts )) || ! tail -c "+$((start + 1))" "$log" | grep -Eq "$TRANSIENT"; then
      fail "$tool" "$what" "$log"
    fi
    step "$tool: $what failed on the network (attempt $try of $attempts), trying again" >&2
    sleep $(( try == 1 ? 15 : 45 )); try=$((try + 1))
  done
}
# mod_json TOOL MOD@VERSION FIELD: `go mod download -json` (tried again like `run`), one field
# of its answer (Dir, GoMod).
mod_json() {
  local tool=$1 modv=$2 field=$3 out
  out=$(mktemp)
  run "$tool" "go mod download $modv" sh -c 'go mod download -json "$1" >"$2" || { cat "$2"; exit 1; }' _ "$modv" "$out"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$out" "$field" \
    || { rm -f "$out"; fail "$tool" "go mod download $modv" "$logs/$tool.log"; }
  rm -f "$out"
}
have() { [[ -x "$bin/$1-$2" ]]; }
link() { ln -sfn "$1-$2" "$bin/$1"; }
timed() {
  local name=$1; shift
  local t0=$SECONDS
  "$@"
  step "$name done in $((SECONDS - t0))s"
}

# k8s_module DIR: write the wrapper module that builds k8s.io/kubernetes's commands at the
# pinned version (every staging module replaced by its v0.Y.Z release).
k8s_module() {
  local dir=$1 v=$KUBERNETES_VERSION minor gomod
  minor=$(echo "$v" | cut -d. -f2)
  step "kubernetes $v: resolving the staging modules"
  gomod=$(cd "$dir" && mod_json kubernetes "k8s.io/kubernetes@$v" GoMod) || exit 1
  {
    echo "module afflux.local/kubernetes-build"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0( // indirect)?$' "$gomod" | awk -v minor="$minor" -v patch="${v##*.}" \
      '{ printf "\t%s => %s v0.%s.%s\n", $1, $1, minor, patch }'
    echo ")"
  } >"$dir/go.mod"
}

# k8s_build TOOL NAME...: build k8s.io/kubernetes/cmd/NAME... at the pinned version, with
# the version stamped, into the cache.
k8s_build() {
  local tool=$1; shift
  local names=("$@") v=$KUBERNETES_VERSION minor major=1 n
  minor=$(echo "$v" | cut -d. -f2)
  local missing=0
  for n in "${names[@]}"; do have "$n" "$v" || missing=1; done
  if [[ $missing == 0 ]]; then
    for n in "${names[@]}"; do link "$n" "$v"; done
    step "$tool $v: cached"; return
  fi
  step "$tool $v: building ${names[*]} (cold: 10-25 min)"
  local dir=$work/$tool-$v
  rm -rf "$dir"; mkdir -p "$dir"
  k8s_module "$dir"
  local pkgs=() ldflags="-s -w"
  for n in "${names[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$date -X $p.gitCommit=afflux-build"
  done
  step "$tool $v: downloading modules"
  # Every package at the pinned version: a bare `go get pkg` would move to the newest.
  local pinned=(); for p in "${pkgs[@]}"; do pinned+=("$p@$v"); done
  (cd "$dir" && run "$tool" "go get" go get "${pinned[@]}")
  step "$tool $v: compiling (log: $logs/$tool.log)"
  (cd "$dir" && run "$tool" "go build" nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$dir/out/" "${pkgs[@]}")
  for n in "${names[@]}"; do
    install -m 0755 "$dir/out/$n" "$bin/$n-$v"; link "$n" "$v"
  done
  "$bin/${names[0]}" --version | grep -q "$v" || fail "$tool" "version stamp check" "$logs/$tool.log"
}

# The control plane (kubectl too: tests and the CLI use the same version as the server).
build_kubernetes() { k8s_build kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl; }

# The real node (NODE=real): kubelet and kube-proxy from the same sources, and the pause
# (sandbox) binary compiled from Kubernetes' own build/pause/linux/pause.c, static.
build_node() {
  k8s_build node kubelet kube-proxy
  local v=$PAUSE_VERSION
  if have pause "$v"; then link pause "$v"; step "pause $v: cached"; return; fi
  local src dir=$work/pause-$v
  rm -rf "$dir"; mkdir -p "$dir"
  src=$(cd "$work" && mod_json pause "k8s.io/kubernetes@$KUBERNETES_VERSION" Dir) || exit 1
  run pause "gcc" gcc -Os -Wall -Werror -static -DVERSION="v$v-afflux" -o "$dir/pause" "$src/build/pause/linux/pause.c"
  install -m 0755 "$dir/pause" "$bin/pause-$v"; link pause "$v"
}

build_etcd() {
  local v=$ETCD_VERSION
  if have etcd "$v"; then link etcd "$v"; step "etcd $v: cached"; return; fi
  step "etcd $v: building"
  local dir=$work/etcd-$v
  rm -rf "$dir"; mkdir -p "$dir"
  printf 'module afflux.local/etcd-build\n\ngo 1.23\n' >"$dir/go.mod"
  (cd "$dir" && run etcd "go get" go get "go.etcd.io/etcd/server/v3@$v")
  (cd "$dir" && run etcd "go build" go build -trimpath -ldflags "-s -w" -o "$dir/etcd" go.etcd.io/etcd/server/v3)
  install -m 0755 "$dir/etcd" "$bin/etcd-$v"; link etcd "$v"
}

# go_install TOOL NAME PKG VERSION [LDFLAGS] [AS]: a plain `go install` into the cache, as
# AS (default NAME).
go_install() {
  local tool=$1 name=$2 pkg=$3 v=$4 ldflags=${5:-"-s -w"} as=${6:-$2}
  if have "$as" "$v"; then link "$as" "$v"; step "$as $v: cached"; return; fi
  step "$as $v: building"
  local dir=$work/$tool-$v
  rm -rf "$dir"; mkdir -p "$dir"
  run "$tool" "go install" env GOBIN="$dir" go install -trimpath -ldflags "$ldflags" "$pkg@$v"
  install -m 0755 "$dir/$name" "$bin/$as-$v"; link "$as" "$v"
}

# coredns: the node's cluster DNS (Service names resolve in Pods).
build_coredns() { go_install coredns coredns github.com/coredns/coredns "$COREDNS_VERSION"; }
# podinfo: the real workload of the demo and the real-node tests. Its tags are v6 without a
# /v6 module path, so the proxy serves them as the pseudo-version pinned in versions.env;
# the module is downloaded and built in place with its own go.mod (like notation).
build_podinfo() {
  local v=$PODINFO_VERSION mod=github.com/stefanprodan/podinfo
  if have podinfo "$v" && have podcli "$v"; then link podinfo "$v"; link podcli "$v"; step "podinfo $v: cached"; return; fi
  step "podinfo $v: building"
  local dir=$work/podinfo-$v src
  rm -rf "$dir"; mkdir -p "$dir"
  src=$(cd "$dir" && mod_json podinfo "$mod@$v" Dir) || exit 1
  # podcli too: its `check http|tcp` is the in-cluster client of the real-node tests
  (cd "$src" && run podinfo "go build" nice -n 10 go build -trimpath -ldflags "-s -w" -o "$dir/" ./cmd/podinfo ./cmd/podcli)
  install -m 0755 "$dir/podcli" "$bin/podcli-$v"; link podcli "$v"
  install -m 0755 "$dir/podinfo" "$bin/podinfo-$v"; link podinfo "$v"
}
build_kwok() { go_install kwok kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"; }
build_kustomize() { go_install kustomize kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"; }
build_sops() { go_install sops sops github.com/getsops/sops/v3/cmd/sops "$SOPS_VERSION"; }
# cosign and notation sign OCI artifacts in the supply-chain verification tests; the
# controller verifies in Python and never runs them.
build_cosign() {
  go_install cosign cosign github.com/sigstore/cosign/v2/cmd/cosign "$COSIGN_VERSION" \
    "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION"
}
# cosign v3 as `cosign3`: it signs in the Sigstore bundle format (an OCI 1.1 referrer of
# artifactType application/vnd.dev.sigstore.bundle.v0.3+json) by default.
build_cosign3() {
  go_install cosign3 cosign github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN3_VERSION" \
    "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN3_VERSION" cosign3
}
# module_dir TOOL MODULE VERSION: download MODULE at VERSION into the module cache (read-only)
# and print its directory.
module_dir() {
  local tool=$1 mod=$2 v=$3
  mod_json "$tool" "$mod@$v" Dir
}
# build_module TOOL MODULE VERSION PKG LDFLAGS [ENV...]: download MODULE at VERSION and
# build PKG in place, with the module's own go.mod and go.sum (for modules that
# `go install pkg@version` cannot build), into the cache as TOOL-VERSION.
build_module() {
  local tool=$1 mod=$2 v=$3 pkg=$4 ldflags=$5; shift 5
  if have "$tool" "$v"; then link "$tool" "$v"; step "$tool $v: cached"; return; fi
  step "$tool $v: building"
  local dir=$work/$tool-$v src
  rm -rf "$dir"; mkdir -p "$dir"
  src=$(module_dir "$tool" "$mod" "$v")
  (cd "$src" && run "$tool" "go build" env "$@" go build -trimpath -ldflags "$ldflags" -o "$dir/$tool" "$pkg")
  install -m 0755 "$dir/$tool" "$bin/$tool-$v"; link "$tool" "$v"
}
# notation: the Go proxy serves its tags but not its version list, and `go install
# pkg@version` asks for that list (deprecation check) and fails with 403.
build_notation() {
  build_module notation github.com/notaryproject/notation "$NOTATION_VERSION" ./cmd/notation \
    "-s -w -X github.com/notaryproject/notation/internal/version.BuildMetadata="
}
# gitea: the Git forge notification-controller's commit-status and push-webhook tests run
# against (sqlite, loopback; 10-20 min cold). Its module path differs from the one the proxy
# serves it under and it has replace directives, so `go install` cannot build it. CGO stays
# off: Gitea's default sqlite driver is the pure-Go one. No front-end assets: the tests use
# only its API, its Git smart HTTP and its webhooks.
# Its templates and options (locales) are read from disk at run time: they go to
# $AFFLUX_CACHE/share/gitea-<version>, which the test harness passes as STATIC_ROOT_PATH.
build_gitea() {
  local v=$GITEA_VERSION mod=code.gitea.io/gitea share=$cache/share/gitea-$GITEA_VERSION src
  build_module gitea "$mod" "$v" . "-s -w -X main.Version=${v#v}"
  [[ -d $share/options && -d $share/templates ]] && return
  src=$(module_dir gitea "$mod" "$v")
  rm -rf "$share"; mkdir -p "$share"
  cp -r "$src/templates" "$src/options" "$share/" && chmod -R u+w "$share"
  step "gitea $v: templates and options in $share"
}
# flux: the real flux CLI, a test tool (tests/integration/fluxcli run it against afflux;
# afflux never runs it). Its go.mod has a replace directive, so `go install pkg@version`
# refuses it, and cmd/flux embeds manifests/*.yaml, which flux2's release build generates
# and its module zip does not hold. So the module is downloaded at the pinned version,
# copied to a writable directory, given one placeholder manifest (the CLI reads the
# embedded manifests only for `flux install/bootstrap` without --manifests, which the tests
# never run) and built with the version stamp its Makefile sets.
build_flux() {
  local v=$FLUX_VERSION mod=github.com/fluxcd/flux2/v2
  if have flux "$v"; then link flux "$v"; step "flux $v: cached"; return; fi
  step "flux $v: building"
  local dir=$work/flux-$v src
  rm -rf "$dir"; mkdir -p "$dir"
  src=$(module_dir flux "$mod" "$v")
  cp -r "$src" "$dir/src"; chmod -R u+w "$dir/src"
  mkdir -p "$dir/src/cmd/flux/manifests"
  printf '# placeholder: this flux build is a test tool and installs nothing\n' >"$dir/src/cmd/flux/manifests/placeholder.yaml"
  (cd "$dir/src" && run flux "go build" go build -trimpath \
    -ldflags "-s -w -X main.VERSION=${v#v}" -o "$dir/flux" ./cmd/flux)
  install -m 0755 "$dir/flux" "$bin/flux-$v"; link flux "$v"
  "$bin/flux" --version | grep -q "${v#v}" || fail flux "version stamp check" "$logs/flux.log"
  rm -rf "$dir/src"
}
build_helm() {
  local minor; minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  go_install helm helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
    "-s -w -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}
# Helm 4, the helm operator's second engine (controllers/helm/_engine.py), as `helm4` beside
# Helm 3. Its default Kubernetes version (only used without a cluster, e.g. `helm template`)
# is not an ldflag any more: Helm 4 derives it from the k8s.io/client-go it is built with.
build_helm4() {
  go_install helm4 helm helm.sh/helm/v4/cmd/helm "$HELM4_VERSION" \
    "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION" helm4
}

main() {
  if [[ "${1:-}" == "--print-bin" ]]; then echo "$bin"; exit 0; fi
  local all=(etcd kwok kustomize helm helm4 sops cosign cosign3 notation gitea kubernetes flux node coredns podinfo)
  local wanted=("$@") t t_all
  [[ ${#wanted[@]} -gt 0 ]] || wanted=("${all[@]}")
  step "cache: $bin"
  t_all=$SECONDS
  for t in "${wanted[@]}"; do
    case "$t" in
      etcd|kwok|kustomize|helm|helm4|sops|cosign|cosign3|notation|gitea|kubernetes|flux|node|coredns|podinfo) timed "$t" "build_$t" ;;
      *) echo "unknown tool '$t' (one of: ${all[*]})" >&2; exit 2 ;;
    esac
  done
  step "all tools ready in $((SECONDS - t_all))s: $bin"
}

# Sourced (the tests of the functions above), it defines them and builds nothing.
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"

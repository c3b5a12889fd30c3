#!/usr/bin/env bash
# Install the Debian packages afflux's tests and local environment use.
# Idempotent: it does nothing when all of them are there. Needs root (or sudo).
set -euo pipefail

packages=(
  git              # git http-backend: the test Git server (smart HTTP)
  openssh-server   # sshd + git-shell: the test Git server over SSH
  docker-registry  # distribution 2.8: the test OCI registry
  apache2-utils    # htpasswd for the registry's and Git server's auth
  openssl          # the test CA and the local cluster's PKI
  gnupg            # GPG: signed commits and tags (source verify, automation signing)
  age              # age keys for SOPS tests
  prometheus-alertmanager  # a real Alertmanager for the alertmanager Provider's test
  prometheus       # a real Prometheus for config/monitoring's test (dashboards, alert rules)
  nats-server      # a real NATS server for the nats Provider's test
  chromium         # the headless browser the UI's tests drive (Playwright, no browser download)
  ca-certificates
  make
  # the real node (NODE=real): container runtime, Pod network, Services, the image base
  containerd       # CRI (1.6: the kubelet falls back to its own cgroup driver setting)
  runc
  containernetworking-plugins  # bridge, host-local, loopback
  iptables         # kube-proxy (iptables mode), the bridge plugin's masquerade
  conntrack
  debootstrap      # the Debian base of the afflux image (cli/devenv/_afflux_image.py)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "[deps] Debian packages: all present"
  exit 0
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "[deps] installing: ${missing[*]}"
# Services these packages ship (sshd, the registry) must not start system-wide: the
# tests start their own on loopback. A policy-rc.d that says no keeps them down.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
fi
# a mirror that drops a connection is asked again (apt's own retries, with backoff)
$sudo apt-get -o Acquire::Retries=3 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o Acquire::Retries=3 install -y -qq --no-install-recommends "${missing[@]}"
echo "[deps] done"

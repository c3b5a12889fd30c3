# The afflux image: every operator and the CLI; the Deployment's command picks the operator
# (`python -m afflux.controllers.<name>`). Build: `docker build -t ghcr.io/afflux/afflux:<v> .`
# The Go-built tools the operators call (kustomize, helm 4 and helm 3, sops) are compiled in
# a first stage at the versions pinned in hack/versions.env.

FROM golang:1.25-bookworm AS tools
WORKDIR /src
COPY hack/versions.env hack/tools.sh hack/
ENV AFFLUX_CACHE=/cache CGO_ENABLED=0
RUN hack/tools.sh kustomize helm helm4 sops \
 && mkdir -p /out \
 && cp -L /cache/bin/kustomize /cache/bin/helm /cache/bin/helm4 /cache/bin/sops /out/

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends git gnupg openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=tools /out/ /usr/local/bin/
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY api api
COPY controllers controllers
COPY cli cli
RUN pip install --no-cache-dir . && rm -rf /app/build
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin afflux \
 && mkdir -p /data && chown afflux /data
USER 65532
ENTRYPOINT []
CMD ["afflux", "version"]

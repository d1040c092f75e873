# syntax=docker/dockerfile:1
#
# Weir in one image: `weir server` (the default command), `weir models serve` and `weir db upgrade`.
#
#   docker build -t weir .
#   docker run --rm -p 5000:5000 weir
#   docker run --rm -p 5001:5001 --add-host=host.docker.internal:host-gateway \
#     -e MLFLOW_TRACKING_URI=http://host.docker.internal:5000 weir \
#     models serve -m models:/iris-classifier@champion --host 0.0.0.0 --port 5001
#
# Three stages:
#   build        the release binary, exactly as CI builds it (`cargo build --release --locked`)
#   onnxruntime  libonnxruntime.so taken from the PyPI wheel by scripts/fetch-onnxruntime.sh, the
#                same script CI and the tests run, so the image ships the library the tests used
#   runtime      distroless cc (glibc, libgcc, libstdc++, CA certificates, tzdata, no shell): the
#                binary, the library, a writable working directory, and a numeric non-root user
#
# scripts/check-deploy.sh parses this file and fails if the cargo command or the fetch script
# drift from the ones CI runs.

ARG RUST_IMAGE=rust:1-bookworm
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds (BuildKit); the binary is copied
# out of the mounted target/ because a cache mount is not part of the layer. Debug line tables
# (profile.release.debug) are stripped here only: they are a third of the binary and a container
# has no debugger; symbol names stay, so panics still print readable backtraces.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/weir /out/weir \
    && strip --strip-debug /out/weir \
    && mkdir -p /out/var-lib-weir

# Runs on the build machine's own platform and picks the wheel for the target's architecture, so a
# cross-platform build (docker buildx --platform linux/arm64) needs no emulation for this step.
FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS onnxruntime
ARG TARGETARCH
WORKDIR /src
COPY scripts/fetch-onnxruntime.sh scripts/fetch-onnxruntime.sh
RUN WEIR_ORT_ARCH=${TARGETARCH} scripts/fetch-onnxruntime.sh /out

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /out/weir /usr/local/bin/weir
COPY --from=onnxruntime /out/libonnxruntime.so.1.31.1 /usr/local/lib/libonnxruntime.so.1.31.1
# The working directory holds the defaults that are relative paths (sqlite:///mlflow.db,
# ./mlartifacts, ./.weir-cache), so it must be writable by the runtime user. Kubernetes mounts an
# emptyDir or a volume here when the root filesystem is read-only.
COPY --from=build --chown=65532:65532 /out/var-lib-weir /var/lib/weir
ENV ORT_DYLIB_PATH=/usr/local/lib/libonnxruntime.so.1.31.1
WORKDIR /var/lib/weir
# Numeric, so Kubernetes can enforce runAsNonRoot without knowing the image's /etc/passwd.
USER 65532:65532
EXPOSE 5000
# No HEALTHCHECK: the image has no shell or HTTP client to run one, and Kubernetes ignores it in
# favour of the pod's probes (/health, /v2/health/live, /v2/health/ready; see docs/kubernetes.md).
ENTRYPOINT ["weir"]
CMD ["server", "--host", "0.0.0.0"]

# syntax=docker/dockerfile:1
# One image with every Swift Eats binary in /usr/local/bin; each Kubernetes
# Deployment runs its own (deploy/k8s). Build and push:
#   docker build -t registry.example.com/swifteats/swifteats:0.1.0 .
#
# The build stage only runs scripts/image-build.sh, which CI also runs
# (`make k8s-check`), so the image's build steps cannot drift from what is
# tested. It stages the binaries and the list of Debian packages of their
# shared libraries; the runtime stage installs exactly those.

FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN scripts/image-build.sh --deps --build-dir /src/build-image --dest /stage

FROM debian:12-slim
COPY --from=build /stage/ /
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        $(cat /usr/local/share/swifteats/runtime-packages) \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 swifteats \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin swifteats
# Numeric, so Kubernetes can verify runAsNonRoot without resolving names;
# the chart's podSecurityContext uses the same ids.
USER 10001:10001
# Listen on the container's address, not only on loopback.
ENV SE_BIND_HOST=0.0.0.0 \
    SE_GATEWAY_ADDR=0.0.0.0:8080
# gateway; menu, order, logistics, payment gateway; workers' health.
EXPOSE 8080 50051 50052 50053 50054 50061 50062
CMD ["/usr/local/bin/se-gateway"]

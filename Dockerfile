# syntax=docker/dockerfile:1
#
# The herald image: one static binary on distroless, running as nonroot.
#
#   docker build -t herald:local .
#   docker run --rm -p 8081-8084:8081-8084 -p 4000-4005:4000-4005 -v herald-data:/data herald:local
#
# The default command is `herald up`: every service and an embedded NATS
# JetStream bus in one container, each service listening on 0.0.0.0 (see the
# ENV below), SQLite files and the bus's streams in the /data volume. Give
# another command to run one piece: `herald serve orders --nats ...`,
# `herald bus --listen 0.0.0.0:4222 ...` (docker-compose.yml and
# deploy/kubernetes/ run the services that way). /nats-server is the plain
# nats-server of the same version, for a bus node run from a config file
# (--entrypoint /nats-server; the bus nodes of docker-compose.yml and
# deploy/kubernetes/ do that, see deploy/nats/nats.conf).

# ---- build: the herald binary ----
# go.mod wants Go 1.26.8 or newer; golang:1.26 is the newest 1.26.x (pin an
# exact one with --build-arg GO_VERSION=1.26.8). The builder runs on the build
# machine's platform and cross-compiles (pure Go, CGO off), so a
# multi-platform build (--platform linux/amd64,linux/arm64) needs no emulation.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/herald ./cmd/herald
# nats-server itself, the version go.mod pins (the one herald embeds and is
# tested with), for the bus nodes of docker-compose.yml and deploy/kubernetes:
# they run it with a config file that includes herald nats-config's
# auth.conf, and its monitoring /healthz answers their health checks.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/nats-server github.com/nats-io/nats-server/v2
# The data directory, to be owned by distroless's nonroot user (65532); a new
# named volume mounted on /data copies this ownership.
RUN mkdir -p /out/data

# ---- the image ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /herald
COPY --from=build /out/nats-server /nats-server
COPY --from=build --chown=65532:65532 /out/data /data
# Defaults for a container: data in /data, every service on all interfaces
# (the binary's own defaults are 127.0.0.1, right for a laptop, useless
# behind a container's network). Flags and env given at run time win.
ENV HERALD_DATA=/data \
    HERALD_NATS_LISTEN=0.0.0.0:4223 \
    HERALD_USERS_ADDR=0.0.0.0:8081 \
    HERALD_PRODUCTS_ADDR=0.0.0.0:8082 \
    HERALD_ORDERS_ADDR=0.0.0.0:8083 \
    HERALD_QUERY_ADDR=0.0.0.0:8084 \
    HERALD_POSTS_ADDR=0.0.0.0:4000 \
    HERALD_COMMENTS_ADDR=0.0.0.0:4001 \
    HERALD_BLOG_QUERY_ADDR=0.0.0.0:4002 \
    HERALD_MODERATION_ADDR=0.0.0.0:4003 \
    HERALD_GATEWAY_ADDR=0.0.0.0:4005
USER 65532:65532
VOLUME ["/data"]
# Health checks need no shell: `herald probe http://127.0.0.1:8081/readyz`
# exits 0 on a 200 (a service's /readyz, or a bus node's nats-server
# /healthz on 127.0.0.1:8222, as docker-compose.yml uses them), `herald probe
# nats://127.0.0.1:4222` once JetStream answers an anonymous client.
# Documentation only: the services' ports, the embedded bus of `up` (4223),
# and a `herald bus` node's client and cluster ports (4222, 6222).
EXPOSE 8081 8082 8083 8084 4000 4001 4002 4003 4005 4222 4223 6222
# herald stops cleanly on SIGTERM (Docker's default stop signal) within
# --stop-timeout (30s): give `docker stop` more than that (-t 40).
ENTRYPOINT ["/herald"]
CMD ["up"]

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
# deploy/kubernetes/ do exactly that).

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
# The data directory, to be owned by distroless's nonroot user (65532); a new
# named volume mounted on /data copies this ownership.
RUN mkdir -p /out/data

# ---- probe: a health check that needs no shell ----
# distroless has no shell, curl, wget or nc, so a container health check
# (docker-compose.yml) cannot use them. This standard-library-only program is
# that check: `herald-probe http://127.0.0.1:8081/readyz` exits 0 on a 200,
# `herald-probe jetstream://127.0.0.1:4222` exits 0 when the NATS server's
# JetStream answers (in a cluster: once a JetStream leader is elected). It is
# not part of Herald's Go module; Kubernetes does not need it (its httpGet
# and tcpSocket probes run outside the container).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS probe
ARG TARGETOS
ARG TARGETARCH
WORKDIR /probe
COPY <<'EOF' main.go
// Command herald-probe checks one address and exits 0 if it answers well:
//
//	http://host:port/path   an HTTP GET answered 200
//	jetstream://host:port   a NATS server whose JetStream answers an account
//	                        info request (in a cluster: a JetStream leader is
//	                        elected and reachable from this server)
//	nats://host:port        a NATS server's INFO greeting
//	tcp://host:port         a TCP connection
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const timeout = 3 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: herald-probe http://host:port/path | jetstream://host:port | nats://host:port | tcp://host:port")
		os.Exit(2)
	}
	if err := probe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "herald-probe:", err)
		os.Exit(1)
	}
}

func probe(target string) error {
	scheme, addr, ok := strings.Cut(target, "://")
	if !ok {
		return fmt.Errorf("%q: want a scheme (http, jetstream, nats or tcp)", target)
	}
	switch scheme {
	case "http":
		c := &http.Client{Timeout: timeout}
		resp, err := c.Get(target)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", target, resp.Status)
		}
		return nil
	case "jetstream", "nats", "tcp":
		conn, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		defer conn.Close()
		if scheme == "tcp" {
			return nil
		}
		conn.SetDeadline(time.Now().Add(timeout))
		r := bufio.NewReader(conn)
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: no greeting: %w", target, err)
		}
		if !strings.HasPrefix(line, "INFO ") {
			return fmt.Errorf("%s: not a NATS server (greeting %.40q)", target, line)
		}
		if scheme == "nats" {
			return nil
		}
		return jetStreamInfo(conn, r, target)
	}
	return fmt.Errorf("%q: unknown scheme %q (want http, jetstream, nats or tcp)", target, scheme)
}

// jetStreamInfo asks $JS.API.INFO over the NATS protocol and wants an answer
// without an error.
func jetStreamInfo(conn net.Conn, r *bufio.Reader, target string) error {
	const inbox = "_INBOX.herald-probe"
	_, err := io.WriteString(conn, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"name\":\"herald-probe\"}\r\n"+
		"SUB "+inbox+" 1\r\nPUB $JS.API.INFO "+inbox+" 0\r\n\r\n")
	if err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: no JetStream answer: %w", target, err)
		}
		line = strings.TrimRight(line, "\r\n")
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || f[0] == "+OK" || f[0] == "PONG" || f[0] == "INFO":
		case f[0] == "PING":
			io.WriteString(conn, "PONG\r\n")
		case f[0] == "-ERR":
			return fmt.Errorf("%s: %s", target, line)
		case f[0] == "HMSG": // a status message: 503, no JetStream here
			return fmt.Errorf("%s: no JetStream responder (is JetStream enabled?)", target)
		case f[0] == "MSG" && len(f) >= 4:
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return fmt.Errorf("%s: bad message %q", target, line)
			}
			body := make([]byte, n+2)
			if _, err := io.ReadFull(r, body); err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
			var info struct {
				Error *struct {
					Code        int    `json:"code"`
					Description string `json:"description"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body[:n], &info); err != nil {
				return fmt.Errorf("%s: bad JetStream answer: %w", target, err)
			}
			if info.Error != nil {
				return fmt.Errorf("%s: JetStream: %s (%d)", target, info.Error.Description, info.Error.Code)
			}
			return nil
		default:
			return fmt.Errorf("%s: unexpected %q", target, line)
		}
	}
}
EOF
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/herald-probe main.go

# ---- the image ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /herald
COPY --from=probe /out/herald-probe /herald-probe
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
# Documentation only: the services' ports, the embedded bus of `up` (4223),
# and a `herald bus` node's client and cluster ports (4222, 6222).
EXPOSE 8081 8082 8083 8084 4000 4001 4002 4003 4005 4222 4223 6222
# herald stops cleanly on SIGTERM (Docker's default stop signal) within
# --stop-timeout (30s): give `docker stop` more than that (-t 40).
ENTRYPOINT ["/herald"]
CMD ["up"]

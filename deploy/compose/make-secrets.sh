#!/usr/bin/env bash
# Writes the credentials docker-compose.yml mounts (its `secrets:`) into
# deploy/compose/secrets/, by running herald in the image:
#
#   secrets/nats/   herald nats-config: <identity>.nk (one NKey seed per
#                   service, and admin.nk) and auth.conf (the bus nodes' users
#                   and permissions)
#   secrets/auth/   herald keys: signing.pem (the users service's signing key),
#                   jwks.json (the public keys every service verifies tokens
#                   with) and admin.token (the operator's token)
#
#   deploy/compose/make-secrets.sh [--rotate-keys]
#
# Run it from anywhere, once before the first `docker compose up`, and again
# after adding a query replica (its name must be in REPLICAS below). It keeps
# what exists: seeds are reused and auth.conf rewritten, and the token keys
# are kept (a new operator token is written). --rotate-keys makes a new signing
# key (herald keys --rotate; the old public key stays in jwks.json until the
# tokens it signed expire). To replace every NATS seed, move secrets/nats
# away and run it again (deploy/README.md#credentials).
#
# The files are written by the image's user (uid 65532, the user every Herald
# container runs as), mode 0600: the containers can read their own, other
# users of this machine none of them. `docker compose run --rm admin ...`
# reads the admin's.
#
# Environment: HERALD_IMAGE (default herald:local; built from the Dockerfile
# if missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
image=${HERALD_IMAGE:-herald:local}
out=deploy/compose/secrets
rotate=0
case ${1:-} in
  --rotate-keys) rotate=1 ;;
  "") ;;
  *) echo "usage: $0 [--rotate-keys]" >&2; exit 2 ;;
esac
# The read model replicas' names (HERALD_REPLICA in docker-compose.yml):
# each has its own durable consumer, which auth.conf must allow.
REPLICAS=query-1,query-2,blog-query-1

if ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "== building $image"
  docker build -t "$image" .
fi

herald() { # herald DIR ARGS...: herald ARGS in the image, as its user, DIR on /out
  local dir=$1
  shift
  docker run --rm --user 65532:65532 --network none -v "$root/$dir:/out" "$image" "$@"
}

umask 077
mkdir -p "$out/nats" "$out/auth"
chmod 0700 "$out"
# While herald runs (as uid 65532) it must be able to write in the two
# directories; afterwards only their owner (you) may enter them. The
# parent stays 0700 throughout.
chmod 0777 "$out/nats" "$out/auth"
trap 'chmod 0700 "$out/nats" "$out/auth"' EXIT

echo "== herald nats-config --dir $out/nats --query-replicas $REPLICAS"
herald "$out/nats" nats-config --dir /out --query-replicas "$REPLICAS" >/dev/null

# Keeps an existing signing key and jwks.json (--rotate-keys: a new signing
# key, the old public key kept), and writes a new operator token.
keys=(keys --dir /out)
if [ "$rotate" = 1 ]; then keys+=(--rotate); fi
echo "== herald ${keys[*]}"
herald "$out/auth" "${keys[@]}"

# nats-server's own check of the bus nodes' config with this auth.conf.
echo "== nats-server -t: deploy/nats/nats.conf with the new auth.conf"
docker run --rm --network none \
  -v "$root/deploy/nats/nats.conf:/etc/nats/nats.conf:ro" \
  -v "$root/$out/nats/auth.conf:/etc/nats/auth.conf:ro" \
  --entrypoint /nats-server "$image" -t -c /etc/nats/nats.conf

echo "credentials in $out (owner uid 65532, mode 0600); now: docker compose up --wait"

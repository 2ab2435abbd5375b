#!/usr/bin/env bash
# Writes the files kustomization.yaml's secretGenerator turns into Secrets,
# into deploy/kubernetes/secrets/ (gitignored):
#
#   secrets/nats/   herald nats-config: <identity>.nk (one NKey seed per
#                   service -> Secret herald-nats-<service>; admin.nk ->
#                   herald-nats-admin, for the herald-streams Job only) and
#                   auth.conf (-> herald-nats-auth, for the bus StatefulSet)
#   secrets/auth/   herald keys: jwks.json (-> herald-auth-public, every
#                   service), signing.pem (-> herald-auth-signing, users only)
#                   and admin.token (the operator's: it stays here, on your
#                   machine, and is not put in the cluster)
#
#   deploy/kubernetes/make-secrets.sh [--rotate-keys]
#   kubectl apply -k deploy/kubernetes
#
# It keeps what exists (seeds are reused, auth.conf rewritten; token keys
# kept, a new operator token written): run it again after scaling a query
# StatefulSet past REPLICAS pods. --rotate-keys makes a new token signing
# key (herald keys --rotate: the old public key stays in jwks.json until the
# tokens it signed expire). To replace every NATS seed, move secrets/nats
# away, run it, and apply (deploy/README.md#credentials).
#
# herald is `herald` on PATH, or $HERALD (a binary), or else the image
# $HERALD_IMAGE (default herald:local) through docker, as your own user.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/secrets
rotate=0
case ${1:-} in
  --rotate-keys) rotate=1 ;;
  "") ;;
  *) echo "usage: $0 [--rotate-keys]" >&2; exit 2 ;;
esac

# The read model replicas are the query and blog-query StatefulSets' pods
# (HERALD_REPLICA = the pod name): allow the durable consumers of the first
# REPLICAS pods of each, so they can be scaled up to that without new
# credentials.
REPLICAS=${REPLICAS:-5}
names=()
for sts in query blog-query; do
  for ((i = 0; i < REPLICAS; i++)); do names+=("$sts-$i"); done
done
replicas=$(IFS=,; echo "${names[*]}")

if [ -n "${HERALD:-}" ]; then
  herald() { shift; "$HERALD" "$@"; }
elif command -v herald >/dev/null; then
  herald() { shift; command herald "$@"; }
else
  image=${HERALD_IMAGE:-herald:local}
  herald() { # herald DIR ARGS...: in the image, as you, DIR mounted on itself
    local dir=$1
    shift
    docker run --rm --user "$(id -u):$(id -g)" --network none -v "$dir:$dir" "$image" "$@"
  }
fi

umask 077
mkdir -p "$out/nats" "$out/auth"
chmod 0700 "$out" "$out/nats" "$out/auth"

echo "== herald nats-config --dir $out/nats --query-replicas ${names[0]},...,${names[-1]}"
herald "$out" nats-config --dir "$out/nats" --query-replicas "$replicas" >/dev/null

# Keeps an existing signing key and jwks.json (--rotate-keys: a new signing
# key, the old public key kept), and writes a new operator token.
keys=(keys --dir "$out/auth")
if [ "$rotate" = 1 ]; then keys+=(--rotate); fi
echo "== herald ${keys[*]}"
herald "$out" "${keys[@]}"
echo "secrets in $out; now: kubectl apply -k $here"

#!/bin/sh
# Creates one PostgreSQL role and one database per Herald write service
# (database per service): for each of HERALD_USERS_DB, HERALD_PRODUCTS_DB,
# HERALD_ORDERS_DB, HERALD_POSTS_DB, HERALD_COMMENTS_DB and
# HERALD_MODERATION_DB, a URL of the form
#
#   postgres://ROLE:PASSWORD@HOST:PORT/DATABASE?options
#
# (exactly what that service is given as --db), it creates ROLE with
# PASSWORD and DATABASE owned by ROLE, and takes CONNECT on DATABASE away
# from PUBLIC, so no service can open another's database. The URLs are the
# only place the names and passwords are written down.
#
# The postgres image runs it once, on an empty data directory, from
# /docker-entrypoint-initdb.d (docker-compose.yml, deploy/kubernetes/). It is
# idempotent, so it can also be run by hand against a server of your own
# (a managed PostgreSQL) as a superuser, or a role that can create roles and
# databases and SET ROLE to them, with the usual libpq variables:
#
#   PGHOST=db.example.com PGUSER=admin PGPASSWORD=... \
#   HERALD_USERS_DB=postgres://herald_users:...@db.example.com:5432/herald_users?sslmode=require ... \
#   sh deploy/postgres/init.sh
#
# An existing role keeps its password. Passwords must not need
# percent-encoding in a URL (use letters, digits, '-', '_', '.', '~').
set -e  # (not -u: the postgres image sources a script that lost its exec bit)

# psql: inside the postgres image's init phase, the temporary server on the
# local socket as POSTGRES_USER; otherwise whatever PG* variables say.
user=${POSTGRES_USER:-${PGUSER:-postgres}}

for svc in USERS PRODUCTS ORDERS POSTS COMMENTS MODERATION; do
	var="HERALD_${svc}_DB"
	eval "url=\${$var:-}"
	if [ -z "$url" ]; then
		echo "herald init: $var is not set (want postgres://ROLE:PASSWORD@HOST:PORT/DATABASE)" >&2
		exit 1
	fi
	# postgres://ROLE:PASSWORD@HOST[:PORT]/DATABASE[?options]
	re='^postgres\(ql\)\{0,1\}://\([A-Za-z_][A-Za-z0-9_]*\):\([^@/]\{1,\}\)@[^/]\{1,\}/\([A-Za-z_][A-Za-z0-9_]*\)\([?].*\)\{0,1\}$'
	role=$(printf '%s\n' "$url" | sed -n "s|$re|\2|p")
	password=$(printf '%s\n' "$url" | sed -n "s|$re|\3|p")
	db=$(printf '%s\n' "$url" | sed -n "s|$re|\4|p")
	if [ -z "$role" ] || [ -z "$password" ] || [ -z "$db" ]; then
		echo "herald init: $var is not postgres://ROLE:PASSWORD@HOST:PORT/DATABASE with plain names" >&2
		exit 1
	fi
	case $password in *%*)
		echo "herald init: $var: a percent-encoded password is not supported here" >&2
		exit 1
	esac
	echo "herald init: role $role, database $db"
	psql -v ON_ERROR_STOP=1 -q --username "$user" --dbname postgres \
		-v role="$role" -v password="$password" -v db="$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT ALL ON DATABASE :"db" TO :"role";
SQL
done

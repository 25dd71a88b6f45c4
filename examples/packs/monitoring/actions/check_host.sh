#!/bin/sh
# $1 = host, $2 = port (positional params); the JSON of all params is on stdin.
host="$1"
port="$2"
read -r params
echo "checking $host:$port" >&2
if getent hosts "$host" > /dev/null 2>&1; then resolves=true; else resolves=false; fi
printf '{"host": "%s", "port": %s, "resolves": %s}\n' "$host" "$port" "$resolves"

#!/usr/bin/env bash
# StackStorm's own `st2` client (st2client 3.9.0 from PyPI) against `attune serve --http`:
# the everyday commands, their output and exit codes. Run by tests/st2client.rs, which
# starts the server and sets ST2_API_URL, ST2_AUTH_URL, ST2_STREAM_URL, HOME, ST2 (the
# client) and ADMIN_USER / ADMIN_PASSWORD. Each check prints what it ran; the first
# failure stops the script with the command's output.
set -uo pipefail

fail() { echo "FAILED: $*" >&2; exit 1; }

# run EXPECTED_RC ARGS...: runs `st2 ARGS`, colour codes stripped into $OUT; fails unless
# the exit code is EXPECTED_RC.
run() {
    local want=$1; shift
    echo "+ st2 $*"
    OUT=$("$ST2" "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'); local rc=${PIPESTATUS[0]}
    [ "$rc" = "$want" ] || fail "st2 $* exited $rc (expected $want):"$'\n'"$OUT"
}

# has TEXT: $OUT contains TEXT.
has() { grep -qF -- "$1" <<<"$OUT" || fail "expected '$1' in:"$'\n'"$OUT"; }

# --- auth: a token printed alone, then a login that caches it for the next commands
run 0 auth "$ADMIN_USER" -p "$ADMIN_PASSWORD" -t
[ -n "$OUT" ] && [ "$(wc -l <<<"$OUT")" = 1 ] || fail "st2 auth -t printed more than a token: $OUT"
run 1 auth "$ADMIN_USER" -p wrong-password
has "401"
run 0 login "$ADMIN_USER" -p "$ADMIN_PASSWORD"
has "Logged in as $ADMIN_USER"
run 0 whoami
has "Currently logged in as \"$ADMIN_USER\""

# --- actions
run 0 action list -p core
has "core.local"
run 0 action get core.local
has "local-shell-cmd"
run 1 action get core.nope

# --- run: succeeded (exit 0) with stdout and return_code; failed (exit 1)
run 0 run core.local cmd="echo hello-from-st2"
has "succeeded"
has "stdout: hello-from-st2"
has "return_code: 0"
run 1 run core.local cmd="exit 3"
has "failed"
has "return_code: 3"
run 0 run -a core.local cmd="echo not-waited"
has "st2 execution get"

echo "all st2 checks passed"

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

# --- executions: list, get, tail of a finished one, re-run with an override
run 0 execution list -n 5
has "core.local"
has "succeeded"
run 0 execution list --status failed -j
has '"status": "failed"'
FIRST=$("$ST2" execution list -n 50 -j | python3 -c 'import json, sys
print(next(x["id"] for x in json.load(sys.stdin) if x["status"] == "succeeded"))')
run 0 execution get "$FIRST"
has "hello-from-st2"
run 0 execution tail "$FIRST"
has "hello-from-st2"
has "has completed (status=succeeded)"
run 0 execution re-run "$FIRST" cmd="echo rerun-override"
has "stdout: rerun-override"
run 1 execution get 01a24d45-0000-7000-8000-000000000000
has "is not found"

# --- cancel: a running one, then again (StackStorm's faultstring, exit 0)
run 0 run -a core.local cmd="sleep 60"
LONG=$(grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' <<<"$OUT" | head -n1)
[ -n "$LONG" ] || fail "no execution id in: $OUT"
run 0 execution cancel "$LONG"
has "canceled"
for _ in $(seq 1 100); do
    "$ST2" execution get "$LONG" -j | grep -q '"status": "canceled"' && break
    sleep 0.1
done
run 0 execution get "$LONG"
has "canceled"
run 0 execution cancel "$LONG"
has "Action cannot be canceled. State = canceled."

# --- keys: plain, secret (ciphertext unless --decrypt), user scope with a ttl, list, delete
run 0 key set greeting hello
has "st2kv.system"
run 0 key get greeting
has "hello"
run 0 key set password hunter2 --encrypt
run 0 key get password
has "attune:aes256gcm:"
grep -qF "hunter2" <<<"$OUT" && fail "a secret shown without --decrypt: $OUT"
run 0 key get password --decrypt
has "hunter2"
run 0 key set mine myvalue --scope user --ttl 600
has "st2kv.user"
has "expire_timestamp"
run 0 key get mine --scope user
has "myvalue"
run 0 key list --prefix gree
has "greeting"
grep -qF "password" <<<"$OUT" && fail "key list --prefix gree listed another key: $OUT"
run 0 key list
has "greeting"
has "mine"
run 0 key delete greeting
run 2 key delete greeting
run 1 key get greeting

# --- rules: create from a StackStorm rule file, list, get, disable, enable, delete
RULE_FILE="$HOME/on_hook.yaml"
cat > "$RULE_FILE" <<'YAML'
---
name: "on_hook"
pack: "examples"
description: "Runs echo on a webhook."
enabled: true
trigger:
  type: "core.st2.webhook"
  parameters:
    url: "sample"
criteria:
  trigger.body.name:
    pattern: "st2"
    type: "equals"
action:
  ref: "core.local"
  parameters:
    cmd: "echo hook-{{ trigger.body.name }}"
YAML
run 0 rule create "$RULE_FILE"
has "examples.on_hook"
run 2 rule create "$RULE_FILE"
has "409"
run 0 rule list --pack examples
has "examples.on_hook"
run 0 rule get examples.on_hook
has "core.local"
run 0 rule disable examples.on_hook
run 0 rule list --disabled
has "examples.on_hook"
run 0 rule enable examples.on_hook
run 0 rule list --enabled
has "examples.on_hook"

# --- a webhook POST fires the rule; its trigger instance and enforcement are listed
run 0 webhook list
has "sample"
TOKEN=$("$ST2" auth "$ADMIN_USER" -p "$ADMIN_PASSWORD" -t)
python3 - "$ST2_API_URL/webhooks/sample" "$TOKEN" <<'PY' || fail "the webhook POST failed"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=json.dumps({"name": "st2"}).encode(),
                             headers={"X-Auth-Token": sys.argv[2], "Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    assert r.status == 202, r.status
    assert json.load(r) == {"name": "st2"}
PY
for _ in $(seq 1 50); do
    "$ST2" execution list -n 50 -a id result -j | grep -q '"stdout": "hook-st2"' && break
    sleep 0.2
done
run 0 execution list -n 50 -a id status result -j
has '"stdout": "hook-st2"'
run 0 execution list --user "$ADMIN_USER" -n 50 -a id action -j
has '"ref": "core.local"'
run 0 trigger-instance list
has "core.webhook"
has "processed"
run 0 rule-enforcement list --rule examples.on_hook
has "examples.on_hook"

# --- traces: the webhook's event, the rule it matched and the execution it started. One
# trace listed is printed with its components; `trace get -e` walks the causation chain.
run 0 trace list --rule examples.on_hook
has "trigger-instance"
has "core.webhook"
has "examples.on_hook"
has "core.local"
run 0 trace list --rule examples.on_hook -j
read -r TRACE HOOK_EXEC < <(python3 -c 'import json, sys; t = json.load(sys.stdin); print(t["id"], t["action_executions"][0]["object_id"])' <<<"$OUT") \
    || fail "no trace id in: $OUT"
run 0 trace get "$TRACE" -e "$HOOK_EXEC"
has "$HOOK_EXEC"
has "examples.on_hook"
has "core.webhook"
run 0 trace list -e "$HOOK_EXEC" -j
has "\"id\": \"$TRACE\""
run 0 trace list -n 5
has "$TRACE"
run 1 trace get 00000000-0000-0000-0000-000000000000

# --- packs, trigger types
run 0 pack list
has "core"
has "examples"
run 0 pack get core
has "Core"
run 0 pack register st2test
has "rules"
run 2 pack register no-such-pack
has "no-such-pack"
run 0 trigger list
has "core.webhook"

# --- inquiries: a core.ask waits; list, get, respond; a second response is refused
run 0 run -a core.ask schema='{"type": "object", "properties": {"continue": {"type": "boolean"}}, "required": ["continue"]}'
ASK=$(grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' <<<"$OUT" | head -n1)
for _ in $(seq 1 100); do
    "$ST2" inquiry list -j | grep -q "$ASK" && break
    sleep 0.1
done
run 0 inquiry list
has "$ASK"
run 0 inquiry get "$ASK"
has "$ASK"
run 0 inquiry respond "$ASK" -r '{"continue": true}'
has "Response accepted for inquiry $ASK"
run 1 inquiry respond "$ASK" -r '{"continue": true}'
run 0 execution get "$ASK"
has "succeeded"

# --- tail of a running execution: its output as it comes, then its end (the event stream)
run 0 run -a core.local cmd='sleep 2; for i in 1 2 3 4; do echo tail-$i; sleep 0.5; done'
TAIL=$(grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' <<<"$OUT" | head -n1)
run 0 execution tail "$TAIL"
has "tail-1"
has "tail-4"
has "has completed (status=succeeded)"

# --- API keys: created (shown once), used instead of a token, disabled, deleted
run 0 apikey create -k -m '{"used_by": "the st2 script"}'
APIKEY=$(tail -n1 <<<"$OUT")
[ "${#APIKEY}" = 64 ] || fail "not an API key: $OUT"
run 0 apikey list
has "the st2 script"
KEY_ID=$("$ST2" apikey list -j | python3 -c 'import json, sys
print(next(k["id"] for k in json.load(sys.stdin) if k["metadata"].get("used_by") == "the st2 script"))')
echo "+ (with the API key) st2 whoami"
OUT=$(env -u ST2_AUTH_TOKEN HOME="$HOME/nokey" ST2_API_KEY="$APIKEY" "$ST2" whoami 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
has "Authentication method: API key"
has "\"$ADMIN_USER\""
run 0 apikey disable "$KEY_ID"
echo "+ (with the disabled API key) st2 action list"
OUT=$(env -u ST2_AUTH_TOKEN HOME="$HOME/nokey" ST2_API_KEY="$APIKEY" "$ST2" action list 2>&1); RC=$?
[ "$RC" = 1 ] || fail "a disabled API key was accepted ($RC): $OUT"
has "401"
run 0 apikey delete "$KEY_ID"

echo "all st2 checks passed"

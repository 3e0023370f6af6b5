#!/usr/bin/env bash
# End-to-end test of parley-cli against the real server.
# Usage: tests/cli/cli_test.sh PATH/TO/parley PATH/TO/parley-cli
# Prints one line per check and finally "N passed, M failed"; exits non-zero on failure.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 PARLEY PARLEY_CLI" >&2
  exit 2
fi
PARLEY=$(realpath "$1")
CLI=$(realpath "$2")
for b in "$PARLEY" "$CLI"; do
  [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 2; }

T=$(mktemp -d /tmp/parley-cli-test-XXXXXX)
SERVER_PID=""
BG_PIDS=()
cleanup() {
  # Only the script itself: a forked child killed before its exec would run this too.
  [ "$BASHPID" = "$$" ] || return 0
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT
# Never prompt, never read the caller's config.
unset PARLEY_CLI_CONFIG PARLEY_SERVER
export HOME="$T/home" XDG_CONFIG_HOME="$T/xdg"

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL $1"
  [ $# -gt 1 ] && printf '     %s\n' "$2"
}
# check NAME CONDITION-COMMAND...
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else fail "$name" "$(tail -c 600 "$T/err" 2>/dev/null)"; fi
}

# run CONFIG ARGS...: parley-cli with that config; stdout in $T/out, stderr in $T/err,
# exit code in $RC.
run() {
  local cfg=$1
  shift
  "$CLI" --config "$cfg" "$@" >"$T/out" 2>"$T/err" </dev/null
  RC=$?
}
# JSON lines of $T/out: python expression over `lines` (a list of objects).
json_eval() {
  python3 -c 'import json,sys
lines=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(eval(sys.argv[2]))' "$T/out" "$1"
}

start_server() {  # [PORT]
  : >"$T/server.out"
  "$PARLEY" serve --port "${1:-0}" --data-dir "$T/data" --threads 2 \
    --set auth.password_cost=minimum >"$T/server.out" 2>>"$T/server.log" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/^parley listening on .*:\([0-9][0-9]*\)$/\1/p' "$T/server.out")
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  echo "the server did not start; log:" >&2
  cat "$T/server.log" >&2
  exit 1
}
stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
# wait_for FILE TEXT: until FILE contains TEXT (5 s).
wait_for() {
  for _ in $(seq 1 100); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

start_server
SERVER="127.0.0.1:$PORT"
ANN="$T/ann/cli.json"
BOB="$T/bob/cli.json"
CAT_XDG="$XDG_CONFIG_HOME/parley/cli.json"

# --- accounts -------------------------------------------------------------------------
run "$ANN" --server "$SERVER" register ann --password "ann password 1"
check "register ann (password option)" test "$RC" = 0
check "register prints the user" grep -q "registered ann" "$T/out"
check "config file has mode 0600" test "$(stat -c %a "$ANN")" = 600
check "config file holds server, handle and token" \
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(not (c["server"]==sys.argv[2] and c["handle"]=="ann" and c["token"].startswith("pt_")))' "$ANN" "$SERVER"
FIRST_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$ANN")

printf 'bob password 1\n' | "$CLI" --config "$BOB" --server "$SERVER" register bob >"$T/out" 2>"$T/err"
RC=$?
check "register bob (password on stdin)" test "$RC" = 0

# The default config location: $XDG_CONFIG_HOME/parley/cli.json.
"$CLI" --server "$SERVER" --json register cat --password "cat password 1" >"$T/out" 2>"$T/err" </dev/null
RC=$?
check "register cat with the XDG default config" test "$RC" = 0 -a -f "$CAT_XDG"
check "register --json prints JSON lines" test "$(json_eval 'lines[0]["registered"]["handle"]')" = cat

printf 'ann password 1\n' | "$CLI" --config "$ANN" login ann >"$T/out" 2>"$T/err"
RC=$?
check "login again (password on stdin)" test "$RC" = 0
SECOND_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$ANN")
check "login stores a new token" test "$SECOND_TOKEN" != "$FIRST_TOKEN"

run "$ANN" login ann --password "wrong password"
check "wrong password: exit 3" test "$RC" = 3
check "wrong password: typed error on stderr" grep -q "^error: unauthenticated:" "$T/err"

python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["token"]=sys.argv[3]; json.dump(c, open(sys.argv[2], "w"))' \
  "$ANN" "$T/old.json" "$FIRST_TOKEN"
run "$T/old.json" conversations
check "login revoked the token it replaced" test "$RC" = 3

run "$ANN" status
check "status shows the account" grep -q "account: *ann" "$T/out"

# --- conversations --------------------------------------------------------------------
run "$ANN" --json create --direct bob
check "create --direct" test "$RC" = 0
DM=$(json_eval 'lines[0]["id"]')
run "$ANN" --json create --group "team" --member bob --member cat
check "create --group with members" test "$RC" = 0
GROUP=$(json_eval 'lines[0]["id"]')
run "$ANN" conversations
check "conversations lists both (human)" grep -q "with bob" "$T/out"
check "conversations shows the group title" grep -q '"team"' "$T/out"
run "$BOB" --json conversations
check "conversations --json" test "$(json_eval 'sorted((c["id"], c["kind"]) for c in lines)')" = \
  "$(python3 -c "print(sorted([($DM, 'direct'), ($GROUP, 'group')]))")"

# --- bob starts following (the first tail seeds the positions) -----------------------
run "$BOB" tail --for 0.5
check "first tail starts live and exits after --for" test "$RC" = 0

# --- send and history -----------------------------------------------------------------
run "$ANN" send "$DM" hello bob
check "send" test "$RC" = 0
check "send prints the seq" grep -q "seq 2" "$T/out"
run "$ANN" --json send "$DM" "$(printf 'two lines\nand a\ttab')"
check "send --json" test "$(json_eval 'lines[0]["seq"]')" = 3
run "$ANN" history "$DM"
check "history (human)" grep -q "ann: hello bob" "$T/out"
check "history escapes control characters" grep -qF 'ann: two lines\nand a\ttab' "$T/out"
check "history: one line per event" test "$(wc -l <"$T/out")" = 3
run "$BOB" --json history "$DM"
check "history --json" test "$(json_eval '[e["data"].get("text") for e in lines]')" = \
  "[None, 'hello bob', 'two lines\\nand a\\ttab']"
run "$ANN" send "$GROUP" "$(printf 'abc\u202edef')"
run "$BOB" history "$GROUP" --after 1
check "history escapes bidirectional overrides" grep -qF 'ann: abc\u202edef' "$T/out"
run "$BOB" --json history "$DM" --after 1 --limit 1
check "history --after --limit" test "$(json_eval '[e["seq"] for e in lines]')" = "[2]"
run "$BOB" --json history "$DM" --before 3
check "history --before" test "$(json_eval '[e["seq"] for e in lines]')" = "[1, 2]"

# --- tail resumes from the stored position --------------------------------------------
run "$BOB" tail "$DM" --count 2 --for 10
check "tail --count 2 gets what was sent while away" test "$RC" = 0
check "tail prints them in order" \
  test "$(sed -e 's/^.*#[0-9]*:[0-9]* //' "$T/out" | tr '\n' '|')" = 'ann: hello bob|ann: two lines\nand a\ttab|'
run "$ANN" send "$GROUP" g1
run "$ANN" send "$GROUP" g2
run "$BOB" --json tail --count 1 --for 10
check "tail --count 1 of 3 waiting" test "$(json_eval '[e["data"]["text"] for e in lines]')" = "['abc\u202edef']"
run "$BOB" --json tail --count 1 --for 10
check "tail --count 1 of 2 waiting" test "$(json_eval '[e["data"]["text"] for e in lines]')" = "['g1']"
run "$BOB" --json tail --count 1 --for 10
check "the next tail resumes with the unshown one" \
  test "$(json_eval '[e["data"]["text"] for e in lines]')" = "['g2']"
run "$BOB" tail --for 0.5
check "nothing is shown twice" test ! -s "$T/out"

# --- tail follows live events from the other user -------------------------------------
"$CLI" --config "$BOB" --json tail --count 3 --for 15 >"$T/tail1.out" 2>"$T/tail1.err" </dev/null &
TAIL_PID=$!
BG_PIDS+=("$TAIL_PID")
check "tail goes online" wait_for "$T/tail1.err" "tail: following"
run "$ANN" send "$DM" live 1
run "$ANN" send "$GROUP" live 2
run "$ANN" send "$DM" live 3
wait "$TAIL_PID"
RC=$?
check "tail --count 3 exits 0" test "$RC" = 0
cp "$T/tail1.out" "$T/out"
check "tail receives the live messages once, in order" \
  test "$(json_eval '[[e["data"]["text"] for e in lines if e["conv"] == c] for c in ('"$DM, $GROUP"')]')" = \
  "[['live 1', 'live 3'], ['live 2']]"

"$CLI" --config "$BOB" tail >"$T/tail2.out" 2>"$T/tail2.err" </dev/null &
TAIL_PID=$!
BG_PIDS+=("$TAIL_PID")
wait_for "$T/tail2.err" "tail: following"
kill -TERM "$TAIL_PID"
wait "$TAIL_PID"
RC=$?
check "SIGTERM ends tail cleanly" test "$RC" = 0

# --- a conversation joined while tail was not running is shown from its start --------
DAN="$T/dan/cli.json"
run "$DAN" --server "$SERVER" register dan --password "dan password 1"
run "$DAN" tail --for 0.5
check "first tail of an account without conversations" test "$RC" = 0
run "$ANN" --json create --group "later" --member dan
LATER=$(json_eval 'lines[0]["id"]')
run "$ANN" send "$LATER" "welcome dan"
run "$DAN" --json tail --count 2 --for 10
check "tail shows the new conversation from its start" \
  test "$(json_eval '[(e["conv"], e["seq"], e["type"]) for e in lines]')" = \
  "[($LATER, 1, 'conversation.created'), ($LATER, 2, 'message.created')]"

# --- errors ---------------------------------------------------------------------------
run "$CAT_XDG" send "$DM" "let me in"
check "send to a conversation cat is not in: exit 1" test "$RC" = 1
check "the error names the typed code" grep -q "^error: not_found: " "$T/err"
run "$CAT_XDG" send 999999 "nowhere"
check "send to an unknown conversation: not_found" test "$RC" = 1 -a -n "$(grep not_found "$T/err")"
run "$BOB" history "$GROUP" --before 2 --after 1
check "usage error: exit 2" test "$RC" = 2
run "$T/nobody/cli.json" conversations
check "not logged in: exit 3" test "$RC" = 3

# --- a send that cannot reach the server stays queued and goes out later --------------
stop_server
run "$ANN" --timeout 1 send "$DM" "queued while down"
check "send with the server down: exit 5" test "$RC" = 5
check "the message stays queued" grep -q "stays queued" "$T/err"
run "$ANN" --json status
check "status counts the queued message" test "$(json_eval 'lines[0]["queued"]')" = 1
start_server "$PORT"
run "$ANN" send "$DM" "after the restart"
check "the next send succeeds" test "$RC" = 0
run "$ANN" --json history "$DM" --after 5
check "the queued message went first, each once" \
  test "$(json_eval '[e["data"]["text"] for e in lines]')" = "['queued while down', 'after the restart']"

# --- rich messages --------------------------------------------------------------------
run "$ANN" --json create --group rich --member bob
RICH=$(json_eval 'lines[0]["id"]')
run "$ANN" --json send "$RICH" "the plan for @bob"
ROOT=$(json_eval 'lines[0]["seq"]')
run "$BOB" --json send "$RICH" --thread "$ROOT" "sounds good"
check "send --thread" test "$RC" = 0
run "$BOB" --json send "$RICH" --reply-to "$ROOT" "quoting the plan"
QUOTE=$(json_eval 'lines[0]["seq"]')
check "send --reply-to" test "$RC" = 0
run "$ANN" edit "$RICH" "$ROOT" the final plan for @bob
check "edit" grep -q "^edited #$RICH:$ROOT" "$T/out"
run "$BOB" edit "$RICH" "$ROOT" not mine
check "edit someone else's message: exit 1, forbidden" test "$RC" = 1 -a -n "$(grep '^error: forbidden:' "$T/err")"
run "$BOB" react "$RICH" "$ROOT" 👍
check "react" grep -q "^reacted 👍" "$T/out"
run "$BOB" react "$RICH" "$ROOT" 👍
check "react again changes nothing" grep -q "^nothing to change" "$T/out"
run "$BOB" react "$RICH" "$ROOT" nope
check "react with a non-emoji: invalid" grep -q "^error: invalid:" "$T/err"
run "$BOB" messages "$RICH"
check "messages shows the edit, reaction and replies" \
  grep -q "^#$ROOT user#[0-9]*: the final plan for @bob (edited) 👍 1 \[1 replies\]" "$T/out"
check "messages shows the quote" grep -q "^#$QUOTE .*: quoting the plan > #$ROOT" "$T/out"
run "$ANN" thread "$RICH" "$ROOT"
check "thread shows the reply" grep -q "^  #[0-9]* user#[0-9]*: sounds good" "$T/out"
run "$BOB" edits "$RICH" "$ROOT"
check "edits shows the earlier version" grep -q " the plan for @bob$" "$T/out"
FOUND=""
for _ in $(seq 1 40); do  # the server indexes new messages every 200 ms
  run "$BOB" search final plan
  if grep -q "\[final\] \[plan\]" "$T/out"; then FOUND=1; break; fi
  sleep 0.1
done
check "search finds the edited text, highlighted" test -n "$FOUND"
run "$ANN" --json threads
check "threads lists the followed thread" test "$(json_eval 'lines[0]["thread"]')" = "$ROOT"
run "$BOB" --json read "$RICH" "$QUOTE"
check "read returns the unread count" test "$(json_eval 'lines[0]["unread"]')" = 0
run "$ANN" delete "$RICH" "$QUOTE"
check "a group owner deletes another's message" grep -q "^deleted #$RICH:$QUOTE" "$T/out"
run "$BOB" messages "$RICH"
check "the deleted message is a tombstone" grep -q "^#$QUOTE user#[0-9]*: \[deleted\]" "$T/out"

# --- attachments ----------------------------------------------------------------------
CAROL="$T/carol/cli.json"
run "$CAROL" --server "$SERVER" register carol --password "carol password 1"
printf 'GIF89a\x03\x00\x02\x00%s' "$(head -c 5000 /dev/zero | tr '\0' 'g')" >"$T/pic.gif"
run "$ANN" upload "$T/pic.gif"
check "upload prints the sniffed type and size" grep -q '^uploaded \[file "pic.gif" image/gif 5010 bytes 3x2 id:[0-9a-f]\{64\}\]' "$T/out"
PIC_ID=$(sha256sum "$T/pic.gif" | cut -c1-64)
check "the upload's id is the SHA-256 of its bytes" grep -q "id:$PIC_ID" "$T/out"
run "$ANN" --json send "$RICH" --attach "$T/pic.gif" "see the picture"
check "send --attach" test "$RC" = 0
run "$BOB" messages "$RICH"
check "messages show the attachment" grep -q "see the picture \[file \"pic.gif\" image/gif 5010 bytes 3x2 id:$PIC_ID\]" "$T/out"
run "$BOB" download "$PIC_ID" "$T/got.gif"
check "a member downloads it" cmp -s "$T/pic.gif" "$T/got.gif"
run "$CAROL" download "$PIC_ID" "$T/carol.gif"
check "a stranger cannot: exit 1, not_found" test "$RC" = 1 -a -n "$(grep '^error: not_found:' "$T/err")"
run "$ANN" upload "$T/does-not-exist"
check "uploading a missing file: an error" test "$RC" != 0

# --- receipts, typing, presence ---------------------------------------------------------
run "$BOB" --json read "$RICH" "$ROOT"
run "$ANN" receipts "$RICH"
check "receipts lists positions" grep -q "^user#[0-9]* delivered [0-9]* read [0-9]" "$T/out"
run "$BOB" settings --private-receipts on
check "settings: private receipts on" grep -q "^private receipts: on, invisible: off" "$T/out"
run "$ANN" receipts "$RICH"
check "bob's reads are private now" grep -q "read (private)" "$T/out"
run "$BOB" settings
check "settings without options shows them" grep -q "^private receipts: on" "$T/out"
# ann follows the group while bob types and comes online.
"$CLI" --config "$ANN" tail "$RICH" --activity --for 4 >"$T/tail_state" 2>"$T/tail_state_err" </dev/null &
TAIL_PID=$!
BG_PIDS+=("$TAIL_PID")
sleep 1.5
run "$BOB" typing "$RICH"
check "typing" grep -q "^typing (for 5 s)" "$T/out"
run "$CAROL" typing "$RICH"
check "typing where you are not a member: not_found" grep -q "^error: not_found:" "$T/err"
wait "$TAIL_PID"
check "tail --activity shows who is typing" grep -q "^#$RICH: .* is typing" "$T/tail_state"
run "$ANN" presence
check "presence lists the contacts" grep -q "^user#[0-9]* \(online\|away\|offline\)" "$T/out"
run "$CAROL" presence
check "a user without contacts sees nobody" test ! -s "$T/out"

# --- the same over Server-Sent Events and long polling ----------------------------------
run "$BOB" tail --for 0.5
run "$ANN" --transport sse send "$GROUP" over-sse
check "send --transport sse" test "$RC" = 0
run "$BOB" --transport poll --json tail "$GROUP" --count 1 --for 10
check "tail --transport poll gets it" test "$(json_eval '[e["data"]["text"] for e in lines]')" = "['over-sse']"
run "$ANN" --transport poll send "$GROUP" over-poll
run "$BOB" --transport sse --json tail "$GROUP" --count 1 --for 10
check "tail --transport sse resumes where polling stopped" \
  test "$(json_eval '[e["data"]["text"] for e in lines]')" = "['over-poll']"
run "$BOB" tail --for 0.5
check "nothing twice after switching transports" test ! -s "$T/out"

# --- logout ---------------------------------------------------------------------------
run "$ANN" logout
check "logout" test "$RC" = 0
run "$ANN" conversations
check "after logout: exit 3" test "$RC" = 3

# --- docs/sdk.md shows examples/sdk/chat.cpp as it is ----------------------------------
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -f "$ROOT/docs/sdk.md" ] && [ -f "$ROOT/examples/sdk/chat.cpp" ]; then
  : >"$T/err"
  # shellcheck disable=SC2016 # Python code in single quotes
  check "docs/sdk.md embeds examples/sdk/chat.cpp verbatim" python3 -c 'import re,sys
doc=open(sys.argv[1]).read()
m=re.search(r"<!-- BEGIN examples/sdk/chat.cpp -->\n```cpp\n(.*?)```\n<!-- END", doc, re.S)
sys.exit(not (m and m.group(1) == open(sys.argv[2]).read()))' "$ROOT/docs/sdk.md" "$ROOT/examples/sdk/chat.cpp"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]

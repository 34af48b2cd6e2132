#!/usr/bin/env bash
# Transient failures are retried, permanent ones are not
# (docs/scheduler.md, "Retries"): a job whose clone finds nothing
# listening, or a git server answering 503, or whose plan finds the
# registry unreachable, is requeued with backoff and the reason, and
# failed once its attempts are used up; a job whose repository does not
# exist (404 from the git server) fails at once. AIRLOCK_TEST_BACKOFF_MS
# shortens the backoff (30 s) so that three attempts fit in a test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
printf 'workers = 2\n' >> "$it_home/airlock.conf"
export AIRLOCK_TEST_BACKOFF_MS=1000

# A loopback port nobody listens on: taken from the kernel, then freed.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A server that answers every request with HTTP 503.
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_POST = do_GET
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()' > port503.txt &
srv503=$!
trap 'kill "$srv503" 2>/dev/null || true; dmn_cleanup' EXIT
for _ in $(seq 1 100); do [ -s port503.txt ] && break; sleep 0.1; done
[ -s port503.txt ] || fail "the 503 server did not start"

# check_retried ID CAUSE: three attempts, two requeues each naming
# CAUSE with a due time after it, then failed with the count.
check_retried() {
	local id=$1 cause=$2 reason
	dmn_wait "$id" r.state failed 300
	[ "$(dmn_field "$id" r.sched.attempt)" = 3 ] ||
		fail "job $id: attempt $(dmn_field "$id" r.sched.attempt)"
	reason=$(dmn_field "$id" r.sched.reason)
	case $reason in
	*"$cause"*"; 3 of 3 attempts used") ;;
	*) fail "job $id: reason '$reason'" ;;
	esac
	al audit show --job "$id" > "audit-$id.txt"
	node -e '
const [file, cause] = process.argv.slice(1);
const rq = require("fs").readFileSync(file, "utf8").split("\n")
	.filter(Boolean).map(JSON.parse)
	.filter(e => e.action === "job.requeue");
const ok = rq.length === 2 && rq.every((e, i) =>
	e.details.attempt === i + 1 && e.details.counted === true &&
	e.details.due_ms > Date.parse(e.time) &&
	e.details.reason.includes(cause));
if (!ok) { console.error(JSON.stringify(rq)); process.exit(1); }' \
		"audit-$id.txt" "$cause" ||
		fail "job $id: job.requeue entries are not attempts 1 and 2 with a due time ahead and '$cause'"
	grep -q "\[$id\] job requeued attempt=1 reason=.*$cause" "$dmn_log" ||
		fail "job $id: no requeue line in the log"
}

dmn_start
pass "daemon started"

refused="http://127.0.0.1:$(free_port)/nothing.git"
a=$(al job enqueue "$refused" --json | json_id)
b=$(al job enqueue "http://127.0.0.1:$(cat port503.txt)/down.git" --json |
	json_id)
# The git server is up, the repository is not there: 404.
c=$(al job enqueue "$GIT_SERVER_URL/no-such-repository.git" --json | json_id)

dmn_wait "$c" r.state failed 120
[ "$(dmn_field "$c" r.sched.attempt)" = 1 ] || fail "404 was retried"
case $(dmn_field "$c" r.sched.reason) in
*404*) ;;
*) fail "404: reason '$(dmn_field "$c" r.sched.reason)'" ;;
esac
al audit show --job "$c" | grep -q '"job.requeue"' &&
	fail "the job of a missing repository was requeued"
pass "a missing repository (404) fails at once"

check_retried "$a" "Connection refused"
pass "connection refused: requeued twice with backoff, then failed"
check_retried "$b" "unexpected http status code: 503"
pass "HTTP 503 from the git server: requeued twice, then failed"
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || fail "airlockd exited $dmn_rc"

# The registry down: the plan cannot tell about any dependency.
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/daemon-project" retryreg)
dmn_use_home "$it_tmp/home-reg" "http://127.0.0.1:$(free_port)"
dmn_start
d=$(al job enqueue "$url" --json | json_id)
check_retried "$d" "stage plan failed: the registry could not tell"
grep -q "job requeued attempt=1 .*Couldn't connect to server" "$dmn_log" ||
	fail "the registry's cause is not in the reason"
pass "registry unreachable: requeued twice, then failed"
dmn_stop TERM
al audit verify > verify.txt || { cat verify.txt; fail "audit verify"; }
pass "audit chain verifies"

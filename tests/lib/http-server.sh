# tests/lib/http-server.sh - a plain HTTP server on loopback for the
# sandbox's proxy tests, sourced by integration tests.
#
# http_server_start DIR: serve DIR with python3's http.server on a free
# 127.0.0.1 port and wait until it accepts; sets HTTP_SERVER_PORT and
# HTTP_SERVER_PID (the caller kills that pid when it cleans up).
http_server_start() {
	local dir=$1

	HTTP_SERVER_PORT=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
	python3 -m http.server --bind 127.0.0.1 --directory "$dir" \
		"$HTTP_SERVER_PORT" > /dev/null 2>&1 &
	HTTP_SERVER_PID=$!
	for _ in $(seq 50); do
		python3 -c "import socket
socket.create_connection(('127.0.0.1', $HTTP_SERVER_PORT))" 2>/dev/null &&
			return 0
		sleep 0.1
	done
	echo "http_server_start: no answer on port $HTTP_SERVER_PORT" >&2
	return 1
}

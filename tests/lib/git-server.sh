# git-server.sh - serve bare repositories over smart HTTP for the tests.
#
# Sourced by tests and appliance/demo. git_server_start DIR serves every
# bare repository under DIR/repos through git's own http-backend (a CGI
# program) behind lighttpd, on 127.0.0.1 and a free port, with HTTP basic
# authentication required for every request. It exports:
#   GIT_SERVER_URL   http://127.0.0.1:PORT  (a repository is URL/NAME.git)
#   GIT_SERVER_USER  user name generated for this run
#   GIT_SERVER_PASS  password generated for this run
#   GIT_SERVER_PID   lighttpd's pid, the only process git_server_stop ends
# Push is enabled: git-http-backend allows receive-pack whenever the web
# server has authenticated the caller (REMOTE_USER is set), which it
# always has here.

GIT_SERVER_BACKEND=${GIT_SERVER_BACKEND:-/usr/lib/git-core/git-http-backend}

git_server__random() {
	# 24 characters from the kernel's CSPRNG, safe in URLs and configs.
	LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 24
}

git_server__config() {
	local dir=$1 port=$2 realm=$3

	cat > "$dir/lighttpd.conf" <<EOF
server.modules = ( "mod_alias", "mod_setenv", "mod_auth",
                   "mod_authn_file", "mod_cgi" )
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$dir/www"
server.upload-dirs = ( "$dir/tmp" )
server.errorlog = "$dir/error.log"
server.max-request-size = 0

auth.backend = "plain"
auth.backend.plain.userfile = "$dir/users"
auth.require = ( "/" => ( "method" => "basic", "realm" => "$realm",
                          "require" => "valid-user" ) )

# Every URL is handed to git-http-backend; the repository name becomes
# its PATH_INFO beneath GIT_PROJECT_ROOT.
alias.url = ( "/" => "$GIT_SERVER_BACKEND/" )
cgi.assign = ( "" => "" )
setenv.set-environment = ( "GIT_PROJECT_ROOT" => "$dir/repos",
                           "GIT_HTTP_EXPORT_ALL" => "1" )
EOF
}

# True when the server on port answers with our realm: a stranger that
# happens to hold the port must not be mistaken for ours.
git_server__answers() {
	local port=$1 realm=$2 reply

	{ exec 9<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
	printf 'GET /probe.git/info/refs HTTP/1.0\r\n\r\n' >&9
	reply=$(timeout 5 cat <&9)
	exec 9<&-
	case $reply in
	*"realm=\"$realm\""*) return 0 ;;
	esac
	return 1
}

git_server__try_port() {
	local dir=$1 port=$2 realm=$3 i

	git_server__config "$dir" "$port" "$realm" || return 2
	: > "$dir/error.log"
	lighttpd -D -f "$dir/lighttpd.conf" < /dev/null \
		> "$dir/stdout.log" 2>&1 &
	GIT_SERVER_PID=$!

	for i in $(seq 1 100); do
		if ! kill -0 "$GIT_SERVER_PID" 2>/dev/null; then
			wait "$GIT_SERVER_PID" 2>/dev/null
			unset GIT_SERVER_PID
			return 1
		fi
		if git_server__answers "$port" "$realm"; then
			return 0
		fi
		sleep 0.1
	done
	git_server_stop
	return 2
}

git_server_start() {
	local dir=$1 port realm try rc

	if [ -z "$dir" ]; then
		echo "git_server_start: usage: git_server_start DIR" >&2
		return 2
	fi
	if ! command -v lighttpd > /dev/null; then
		echo "git_server_start: lighttpd is not installed" >&2
		return 1
	fi
	if [ ! -x "$GIT_SERVER_BACKEND" ]; then
		echo "git_server_start: $GIT_SERVER_BACKEND missing" >&2
		return 1
	fi
	dir=$(cd "$dir" && pwd) || return 1
	mkdir -p "$dir/repos" "$dir/www" "$dir/tmp" || return 1

	GIT_SERVER_USER=airlock-$(git_server__random | head -c 8)
	GIT_SERVER_PASS=$(git_server__random)
	realm=airlock-git-$(git_server__random | head -c 12)
	(umask 077 && printf '%s:%s\n' "$GIT_SERVER_USER" "$GIT_SERVER_PASS" \
		> "$dir/users") || return 1

	# A port picked at random may be taken; lighttpd then exits at once
	# and the next one is tried. Probing by binding first would race.
	for try in $(seq 1 20); do
		port=$((20000 + RANDOM % 40000))
		git_server__try_port "$dir" "$port" "$realm"
		rc=$?
		if [ "$rc" -eq 0 ]; then
			export GIT_SERVER_URL="http://127.0.0.1:$port"
			export GIT_SERVER_USER GIT_SERVER_PASS GIT_SERVER_PID
			return 0
		fi
		if ! grep -q 'Address already in use' "$dir/error.log" \
			"$dir/stdout.log" 2>/dev/null; then
			break
		fi
	done
	echo "git_server_start: lighttpd did not start (last port $port)" >&2
	cat "$dir/stdout.log" "$dir/error.log" >&2 2>/dev/null
	unset GIT_SERVER_USER GIT_SERVER_PASS
	return 1
}

git_server_stop() {
	if [ -n "$GIT_SERVER_PID" ]; then
		kill "$GIT_SERVER_PID" 2>/dev/null
		wait "$GIT_SERVER_PID" 2>/dev/null
	fi
	unset GIT_SERVER_PID GIT_SERVER_URL GIT_SERVER_USER GIT_SERVER_PASS
}

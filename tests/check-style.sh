#!/usr/bin/env bash
# check-style.sh - the mechanical part of STYLE.md, over every tracked C
# file: no call of a banned function, no line over 100 columns, no
# to-do markers (known limits go to docs/KNOWN-LIMITS.md).
set -eo pipefail
cd "${AL_SOURCE_DIR:-$(dirname "$0")/..}"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null ||
	find src tests -name '*.[ch]')
[ "${#files[@]}" -gt 0 ] || { echo "check-style: no C files found" >&2; exit 1; }
bad=0
if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|system|popen)\s*\(' \
	"${files[@]}"; then
	echo "check-style: banned function calls above" >&2
	bad=1
fi
if awk 'length > 100 { print FILENAME ":" FNR ": over 100 columns"; n++ }
	END { exit n > 0 }' "${files[@]}"; then :; else bad=1; fi
if grep -nE '\b(TODO|XXX|HACK|FIXME)\b' "${files[@]}"; then
	echo "check-style: markers above belong in docs/KNOWN-LIMITS.md" >&2
	bad=1
fi
[ "$bad" -eq 0 ] && echo "check-style: ${#files[@]} files clean"
exit "$bad"

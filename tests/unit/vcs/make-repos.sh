#!/bin/bash
# make-repos.sh DIR - build the bare repositories test_vcs serves, under
# DIR/srv/repos, with git's own plumbing (an independent implementation
# from the libgit2 code under test). Hostile trees are written with
# mktree, which takes names a porcelain command would refuse.
set -eu

dir=$1
repos=$dir/srv/repos
outside=$dir/outside
export HOME=$dir/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=fixture GIT_AUTHOR_EMAIL=fixture@localhost
export GIT_COMMITTER_NAME=fixture GIT_COMMITTER_EMAIL=fixture@localhost
mkdir -p "$repos" "$outside" "$HOME"

# proj.git: an ordinary project with a main and a feature branch.
w=$dir/w-proj
git init -q -b main "$w"
printf '{\n  "name": "proj",\n  "dependencies": { "a": "^1.0.0" }\n}\n' \
	> "$w/package.json"
echo "# proj" > "$w/README.md"
mkdir "$w/lib"
printf '#!/bin/sh\necho hi\n' > "$w/lib/run.sh"
chmod +x "$w/lib/run.sh"
git -C "$w" add -A
git -C "$w" commit -qm "initial"
git -C "$w" checkout -qb feature
echo "feature" > "$w/FEATURE"
git -C "$w" add FEATURE
git -C "$w" commit -qm "feature"
git -C "$w" checkout -q main
git clone -q --bare "$w" "$repos/proj.git"
git clone -q --bare "$w" "$repos/reject.git"

# reject.git refuses every push, explaining itself on the side band.
cat > "$repos/reject.git/hooks/pre-receive" <<'EOF'
#!/bin/sh
echo "policy: pushes to this repository are closed"
exit 1
EOF
chmod +x "$repos/reject.git/hooks/pre-receive"

# hostile.git: links that point at host files and outside the clone.
w=$dir/w-hostile
git init -q -b main "$w"
ln -s /etc "$w/node_modules"
ln -s /etc/passwd "$w/package.json"
ln -s "$outside/npmrc" "$w/.npmrc"
echo "plain" > "$w/index.js"
git -C "$w" add -A
git -C "$w" commit -qm "hostile links"
git clone -q --bare "$w" "$repos/hostile.git"

# A bare repository whose main commit has the tree printed by "$@".
tree_repo() {
	local bare=$1 tree commit
	shift
	git init -q --bare -b main "$bare"
	tree=$("$@" "$bare")
	commit=$(git --git-dir="$bare" commit-tree -m hostile "$tree")
	git --git-dir="$bare" update-ref refs/heads/main "$commit"
}

blob() { printf '%s' "$2" | git --git-dir="$1" hash-object -w --stdin; }

# dup.git: "node_modules" twice, as a link to outside and as a directory
# holding evil.js; checkout must not write evil.js through the link.
dup_tree() {
	local g=$1 link evil sub
	link=$(blob "$g" "$outside")
	evil=$(blob "$g" "planted")
	sub=$(printf '100644 blob %s\tevil.js\n' "$evil" |
		git --git-dir="$g" mktree)
	printf '120000 blob %s\tnode_modules\n040000 tree %s\tnode_modules\n' \
		"$link" "$sub" | git --git-dir="$g" mktree
}
tree_repo "$repos/dup.git" dup_tree

# dotgit.git: a tracked .git/config that would take over the clone.
dotgit_tree() {
	local g=$1 cfg sub
	cfg=$(blob "$g" "[core]
	worktree = $outside
# airlock-planted-config
")
	sub=$(printf '100644 blob %s\tconfig\n' "$cfg" |
		git --git-dir="$g" mktree)
	printf '040000 tree %s\t.git\n' "$sub" | git --git-dir="$g" mktree
}
tree_repo "$repos/dotgit.git" dotgit_tree

# dotdot.git: an entry named ".." whose blob would land in the parent.
dotdot_tree() {
	local g=$1 b sub
	b=$(blob "$g" "planted")
	sub=$(printf '100644 blob %s\tescaped\n' "$b" |
		git --git-dir="$g" mktree)
	printf '040000 tree %s\t..\n' "$sub" | git --git-dir="$g" mktree
}
tree_repo "$repos/dotdot.git" dotdot_tree

# big.git: 2 MiB that do not compress; bomb.git: 32 MiB of zeros that
# compress to almost nothing.
w=$dir/w-big
git init -q -b main "$w"
head -c 2097152 /dev/urandom > "$w/blob.bin"
git -C "$w" add -A
git -C "$w" commit -qm "big"
git clone -q --bare "$w" "$repos/big.git"

w=$dir/w-bomb
git init -q -b main "$w"
head -c 33554432 /dev/zero > "$w/zeros.bin"
git -C "$w" add -A
git -C "$w" commit -qm "bomb"
git clone -q --bare "$w" "$repos/bomb.git"
rm -rf "$dir/w-big" "$dir/w-bomb"

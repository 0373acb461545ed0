#!/bin/sh
# cli_keygen - `agentbus keygen`: czmq-format certificates with the right
# modes, readable by pyzmq's zmq.auth.load_certificate (czmq's zcert wrote
# them), never overwritten without --force, and clear errors for bad names
# and paths.

set -u
bin=$(cd "${AB_BUILDDIR:-.}" && pwd)/agentbus
py=/usr/bin/python3
fail=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

ok () { echo "ok: $1"; }
bad () { echo "FAIL: $1"; fail=1; }
mode () { stat -c %a "$1"; }

key=$("$bin" keygen trainer --dir "$tmp/keys/sub" 2>"$tmp/err")
[ $? -eq 0 ] && ok "keygen exits 0" || bad "keygen: $(cat "$tmp/err")"
[ ${#key} -eq 40 ] && ok "prints a 40-character Z85 key" || bad "printed '$key'"
[ "$(mode "$tmp/keys/sub/trainer.key")" = 644 ] && ok "public file 0644" ||
    bad "public mode $(mode "$tmp/keys/sub/trainer.key")"
[ "$(mode "$tmp/keys/sub/trainer.key_secret")" = 600 ] && ok "secret file 0600" ||
    bad "secret mode $(mode "$tmp/keys/sub/trainer.key_secret")"
[ "$(mode "$tmp/keys")" = 700 ] && [ "$(mode "$tmp/keys/sub")" = 700 ] &&
    ok "directories created 0700" || bad "directory modes $(mode "$tmp/keys") $(mode "$tmp/keys/sub")"

# pyzmq reads both files, and they hold one key pair: the public key is the
# one printed, and the secret key's public half is the same.
if "$py" -c 'import zmq.auth' 2>/dev/null; then
    "$py" - "$tmp/keys/sub" "$key" <<'PY' && ok "pyzmq loads the pair" || bad "pyzmq check"
import sys, zmq, zmq.auth
d, printed = sys.argv[1], sys.argv[2].encode()
public, none = zmq.auth.load_certificate(d + "/trainer.key")
public2, secret = zmq.auth.load_certificate(d + "/trainer.key_secret")
assert public == printed and public2 == printed and none is None, (public, printed)
assert zmq.curve_public(secret) == public, "secret does not match public"
PY
else
    echo "note: pyzmq missing, load check skipped"
fi

"$bin" keygen trainer --dir "$tmp/keys/sub" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q 'exists; not overwritten (use --force' "$tmp/err" &&
    ok "existing files refused" || bad "overwrite: $(cat "$tmp/err")"
[ "$(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$tmp/keys/sub/trainer.key")" = "$key" ] &&
    ok "refused run left the files alone" || bad "files changed"

chmod 644 "$tmp/keys/sub/trainer.key_secret"
key2=$("$bin" keygen trainer --dir "$tmp/keys/sub" --force 2>"$tmp/err")
[ $? -eq 0 ] && [ "$key2" != "$key" ] && ok "--force replaces the pair" ||
    bad "--force: $(cat "$tmp/err")"
[ "$(mode "$tmp/keys/sub/trainer.key_secret")" = 600 ] &&
    ok "replaced secret is 0600 again" || bad "replaced secret mode"

(cd "$tmp" && "$bin" keygen here >/dev/null) && [ -f "$tmp/here.key" ] &&
    [ -f "$tmp/here.key_secret" ] && ok "default directory is the current one" ||
    bad "default directory"

for name in ../x .hidden "a/b" ""; do
    "$bin" keygen "$name" --dir "$tmp" >/dev/null 2>"$tmp/err"
    [ $? -eq 2 ] && grep -q 'not a usable name' "$tmp/err" &&
        ok "name '$name' refused" || bad "name '$name': $(cat "$tmp/err")"
done
"$bin" keygen >/dev/null 2>&1
[ $? -eq 2 ] && ok "no NAME is a usage error" || bad "no NAME"
: >"$tmp/file"
"$bin" keygen x --dir "$tmp/file" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "cannot create directory $tmp/file" "$tmp/err" &&
    ok "a file as --dir is an error naming it" || bad "--dir file: $(cat "$tmp/err")"

exit $fail

#!/bin/sh
# man_pages - the manual pages render without a warning (groff -ww, man -l)
# and say what the programs have: every subcommand of `agentbus` (from
# its own --help table) has its section in agentbus(1), every flag of
# `agentbusd --help` is in agentbusd(8), and every key of agentbusd's
# option table (`agentbusd --list-options`) has its entry in
# agentbusd.yaml(5); the examples of the file formats' pages load; every
# agentbus page a SEE ALSO names exists.

set -u
srcdir=$(cd "${AB_SRCDIR:-.}" && pwd)
builddir=$(cd "${AB_BUILDDIR:-.}" && pwd)
man=$srcdir/man
fail=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
bad () { echo "FAIL: $*"; fail=1; }

for tool in groff man; do
    command -v $tool >/dev/null ||
        { echo "ERROR: $tool is missing (contrib/install-deps.sh installs it)"; exit 99; }
done

pages="agentbusd.8 agentbus.1 agentbusd.yaml.5 agentbus-topology.5
  agentbus-schema.5 agentbus.3"
for page in $pages; do
    [ -f "$man/$page" ] || { bad "man/$page is missing"; continue; }
    LC_ALL=C.UTF-8 groff -man -ww -z "$man/$page" 2>"$tmp/err"
    [ -s "$tmp/err" ] && { bad "groff -man -ww -z $page:"; sed 's/^/  /' "$tmp/err"; }
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$man/$page" >"$tmp/out" 2>"$tmp/err"
    [ $? -eq 0 ] && [ -s "$tmp/out" ] || bad "man -l $page rendered nothing"
    [ -s "$tmp/err" ] && { bad "man -l $page:"; sed 's/^/  /' "$tmp/err"; }
    # the title names the page itself: NAME(SECTION)
    section=${page##*.}
    name=$(echo "${page%.*}" | tr 'a-z' 'A-Z')
    head -n 1 "$tmp/out" | grep -q "^$name($section)" ||
        bad "$page: title is not $name($section): $(head -n 1 "$tmp/out")"
    [ $fail -eq 0 ] && echo "ok: $page renders cleanly"
done

# agentbus(1): one .SS "agentbus NAME ..." per command of the tool's table
"$builddir/agentbus" --help >"$tmp/help" || bad "agentbus --help failed"
commands=$(sed -n 's/^  agentbus \([a-z][a-z-]*\).*/\1/p' "$tmp/help")
[ -n "$commands" ] || bad "no commands in agentbus --help"
for command in $commands; do
    if grep -Eq "^\.SS \"?agentbus $command( |\"|$)" "$man/agentbus.1"; then
        echo "ok: agentbus(1) has agentbus $command"
    else
        bad "agentbus(1) has no section .SS \"agentbus $command ...\""
    fi
done

# agentbusd(8): every long flag of the usage, and --check-config
"$builddir/agentbusd" --help >"$tmp/help" || bad "agentbusd --help failed"
flags=$(grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u)
[ -n "$flags" ] || bad "no flags in agentbusd --help"
for flag in $flags --help; do
    roff=$(echo "$flag" | sed 's/-/\\\\-/g')
    if grep -q -- "$roff" "$man/agentbusd.8"; then
        echo "ok: agentbusd(8) has $flag"
    else
        bad "agentbusd(8) does not mention $flag"
    fi
done

# agentbusd.yaml(5): a .TP entry ".B.. \"KEY: ..." per key of the table
keys=$("$builddir/agentbusd" --list-options | cut -f 1)
[ "$(echo "$keys" | wc -l)" -ge 10 ] || bad "agentbusd --list-options: $keys"
for key in $keys; do
    if awk -v key="$key" '
        prev == ".TP" && ($1 == ".B" || $1 == ".BI" || $1 == ".BR") {
            text = $0; sub(/^\.B[IR]? +"?/, "", text)
            if (index(text, key ":") == 1) found = 1
        }
        { prev = $0 }
        END { exit !found }' "$man/agentbusd.yaml.5"; then
        echo "ok: agentbusd.yaml(5) has $key"
    else
        bad "agentbusd.yaml(5) has no entry .TP/.B \"$key: ...\""
    fi
done

# the EXAMPLE sections of the file formats' pages load
example () {  # example PAGE: the lines between .SH EXAMPLE's .nf and .fi
    sed -n '/^\.SH EXAMPLE/,/^\.fi/p' "$man/$1" | sed '1,2d;$d' | sed 's/\\-/-/g'
}
mkdir "$tmp/ex" "$tmp/ex/schemas"
ln -s "$srcdir"/conf/schemas/*.yaml "$tmp/ex/schemas/"
example agentbus-topology.5 >"$tmp/ex/topology.yaml"
example agentbusd.yaml.5 >"$tmp/ex/agentbusd.yaml"
example agentbus-schema.5 >"$tmp/ex/schema.yaml"
"$builddir/agentbus" check "$tmp/ex/topology.yaml" >"$tmp/out" 2>&1 &&
    echo "ok: agentbus-topology(5)'s example passes agentbus check" ||
    { bad "agentbus-topology(5)'s example:"; cat "$tmp/out"; }
"$builddir/agentbusd" --check-config --config "$tmp/ex/agentbusd.yaml" >"$tmp/out" 2>&1 &&
    echo "ok: agentbusd.yaml(5)'s example passes agentbusd --check-config" ||
    { bad "agentbusd.yaml(5)'s example:"; cat "$tmp/out"; }
echo '{"query": "q", "passages": [{"text": "t", "score": 0.5}]}' |
    "$builddir/agentbus" validate --schema "$tmp/ex/schema.yaml" - >"$tmp/out" 2>&1 &&
    echo "ok: agentbus-schema(5)'s example compiles and validates" ||
    { bad "agentbus-schema(5)'s example:"; cat "$tmp/out"; }

# every agentbus page a page refers to exists
refs=$(cat "$man"/*.[0-9] | sed -n 's/^\.BR \(agentbus[a-z.\\-]*\) (\([0-9]\)).*/\1.\2/p' |
    sed 's/\\-/-/g' | sort -u)
for ref in $refs; do
    [ -f "$man/$ref" ] || bad "a page refers to ${ref%.*}(${ref##*.}), which does not exist"
done

exit $fail

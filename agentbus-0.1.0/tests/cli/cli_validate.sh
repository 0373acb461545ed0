#!/bin/sh
# cli_validate - `agentbus validate`: exit codes, --jsonl lines, stdin,
# --registry and --remote.
set -u
AB="${AB_BUILDDIR:-.}/agentbus"
F="${AB_SRCDIR:-.}/tests/fixtures/schema"
OUT="${TMPDIR:-/tmp}/cli_validate.$$"
failures=0
trap 'rm -f "$OUT"' EXIT

# expect STATUS DESCRIPTION -- COMMAND...: runs it, output in $OUT
expect () {
    want=$1 what=$2
    shift 3
    "$@" >"$OUT" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: $what: exit $got, wanted $want"; cat "$OUT"
        failures=$((failures + 1))
    fi
}

# has TEXT: the last output holds this exact line
has () {
    if ! grep -qxF -- "$1" "$OUT"; then
        echo "FAIL: no line '$1' in:"; cat "$OUT"
        failures=$((failures + 1))
    fi
}

expect 0 "valid file" -- "$AB" validate --schema "$F/bare.json" "$F/good-instance.json"
has "$F/good-instance.json: valid"
expect 1 "invalid file" -- "$AB" validate --schema "$F/bare.json" "$F/good-instance.json" "$F/bad-instance.json"
has "$F/bad-instance.json: invalid: /n: 7 is greater than the maximum 3"
expect 0 "stdin" -- sh -c "echo '{\"n\": 1}' | '$AB' validate --schema '$F/bare.json' -"
has "<stdin>: valid"

printf '%s\n' '{"n": 1}' '{"n": 1.5}' '' '{}' 'nope' >"$OUT.in"
expect 1 "jsonl" -- sh -c "'$AB' validate --schema '$F/bare.json' --jsonl <'$OUT.in'"
rm -f "$OUT.in"
lines=$(wc -l <"$OUT")
[ "$lines" -eq 4 ] || { echo "FAIL: jsonl printed $lines lines"; failures=$((failures + 1)); }
has "valid"
has "invalid: /n: 1.5 is not of type integer"
has "invalid: required property \"n\" is missing"
has "invalid: not JSON: invalid token near 'nope'"
expect 0 "jsonl all valid" -- sh -c "echo '{\"n\": 3}' | '$AB' validate --schema '$F/bare.json' --jsonl"

expect 0 "registry ref" -- sh -c "echo '{\"query\": \"q\", \"passages\": [{\"text\": \"t\", \"score\": 0.5}]}' | '$AB' validate --schema '$F/context.v3.yaml' --registry '$F/registry' --jsonl"
expect 1 "registry ref invalid" -- sh -c "echo '{\"query\": \"\", \"passages\": [{\"text\": \"t\", \"score\": 2}]}' | '$AB' validate --schema '$F/context.v3.yaml' --registry '$F/registry' --jsonl"
has "invalid: /query: string of 0 characters has fewer than the minimum 1"
expect 2 "unresolvable ref" -- sh -c "echo '{}' | '$AB' validate --schema '$F/context.v3.yaml' --jsonl"

expect 0 "remote" -- sh -c "echo 2 | '$AB' validate --schema '$F/remote-user.json' --remote 'http://schemas.example/=$F/remote' --jsonl"
expect 1 "remote invalid" -- sh -c "echo 0 | '$AB' validate --schema '$F/remote-user.json' --remote 'http://schemas.example/=$F/remote' --jsonl"
has "invalid: 0 is not greater than the exclusive minimum 0"

expect 2 "bad schema" -- "$AB" validate --schema "$F/bad.yaml" "$F/good-instance.json"
grep -q 'bad.yaml:6:.*unknown type name "strin"' "$OUT" || { echo "FAIL: no positioned type error"; cat "$OUT"; failures=$((failures + 1)); }
grep -q 'bad regular expression' "$OUT" || { echo "FAIL: no regex error"; failures=$((failures + 1)); }
expect 2 "no schema" -- "$AB" validate "$F/good-instance.json"
expect 2 "missing schema file" -- "$AB" validate --schema "$F/nonexistent.json"
expect 2 "missing instance" -- "$AB" validate --schema "$F/bare.json" "$F/nonexistent.json"
expect 2 "jsonl with files" -- "$AB" validate --schema "$F/bare.json" --jsonl "$F/good-instance.json"
expect 2 "unknown option" -- "$AB" validate --schema "$F/bare.json" --bogus

echo '{"type": "string", "format": "date"}' >"$OUT.schema.json"
expect 0 "format annotation" -- sh -c "echo '\"2020-13-45\"' | '$AB' validate --schema '$OUT.schema.json' --jsonl"
expect 1 "format asserted" -- sh -c "echo '\"2020-13-45\"' | '$AB' validate --schema '$OUT.schema.json' --format-assert --jsonl"
rm -f "$OUT.schema.json"

[ "$failures" -eq 0 ] && echo "cli_validate: all passed"
exit $((failures > 0))

#!/bin/sh
# cli_translate - `agentbus translate`: up and down a chain of
# translations, stdin, the failures (exit 1 with the reason) and usage
# (exit 2); and `agentbus check --compat` on the example conf/.
set -u
AB="${AB_BUILDDIR:-.}/agentbus"
S="${AB_SRCDIR:-.}"
G="$S/tests/fixtures/schema/versions/good"
OUT="${TMPDIR:-/tmp}/cli_translate.$$"
failures=0
trap 'rm -f "$OUT" "$OUT.in"' EXIT

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

# same JSON: the last output is this document (compared as JSON)
same () {
    if ! /usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.loads(sys.argv[2]))' "$OUT" "$1"; then
        echo "FAIL: output is not $1:"; cat "$OUT"
        failures=$((failures + 1))
    fi
}

# has TEXT: the last output holds this text
has () {
    if ! grep -qF -- "$1" "$OUT"; then
        echo "FAIL: no '$1' in:"; cat "$OUT"
        failures=$((failures + 1))
    fi
}

printf '%s\n' '{"text": "hello"}' >"$OUT.in"
expect 0 "up two versions" -- "$AB" translate --schemas "$G" --type note --from 1 --to 3 "$OUT.in"
same '{"body": "hello", "lang": "en"}'
expect 0 "stdin" -- sh -c "echo '{\"body\": \"hi\", \"lang\": \"en\", \"tags\": [\"a\"]}' | '$AB' translate --schemas '$G' --type note --from 3 --to 1 -"
same '{"text": "hi"}'
expect 0 "tie toward newer" -- sh -c "echo '{}' | '$AB' translate --schemas '$G' --type tie --from 1 --to 4"
same '{"via": [3, 4]}'

expect 1 "a test op fails" -- sh -c "echo '{\"body\": \"hi\", \"lang\": \"fr\"}' | '$AB' translate --schemas '$G' --type note --from 2 --to 1"
has "translation failed: translation note v2 -> v1, op 0 (test /lang): test failed: the value differs"
expect 1 "invalid source" -- sh -c "echo '{\"text\": 1}' | '$AB' translate --schemas '$G' --type note --from 1 --to 2"
has "not a valid source document: /text:"
expect 1 "no chain" -- sh -c "echo '{\"via\": [1, 2]}' | '$AB' translate --schemas '$G' --type tie --from 4 --to 1"
has "no chain of translations leads from tie v4 to v1"
expect 1 "no version" -- sh -c "echo '{}' | '$AB' translate --schemas '$G' --type note --from 1 --to 9"
has "no schema note v9"
expect 1 "not JSON" -- sh -c "echo 'nope' | '$AB' translate --schemas '$G' --type note --from 1 --to 2"
has "<stdin>: not JSON"
expect 2 "usage" -- "$AB" translate --schemas "$G" --type note --from 1
expect 2 "bad version" -- "$AB" translate --schemas "$G" --type note --from x --to 2
expect 2 "schemas that fail" -- sh -c "echo '{}' | '$AB' translate --schemas '$S/tests/fixtures/schema/versions/bad' --type op --from 1 --to 2"
has "op.v2.yaml:7:9: translate from version 1: op 1: unknown op \"rename\""

# the same load errors through a topology (what the broker loads)
V="$S/tests/fixtures/schema/versions"
expect 1 "topology, compatibility" -- "$AB" check "$V/topology-bad-compat.yaml"
has "bad/compat.v2.yaml:8:7: compatibility: forward does not hold for v1 -> v2"
expect 1 "topology, bad op" -- "$AB" check "$V/topology-bad-op.yaml"
has "bad/op.v2.yaml:7:9: translate from version 1: op 1: unknown op \"rename\""
expect 0 "topology, good" -- "$AB" check --compat "$V/topology-good.yaml"
has "note v2 -> v3: backward (declared backward)"

# `agentbus validate --schema FILE` loads one version alone: its
# translations from versions it does not see and its declared
# compatibility are not errors there, a malformed patch still is
expect 0 "validate one version" -- sh -c "echo '{\"query\": \"q\", \"passages\": [{\"text\": \"t\", \"score\": 0.5}]}' | '$AB' validate --schema '$S/conf/schemas/retrieval.context.v2.yaml' -"
expect 2 "validate, bad op" -- sh -c "'$AB' validate --schema '$V/bad/op.v2.yaml' </dev/null"
has "op.v2.yaml:7:9: translate from version 1: op 1: unknown op"

# the example: v1 <-> v2 both ways, v2 declared backward
expect 0 "conf up" -- sh -c "echo '{\"query\": \"q\", \"passages\": [{\"text\": \"t\", \"score\": 0.5}]}' | '$AB' translate --schemas '$S/conf/schemas' --type retrieval.context --from 1 --to 2"
same '{"query": "q", "passages": [{"text": "t", "score": 0.5}]}'
expect 0 "conf down" -- sh -c "echo '{\"query\": \"q\", \"passages\": [{\"text\": \"t\", \"score\": 0.5}], \"embedding\": {\"dtype\": \"float32\", \"shape\": [1, 768], \"frame\": 1}}' | '$AB' translate --schemas '$S/conf/schemas' --type retrieval.context --from 2 --to 1"
same '{"query": "q", "passages": [{"text": "t", "score": 0.5}]}'
expect 0 "check --compat" -- "$AB" check --compat "$S/conf/topology.yaml"
has "retrieval.context v1 -> v2: backward (declared backward)"
has "forward: no: \"additionalProperties\" at /additionalProperties of v1: property \"embedding\" is admitted by the other schema, not here"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "cli_translate: all passed"

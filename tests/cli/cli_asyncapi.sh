#!/bin/sh
# cli_asyncapi - `agentbus asyncapi`: the example topology and every good
# topology fixture, as JSON and as YAML, validate against the official
# AsyncAPI 3.0.0 JSON Schema with agentbus's own validator; a tampered
# document does not. The schema must be there when TESTDATA_DIR is set.
set -u
AB="${AB_BUILDDIR:-.}/agentbus"
S="${AB_SRCDIR:-.}"
OUT="${TMPDIR:-/tmp}/cli_asyncapi.$$"
failures=0
trap 'rm -f "$OUT" "$OUT.json" "$OUT.yaml" "$OUT.bad"' EXIT

if [ -z "${TESTDATA_DIR:-}" ]; then
    echo "TESTDATA_DIR not set: skipped"
    exit 77
fi
SCHEMA="$TESTDATA_DIR/asyncapi/3.0.0-without-id.json"
if [ ! -f "$SCHEMA" ]; then
    echo "FAIL: $SCHEMA is missing"
    exit 1
fi

fail () {
    echo "FAIL: $1"; cat "$OUT"
    failures=$((failures + 1))
}

count=0
for topology in "$S/conf/topology.yaml" "$S"/tests/fixtures/topology/good/*.yaml \
    "$S/tests/fixtures/schema/versions/topology-good.yaml"; do
    count=$((count + 1))
    if ! "$AB" asyncapi "$topology" --format json >"$OUT.json" 2>"$OUT"; then
        fail "asyncapi $topology --format json"; continue
    fi
    "$AB" validate --schema "$SCHEMA" "$OUT.json" >"$OUT" 2>&1 ||
        fail "$topology: the JSON document is not valid AsyncAPI 3.0.0"
    if ! "$AB" asyncapi "$topology" >"$OUT.yaml" 2>"$OUT"; then
        fail "asyncapi $topology (yaml)"; continue
    fi
    # the YAML reads back to exactly the JSON document
    /usr/bin/python3 -c 'import json, sys, yaml
sys.exit(yaml.safe_load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
        "$OUT.yaml" "$OUT.json" >"$OUT" 2>&1 ||
        fail "$topology: the YAML is not the JSON document"
    # what the contract says is there
    /usr/bin/python3 - "$OUT.json" >"$OUT" 2>&1 <<'PY' || fail "$topology: contents"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["asyncapi"] == "3.0.0"
assert doc["info"]["title"] and doc["info"]["version"]
for cid, channel in doc["channels"].items():
    assert channel["address"].count("/") == 2, channel["address"]
    for message in channel["messages"].values():
        payload = message["payload"]
        assert payload["schemaFormat"] == "application/schema+json;version=draft-2020-12"
        assert "schema" in payload
actions = sorted(op["action"] for op in doc["operations"].values())
assert actions.count("send") == actions.count("receive") > 0
PY
done

# not a vacuous check: a tampered document fails
"$AB" asyncapi "$S/conf/topology.yaml" --format json >"$OUT.json"
/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
next(iter(d["operations"].values()))["action"] = "publish"
json.dump(d, open(sys.argv[2], "w"))' "$OUT.json" "$OUT.bad"
if "$AB" validate --schema "$SCHEMA" "$OUT.bad" >"$OUT" 2>&1; then
    fail "a tampered document validated"
fi
# the example's request edge is a send with a reply
grep -q '"reply"' "$OUT.json" || fail "no reply in the example's request edge"
"$AB" asyncapi "$S/conf/topology.yaml" --format xml >"$OUT" 2>&1
[ $? -eq 2 ] || fail "--format xml is not a usage error"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "cli_asyncapi: $count topologies valid"

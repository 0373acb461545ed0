#!/bin/sh
# cli_validate_suite - the JSON Schema Test Suite's required cases
# (draft 2020-12 from TESTDATA_DIR, draft-07 from Debian's package when
# installed) through `agentbus validate`, as a user would run it: one
# schema file per test group, its instances on stdin (--jsonl), only the
# suite's remotes mapped (--remote); the metaschemas are not, they are
# built in. Every required case must pass, as in check_schema_suite.
set -u
AB="${AB_BUILDDIR:-.}/agentbus"
if [ -z "${TESTDATA_DIR:-}" ]; then
    echo "TESTDATA_DIR not set: skipped"
    exit 77
fi
SUITE="$TESTDATA_DIR/json-schema-test-suite"
if [ ! -d "$SUITE/tests/draft2020-12" ]; then
    echo "FAIL: $SUITE/tests/draft2020-12 is missing"
    exit 1
fi

# the two things the command line lacked, asked directly: a `$ref` to the
# 2020-12 metaschema with no --remote, and a schema string with \u0000
T="${TMPDIR:-/tmp}/cli_validate_suite.$$"
trap 'rm -f "$T".*' EXIT
printf '%s\n' '{"$ref": "https://json-schema.org/draft/2020-12/schema"}' >"$T.meta.json"
printf '%s\n' '{"type": "object", "minProperties": "one"}' >"$T.bad.json"
printf '%s\n' '{"const": "a\u0000b"}' >"$T.nul.json"
printf '%s\n' '"a\u0000b"' >"$T.nul-instance.json"
for check in "0 $T.meta.json $T.nul.json" "1 $T.meta.json $T.bad.json" \
    "0 $T.nul.json $T.nul-instance.json" "1 $T.nul.json $T.meta.json"; do
    set -- $check
    "$AB" validate --schema "$2" "$3" >"$T.out" 2>&1
    got=$?
    if [ "$got" -ne "$1" ]; then
        echo "FAIL: validate --schema $2 $3: exit $got, wanted $1"; cat "$T.out"
        exit 1
    fi
done

/usr/bin/python3 - "$AB" "$SUITE" <<'PY'
import json, os, subprocess, sys, tempfile

agentbus, suite = sys.argv[1], sys.argv[2]
drafts = [("draft2020-12", os.path.join(suite, "tests/draft2020-12"),
           os.path.join(suite, "remotes"), None)]
debian = "/usr/share/json-schema-test-suite"
if os.path.isdir(os.path.join(debian, "tests/draft7")):
    drafts.append(("draft7", os.path.join(debian, "tests/draft7"),
                   os.path.join(debian, "remotes"),
                   "http://json-schema.org/draft-07/schema#"))
else:
    print("SKIP draft7: %s not installed" % debian)

failed = 0
work = tempfile.mkdtemp(prefix="cli_validate_suite.")
for label, tests, remotes, dialect in drafts:
    passed = count = 0
    for name in sorted(os.listdir(tests)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(tests, name), encoding="utf-8") as f:
            groups = json.load(f)
        for group in groups:
            schema = group["schema"]
            if dialect and isinstance(schema, dict) and "$schema" not in schema:
                schema = dict(schema, **{"$schema": dialect})
            path = os.path.join(work, "schema.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(schema, f)
            lines = "".join(json.dumps(t["data"]) + "\n" for t in group["tests"])
            run = subprocess.run(
                [agentbus, "validate", "--schema", path, "--jsonl",
                 "--remote", "http://localhost:1234/=" + remotes],
                input=lines.encode(), capture_output=True, timeout=120)
            out = run.stdout.decode(errors="replace").splitlines()
            for i, test in enumerate(group["tests"]):
                count += 1
                got = out[i] if i < len(out) else ""
                ok = (got == "valid") == test["valid"] and (
                    got == "valid" or got.startswith("invalid:"))
                if ok:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL %s %s: %s: %s (expected %s, got %r; exit %d %s)" % (
                        label, name, group["description"], test["description"],
                        "valid" if test["valid"] else "invalid", got,
                        run.returncode, run.stderr.decode(errors="replace").strip()[:300]))
    print("%s: required %d/%d passed through agentbus validate" % (label, passed, count))
for entry in os.listdir(work):
    os.unlink(os.path.join(work, entry))
os.rmdir(work)
sys.exit(1 if failed else 0)
PY

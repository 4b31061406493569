#!/usr/bin/env bash
# Known vulnerabilities in the dependencies: the Python packages installed in ./.venv
# (pip-audit) and the UI's JavaScript as locked in ui/package-lock.json (npm audit).
#
#   scripts/audit.sh [pypi|osv]   vulnerability data from PyPI's JSON API (default) or OSV
#
# Needs the vulnerability services (pypi.org/pypi/NAME/VERSION/json or api.osv.dev, and
# registry.npmjs.org's audit endpoint), not only a package index. Exits 1 on any finding
# and also when a package could not be audited: pip-audit itself reports "No known
# vulnerabilities" when every lookup failed, so this script counts the skipped ones.
set -euo pipefail
cd "$(dirname "$0")/.."
service=${1:-pypi}
[ -x .venv/bin/pip-audit ] || .venv/bin/pip install --quiet pip-audit
status=0
report=$(mktemp)
trap 'rm -f "$report"' EXIT

echo "== pip-audit ($service) over .venv (this project, editable, left out)"
.venv/bin/pip-audit --vulnerability-service "$service" --skip-editable --format json \
  --progress-spinner off --output "$report" || true
.venv/bin/python - "$report" <<'EOF' || status=1
import json, sys
text = open(sys.argv[1]).read()
if not text.strip():
  sys.exit("pip-audit gave no report: the vulnerability service is unreachable?")
deps = json.loads(text)["dependencies"]
skipped = [d for d in deps if d.get("skip_reason")]
found = [(d, v) for d in deps for v in d.get("vulns", [])]
for d, v in found:
  print(f"  {d['name']} {d['version']}: {v['id']} fixed in {', '.join(v['fix_versions']) or '-'}")
print(f"  {len(deps) - len(skipped)} packages audited, {len(found)} vulnerabilities, "
      f"{len(skipped)} not audited" + (f" (e.g. {skipped[0]['skip_reason']})" if skipped else ""))
sys.exit(1 if found or skipped else 0)
EOF

echo "== npm audit over ui/package-lock.json"
(cd ui && npm audit --package-lock-only) || status=1
exit $status

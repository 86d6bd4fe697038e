#!/usr/bin/env bash
# The README's test command. Fails on any failure, including "no tests collected" (pytest exit 5).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 90) + 10 ))}"  # isolated DDS domain
.venv/bin/python -m pytest test -q "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit $rc

#!/usr/bin/env bash
# The project's whole test suite (the README's test command is `npm test`):
# lint, type-check, build, unit tests, the simulator's tests, then the end-to-end
# tests against a real control plane (built from Go modules on first use).
# Ends with one line "N passed, N failed" summing every jest run.
set -uo pipefail
cd "$(dirname "$0")/.."

echo "Node $(node --version) at $(command -v node)"
case "$(node --version)" in v22.*) ;; *) echo "Node 22 is required (npm ci puts it in node_modules/.bin)"; exit 1 ;; esac

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

step() {
  echo
  echo "=== $1"
}

step "lint (ESLint with typescript-eslint) and format (Prettier)"
npm run --silent lint || status=1

step "type-check and build"
npx tsc -p tsconfig.json --noEmit || status=1
npm run --silent build || status=1

step "unit tests (src/**/*.spec.ts) and simulator tests (test/*.sim-spec.ts)"
npx jest --json --outputFile="$results/unit.json" || status=1

step "end-to-end tests against the real control plane (test/*.e2e-spec.ts)"
npx jest --config test/jest-e2e.config.js --json --outputFile="$results/e2e.json" || status=1

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, suites = 0;
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites; suites += r.numTotalTestSuites;
  }
  if (suites === 0) failed += 1;
  console.log(`\n${passed} passed, ${failed} failed`);
' "$results" || status=1
exit $status

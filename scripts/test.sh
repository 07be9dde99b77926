#!/usr/bin/env bash
# The project's whole test suite (the README's test command is `npm test`):
# lint, type-check, build, unit tests, the simulator's tests, then the end-to-end
# tests against a real control plane (built from Go modules on first use).
# Ends with one line "N passed, N failed, N skipped" summing every jest run, naming any suite
# that left no result.
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

# The specs that judge the chart and the operator, again against the oldest Kubernetes the chart
# supports (Chart.yaml kubeVersion; kube-apiserver and kube-controller-manager from
# test/controlplane/go/kube-oldest, etcd and helm shared): every template and optional object
# dry-run server-side, install and uninstall, free, pro and a key rotation, leader election with
# two replicas, the RBAC verb check. No worker node: its kubelet is the newest.
oldest_specs=(
  test/helm-anchor-values.e2e-spec.ts
  test/helm-admin-values.e2e-spec.ts
  test/helm-template.e2e-spec.ts
  test/chart-lifecycle.e2e-spec.ts
  test/registration.e2e-spec.ts
  test/operator-status.e2e-spec.ts
  test/leader-election.e2e-spec.ts
  test/rbac-verbs.e2e-spec.ts
)
step "the same judged against the oldest supported Kubernetes (KUBE9_TEST_KUBERNETES=oldest)"
KUBE9_TEST_KUBERNETES=oldest npx jest --config test/jest-e2e.config.js --json --outputFile="$results/e2e-oldest.json" \
  --runTestsByPath "${oldest_specs[@]}" || status=1
# Every listed spec ran (a renamed one would otherwise drop out unseen).
[[ ! -f "$results/e2e-oldest.json" ]] || node -e '
  const [file, expected] = process.argv.slice(1);
  const ran = JSON.parse(require("fs").readFileSync(file, "utf8")).numTotalTestSuites;
  if (ran !== Number(expected)) { console.log(`oldest Kubernetes: ${ran} of ${expected} specs ran`); process.exit(1); }
' "$results/e2e-oldest.json" "${#oldest_specs[@]}" || status=1

# Every suite must leave its result file: one that did not (jest crashed, or never ran) is
# named and counted as a failure, so the summary never reads clean over a missing suite.
node -e '
  const fs = require("fs");
  const [dir, ...expected] = process.argv.slice(1);
  let passed = 0, failed = 0, skipped = 0;
  const missing = [];
  for (const suite of expected) {
    const file = `${dir}/${suite}.json`;
    if (!fs.existsSync(file)) {
      missing.push(suite);
      failed += 1;
      continue;
    }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests + r.numTodoTests;
    if (r.numTotalTestSuites === 0) {
      missing.push(`${suite} (no test suite ran)`);
      failed += 1;
    }
  }
  const note = missing.length ? `; no result from: ${missing.join(", ")}` : "";
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped${note}`);
' "$results" unit e2e e2e-oldest || status=1
exit $status

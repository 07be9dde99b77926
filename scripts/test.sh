#!/usr/bin/env bash
# The project's whole test suite (the README's test command is `npm test`):
# lint, type-check, build, unit tests, the simulator's tests, then the end-to-end
# tests against a real control plane (built from Go modules on first use).
# The end-to-end files run in two groups side by side (test/e2e-groups.js), no-leak last.
# Ends with one line "N passed, N failed, N skipped" summing every jest run, naming any run
# that left no result, then a time table (scripts/test-summary.js).
set -uo pipefail
cd "$(dirname "$0")/.."

echo "Node $(node --version) at $(command -v node)"
case "$(node --version)" in v22.*) ;; *) echo "Node 22 is required (npm ci puts it in node_modules/.bin)"; exit 1 ;; esac

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
# build.sh and images.sh add the time they spend to this file (the time table at the end).
export KUBE9_BUILD_TIMES="$results/build-times"
: >"$KUBE9_BUILD_TIMES"

step_times=()
step_name=""
step_start=$SECONDS
end_step() { [[ -z "$step_name" ]] || step_times+=("$step_name=$((SECONDS - step_start))"); }
step() { # TITLE NAME (NAME: in the time table)
  end_step
  step_name="$2"
  step_start=$SECONDS
  echo
  echo "=== $1"
}

# The tools (test/controlplane/build.sh) and the images (test/node/images.sh) the end-to-end
# tests need are made (or taken from the per-machine cache) in the background meanwhile, side by
# side. The end-to-end step waits for the tools (and shows their output); the node group's own
# images.sh waits for the images on images.sh's lock (their output is shown after it). The e2e
# groups run both again, finding everything made, or saying what failed.
# actionlint first, on its own: a unit test runs it (test/unit/workflows.spec.ts), and build.sh's
# lock would otherwise keep it waiting for every other tool on a new machine.
bash test/controlplane/build.sh actionlint >"$results/prebuild-actionlint.log" 2>&1 ||
  { cat "$results/prebuild-actionlint.log"; status=1; }
bash test/controlplane/build.sh >"$results/prebuild-tools.log" 2>&1 &
prebuild_tools=$!
bash test/node/images.sh >/dev/null 2>"$results/prebuild-images.log" &
prebuild_images=$!

step "lint (ESLint with typescript-eslint) and format (Prettier)" lint
npm run --silent lint || status=1

step "type-check and build" build
npx tsc -p tsconfig.json --noEmit || status=1
npm run --silent build || status=1

step "unit tests (src/**/*.spec.ts, test/unit/*.spec.ts) and simulator tests (test/*.sim-spec.ts)" unit
npx jest --json --outputFile="$results/unit.json" || status=1

step "end-to-end tests against the real control plane (test/*.e2e-spec.ts), two groups side by side, then the oldest Kubernetes" e2e
# One control plane for the whole run, with its audit log, shared by the groups (see
# test/e2e-groups.js): the node group (files that start a real worker node, one at a time) runs
# beside the cluster group (the others, one at a time); no-leak runs last, alone, and reads what
# both left.
wait "$prebuild_tools"
echo "--- tools, made in the background:"
cat "$results/prebuild-tools.log"
# The specs that judge the chart and the operator, again against the oldest Kubernetes the chart
# supports (Chart.yaml kubeVersion; kube-apiserver and kube-controller-manager from
# test/controlplane/go/kube-oldest, etcd and helm shared): every template and optional object
# dry-run server-side, install and uninstall, free, pro and a key rotation, leader election with
# two replicas, the RBAC verb check. No worker node: its kubelet is the newest. They run on a
# control plane of their own (global-setup starts it), in the cluster group's lane once that group
# is done, beside the node group.
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
e2e_oldest() {
  env -u KUBE9_TEST_SHARED_CONTROL_PLANE -u KUBE9_TEST_KUBECONFIG -u KUBE9_TEST_HELM -u KUBE9_TEST_CP_DIR \
    KUBE9_TEST_KUBERNETES=oldest npx jest --config test/jest-e2e.config.js --json \
    --outputFile="$results/e2e-oldest.json" --runTestsByPath "${oldest_specs[@]}" || return 1
  # Every listed spec ran (a renamed one would otherwise drop out unseen).
  node -e '
    const [file, expected] = process.argv.slice(1);
    const ran = JSON.parse(require("fs").readFileSync(file, "utf8")).numTotalTestSuites;
    if (ran !== Number(expected)) { console.log(`oldest Kubernetes: ${ran} of ${expected} specs ran`); process.exit(1); }
  ' "$results/e2e-oldest.json" "${#oldest_specs[@]}"
}
cluster_pid=""
stop_cluster() {
  [[ -n "$cluster_pid" ]] || return 0
  kill -TERM "$cluster_pid" 2>/dev/null
  wait "$cluster_pid" 2>/dev/null
  cluster_pid=""
}
trap 'stop_cluster; rm -rf "$results"' EXIT
trap 'exit 130' INT TERM
if npx tsc -p tsconfig.support.json; then
  # Its build.sh output and logs go to stderr; its KEY=value lines to the file.
  node dist-test/test/support/cluster-cli.js --audit-log >"$results/cluster.out" &
  cluster_pid=$!
  while kill -0 "$cluster_pid" 2>/dev/null && ! grep -q '^KUBECONFIG=' "$results/cluster.out"; do sleep 1; done
fi
value() { sed -n "s/^$1=//p" "$results/cluster.out" 2>/dev/null; }
if [[ -n "$(value KUBECONFIG)" ]]; then
  export KUBE9_TEST_SHARED_CONTROL_PLANE=1 KUBE9_TEST_KUBECONFIG="$(value KUBECONFIG)" \
    KUBE9_TEST_HELM="$(value HELM)" KUBE9_TEST_CP_DIR="$(value CP_DIR)"
  e2e_group() { # GROUP: that group's jest run, its result in $results/e2e-GROUP.json
    KUBE9_E2E_GROUP="$1" npx jest --config test/jest-e2e.config.js --json --outputFile="$results/e2e-$1.json"
  }
  # The node group's lines are marked [node]; its status goes through a file (the pipe's is sed's).
  { e2e_group node 2>&1; echo $? >"$results/e2e-node.status"; } | sed -u 's/^/[node] /' &
  node_group=$!
  e2e_group cluster || status=1
  echo "--- the chart and the operator against the oldest supported Kubernetes (KUBE9_TEST_KUBERNETES=oldest)"
  e2e_oldest || status=1
  wait "$node_group"
  [[ "$(cat "$results/e2e-node.status" 2>/dev/null)" == 0 ]] || status=1
  wait "$prebuild_images"
  echo "--- images, made in the background:"
  cat "$results/prebuild-images.log"
  e2e_group last || status=1
else
  echo "the shared control plane did not start (its output is above): no end-to-end group ran"
  status=1
fi
stop_cluster

end_step
# Every jest run must leave its result file: one that did not (jest crashed, or never ran) is
# named and counted as a failure, so the summary never reads clean over a missing run. The
# summary line "N passed, N failed, N skipped" (CI reads it), then the time table: each
# suite's time, slowest first, and the time spent building tools and images.
node scripts/test-summary.js "$results" "$KUBE9_BUILD_TIMES" "${step_times[*]}" \
  unit e2e-node e2e-cluster e2e-oldest e2e-last || status=1
exit $status

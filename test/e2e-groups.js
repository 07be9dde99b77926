// Which end-to-end file runs in which group, when scripts/test.sh runs them side by side
// (KUBE9_E2E_GROUP; without it one jest run takes every file, one at a time, as before):
//   node     files that start a real worker node (they import test/support/real-node.ts or
//            test/support/worker-node.ts), or that say `@e2e-group node` in a comment: one at
//            a time, since the node's kubelet device-plugin directory (and buildah's image
//            storage) is shared between nodes.
//   cluster  every other file: they use only the run's shared control plane (or start their own
//            control plane without a node), and run one at a time beside the node group.
//   last     test/no-leak.e2e-spec.ts alone, after both: it reads every earlier file's operator
//            output and the shared control plane's audit log.
// And one selection apart, for `npm run test:long` (KUBE9_TEST_LONG=1):
//   long     the files whose waits are scaled down in `npm test` and that read KUBE9_TEST_LONG
//            to run them at their real length.
// `node test/e2e-groups.js` prints each file's group.
const fs = require('node:fs');
const path = require('node:path');

const TEST_DIR = __dirname;
const LAST = ['no-leak.e2e-spec.ts'];
const GROUPS = ['node', 'cluster', 'last'];
const SELECTIONS = [...GROUPS, 'long'];
const NODE_IMPORT = /from ['"]\.\/support\/(real-node|worker-node)['"]|@e2e-group node\b/;

/** The group of one file of test/ (its name). */
function groupOf(file) {
  if (LAST.includes(file)) return 'last';
  return NODE_IMPORT.test(fs.readFileSync(path.join(TEST_DIR, file), 'utf8')) ? 'node' : 'cluster';
}

/** The e2e files of a group, by name. */
function filesOf(group) {
  if (!SELECTIONS.includes(group)) {
    throw new Error(`KUBE9_E2E_GROUP=${group} is not a group (allowed: ${SELECTIONS.join(', ')})`);
  }
  const inGroup = (file) =>
    group === 'long'
      ? fs.readFileSync(path.join(TEST_DIR, file), 'utf8').includes('KUBE9_TEST_LONG')
      : groupOf(file) === group;
  return fs
    .readdirSync(TEST_DIR)
    .filter((file) => file.endsWith('.e2e-spec.ts') && inGroup(file))
    .sort();
}

module.exports = { GROUPS, groupOf, filesOf };

if (require.main === module) {
  for (const group of SELECTIONS) console.log(`${group}: ${filesOf(group).join(' ')}`);
}

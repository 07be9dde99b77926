/*
 * The end-to-end groups scripts/test.sh runs side by side (test/e2e-groups.js): every file in
 * exactly one group, every file that starts a worker node in the node group (one at a time),
 * no-leak alone and last.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { GROUPS, filesOf, groupOf } = require('../e2e-groups') as {
  GROUPS: string[];
  filesOf: (group: string) => string[];
  groupOf: (file: string) => string;
};

const TEST_DIR = path.join(__dirname, '..');
const e2eFiles = readdirSync(TEST_DIR)
  .filter((file) => file.endsWith('.e2e-spec.ts'))
  .sort();

describe('the end-to-end groups', () => {
  it('put every file in exactly one group', () => {
    const grouped = GROUPS.flatMap((group) => filesOf(group)).sort();
    expect(grouped).toEqual(e2eFiles);
  });

  it('put every file that starts a worker node in the node group, and no-leak alone in the last', () => {
    for (const file of e2eFiles) {
      const text = readFileSync(path.join(TEST_DIR, file), 'utf8');
      if (/from '\.\/support\/(real-node|worker-node)'/.test(text))
        expect([file, groupOf(file)]).toEqual([file, 'node']);
    }
    expect(filesOf('node')).toEqual(expect.arrayContaining(['node-faults.e2e-spec.ts', 'real-pod.e2e-spec.ts']));
    expect(filesOf('cluster')).toEqual(expect.arrayContaining(['registration.e2e-spec.ts']));
    expect(filesOf('last')).toEqual(['no-leak.e2e-spec.ts']);
  });

  it('names the groups it knows when given another', () => {
    expect(() => filesOf('nodes')).toThrow('KUBE9_E2E_GROUP=nodes is not a group (allowed: node, cluster, last, long)');
  });
});

// End-to-end tests: test/*.e2e-spec.ts against a real control plane
// (kube-apiserver, etcd, kube-controller-manager) and the real helm client,
// started once per run by test/support/global-setup.ts (or once for the groups
// scripts/test.sh runs side by side: see test/e2e-groups.js).
// Shares the swc transform (ES-module-only client-node) with the unit tests;
// ts-jest cannot load @kubernetes/client-node 2.x, do not switch back to it.
const shared = require('./jest-shared.config');
const { filesOf } = require('./e2e-groups');

const group = process.env.KUBE9_E2E_GROUP;
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** @type {import('jest').Config} */
module.exports = {
  ...shared,
  // KUBE9_E2E_GROUP=node|cluster|last: that group's files only (test/e2e-groups.js).
  testRegex: group ? filesOf(group).map((file) => `test/${escapeRegExp(file)}$`) : 'test/.*\\.e2e-spec\\.ts$',
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 120000,
  // The files of one run (or of one group) share a control plane: one at a time.
  maxWorkers: 1,
  testSequencer: '<rootDir>/test/sequencer.js',
};

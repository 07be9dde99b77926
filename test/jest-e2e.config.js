// End-to-end tests: test/*.e2e-spec.ts against a real control plane
// (kube-apiserver, etcd, kube-controller-manager) and the real helm client,
// started once per run by test/support/global-setup.ts.
// Shares the swc transform (ES-module-only client-node) with the unit tests;
// ts-jest cannot load @kubernetes/client-node 2.x, do not switch back to it.
const shared = require('./jest-shared.config');

/** @type {import('jest').Config} */
module.exports = {
  ...shared,
  testRegex: 'test/.*\\.e2e-spec\\.ts$',
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 120000,
  // One control plane is shared by every test file: run them one at a time.
  maxWorkers: 1,
  testSequencer: '<rootDir>/test/sequencer.js',
};

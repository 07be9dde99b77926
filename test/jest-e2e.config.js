// End-to-end tests against the real control plane started once per run by
// global-setup. Shares the swc transform (ESM-only client-node) with unit tests.
const shared = require('./jest-shared.config');

module.exports = {
  ...shared,
  testRegex: 'test/.*\\.e2e-spec\\.ts$',
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 120000,
  maxWorkers: 1,
};

// Unit tests: src/**/*.spec.ts, beside the code they test, the kube9-server
// simulator's own tests (test/*.sim-spec.ts), and the test harness's and the repository's
// own checks (test/unit/*.spec.ts: the machine cache, the e2e groups, workflows, changelog,
// release scripts), none of which needs a cluster.
// The end-to-end tests have their own config: test/jest-e2e.config.js.
// Both share test/jest-shared.config.js: swc transforms our TypeScript and the
// ES-module-only @kubernetes/client-node 2.x, which ts-jest cannot load.
const shared = require('./test/jest-shared.config');

/** @type {import('jest').Config} */
module.exports = {
  ...shared,
  testRegex: ['src/.*\\.spec\\.ts$', 'test/.*\\.sim-spec\\.ts$', 'test/unit/.*\\.spec\\.ts$'],
  collectCoverageFrom: ['src/**/*.ts', '!src/**/*.spec.ts', '!src/code-cache-loader.ts'],
  setupFiles: [...shared.setupFiles, '<rootDir>/test/unit/quiet-logs.ts'],
  // Specs import the test helpers as @test/… (tsconfig.json paths), not through ../../../test.
  moduleNameMapper: { '^@test/(.*)$': '<rootDir>/test/$1' },
};

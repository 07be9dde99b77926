// Unit tests: src/**/*.spec.ts, beside the code they test, the kube9-server
// simulator's own tests (test/*.sim-spec.ts), which need no cluster, and the checks of the
// repository's own files and scripts (test/unit/*.spec.ts: workflows, changelog, release scripts).
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

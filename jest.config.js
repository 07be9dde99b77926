// Unit tests: *.spec.ts beside the code. @kubernetes/client-node 2.x and some of
// its dependencies ship only ES modules, which jest's CommonJS runtime cannot
// require, so those are transformed to CommonJS by swc like our own TypeScript.
const shared = require('./test/jest-shared.config');

module.exports = {
  ...shared,
  testRegex: 'src/.*\\.spec\\.ts$',
};

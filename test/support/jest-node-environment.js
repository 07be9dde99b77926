// Jest's node environment, plus the well-known symbols Symbol.dispose and
// Symbol.asyncDispose inside the test sandbox.
//
// Node 22 defines them only in its main realm, not in the vm context Jest 29
// runs a test file in. undici (the HTTP client of @kubernetes/client-node)
// calls `disposable[Symbol.dispose]` on objects made by Node itself, and in
// the sandbox that is `undefined`: every request then fails with "TypeError:
// removeAbortListener is not a function" (nodejs/undici#5486; Jest 30 copies
// the symbols itself, jestjs/jest#14888). Copying the main realm's symbols in
// makes both sides agree.
const { TestEnvironment } = require('jest-environment-node');

class NodeEnvironmentWithDisposeSymbols extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of ['dispose', 'asyncDispose']) {
      if (this.global.Symbol[name] === undefined && typeof Symbol[name] === 'symbol') {
        Object.defineProperty(this.global.Symbol, name, { value: Symbol[name] });
      }
    }
  }
}

module.exports = NodeEnvironmentWithDisposeSymbols;

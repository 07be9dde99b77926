// End-to-end files in name order, with the no-leak check last: it reads what
// every earlier file's operators printed and wrote.
const Sequencer = require('@jest/test-sequencer').default;

class NoLeakLast extends Sequencer {
  sort(tests) {
    const last = (test) => (test.path.endsWith('no-leak.e2e-spec.ts') ? 1 : 0);
    return [...tests].sort((a, b) => last(a) - last(b) || a.path.localeCompare(b.path));
  }
}

module.exports = NoLeakLast;

// The end of `npm test` (scripts/test.sh):
//   node scripts/test-summary.js RESULTS_DIR BUILD_TIMES STEP_TIMES RUN...
// Reads RESULTS_DIR/RUN.json (jest --json) for each RUN and prints one line
// "N passed, N failed, N skipped" (CI reads it; a RUN without its file, or in which no suite
// ran, is named after it and counted as a failure), then the time table: every suite's time,
// slowest first, the time build.sh and images.sh spent (BUILD_TIMES: lines "tools|images
// SECONDS") and each step's (STEP_TIMES: "name=SECONDS ..."). Exits 1 if a RUN is missing.
const fs = require('node:fs');
const path = require('node:path');

const [dir, buildTimesFile, stepTimes, ...runs] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
const suites = [];
for (const run of runs) {
  const file = path.join(dir, `${run}.json`);
  if (!fs.existsSync(file)) {
    missing.push(run);
    failed += 1;
    continue;
  }
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  skipped += r.numPendingTests + r.numTodoTests;
  if (r.numTotalTestSuites === 0) {
    missing.push(`${run} (no test suite ran)`);
    failed += 1;
  }
  for (const suite of r.testResults) {
    const { startTime: start, endTime: end } = suite;
    suites.push({
      run,
      name: path.relative(process.cwd(), suite.name),
      seconds: (end - start) / 1000,
      status: suite.status,
    });
  }
}
const note = missing.length ? `; no result from: ${missing.join(', ')}` : '';
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped${note}`);

const seconds = (s) => (Number.isFinite(s) ? s.toFixed(1).padStart(8) : '       ?');
console.log('\nTime per suite, slowest first (s):');
for (const s of suites.sort((a, b) => b.seconds - a.seconds)) {
  console.log(`${seconds(s.seconds)}  ${s.name}  [${s.run}${s.status === 'passed' ? '' : `, ${s.status}`}]`);
}
const built = { tools: 0, images: 0 };
for (const line of fs.existsSync(buildTimesFile) ? fs.readFileSync(buildTimesFile, 'utf8').split('\n') : []) {
  const [what, secs] = line.trim().split(/\s+/);
  if (what in built) built[what] += Number(secs);
}
console.log(
  `Building: tools ${built.tools} s (test/controlplane/build.sh), images ${built.images} s (test/node/images.sh)` +
    ' (within the steps below; the end-to-end groups may build side by side)',
);
const steps = stepTimes
  .split(/\s+/)
  .filter(Boolean)
  .map((pair) => pair.replace('=', ' ') + ' s');
console.log(`Steps: ${steps.join(', ')}`);
process.exit(missing.length ? 1 : 0);

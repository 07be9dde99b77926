// `npm start`: runs the built operator as the image does: the Dockerfile's CMD
// (["<path>/node", <flags>..., "dist/code-cache-loader.js"]), with this Node, so that a local run
// behaves and measures as the pod does, code cache included. Signals are passed on; the exit code
// is the operator's.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
/** The image's entry point: loads the operator (dist/main.js) with its code cache. */
const entry = 'dist/code-cache-loader.js';
const cmd = [...fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').matchAll(/^CMD (\[.*\])$/gm)].at(-1);
const args = cmd ? JSON.parse(cmd[1]) : [];
if (!/(^|\/)node$/.test(args[0] ?? '') || args.at(-1) !== entry) {
  console.error(`Dockerfile: CMD is not ["<path>/node", <flags>..., "${entry}"]: ${cmd?.[1]}`);
  process.exit(1);
}
const child = spawn(process.execPath, [...args.slice(1, -1), path.join(root, entry)], {
  stdio: 'inherit',
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

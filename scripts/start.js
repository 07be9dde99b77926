// `npm start`: runs the built operator with the Node flags of the image, read from the
// Dockerfile's CMD (["<path>/node", <flags>..., "dist/main.js"]), so that a local run behaves and
// measures as the pod does. Signals are passed on; the exit code is the operator's.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cmd = [...fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').matchAll(/^CMD (\[.*\])$/gm)].at(-1);
const args = cmd ? JSON.parse(cmd[1]) : [];
if (!/(^|\/)node$/.test(args[0] ?? '') || args.at(-1) !== 'dist/main.js') {
  console.error(`Dockerfile: CMD is not ["<path>/node", <flags>..., "dist/main.js"]: ${cmd?.[1]}`);
  process.exit(1);
}
const child = spawn(process.execPath, [...args.slice(1, -1), path.join(root, 'dist', 'main.js')], {
  stdio: 'inherit',
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

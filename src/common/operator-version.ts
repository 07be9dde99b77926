import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The nearest package.json above this file: the project's, from src/, dist/ or the bundle alike. */
function packageJsonPath(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`No package.json above ${__dirname}`);
  }
}

/** The operator's version, from its package.json: never a literal. */
export const OPERATOR_VERSION: string = (JSON.parse(readFileSync(packageJsonPath(), 'utf8')) as { version: string })
  .version;

export const USER_AGENT = `kube9-operator/${OPERATOR_VERSION}`;

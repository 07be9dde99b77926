import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The operator's version from its package.json (dist/common and src/common are both two levels down). */
export const OPERATOR_VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;

export const USER_AGENT = `kube9-operator/${OPERATOR_VERSION}`;

/*
 * The machine an ELF file is built for, read from its header: the specs that
 * check which architecture's binaries an image holds or a process runs.
 * No jest in here: tsconfig.support.json builds it too.
 */
import * as fs from 'node:fs';

/** e_machine of the two architectures we ship (the ELF specification's numbers). */
export const ELF_MACHINE = { amd64: 62, arm64: 183 } as const;

/** e_machine of `file` (offset 18, little-endian, as on both targets), or -1 when it is not an ELF file. */
export function elfMachine(file: string): number {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, header, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  return header.subarray(0, 4).toString('latin1') === '\x7fELF' ? header.readUInt16LE(18) : -1;
}

/*
 * Checks on a running container from the host, through /proc: the operator's
 * image has no shell to run inside it (no `sh -c`, no kubectl exec), so its
 * filesystem is reached through /proc/<pid>/root, which resolves paths in the
 * container's own mount namespace, with its mounts' read-only flags.
 */
import * as fs from 'node:fs';

/** What a write at `file` (a path in the container) gives: 'written' or the error code. */
export function writeIn(pid: number, file: string): string {
  const target = `/proc/${pid}/root${file}`;
  try {
    fs.writeFileSync(target, 'written by the test\n');
    fs.rmSync(target);
    return 'written';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** Writes at /, /app and /tmp of the container: { '/': 'EROFS', '/app': 'EROFS', '/tmp': 'written' } for a read-only root. */
export function rootWrites(pid: number): Record<string, string> {
  return {
    '/': writeIn(pid, '/written-by-test'),
    '/app': writeIn(pid, '/app/written-by-test'),
    '/tmp': writeIn(pid, '/tmp/written-by-test'),
  };
}

/** What rootWrites gives for a read-only root with a writable /tmp (EROFS even for root: it is the mount's flag). */
export const READ_ONLY_ROOT = { '/': 'EROFS', '/app': 'EROFS', '/tmp': 'written' };

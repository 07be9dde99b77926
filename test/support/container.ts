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

/** / and /app are read-only mounts in the container (EROFS even for root), /tmp is writable. */
export function expectReadOnlyRoot(pid: number): void {
  expect({
    '/': writeIn(pid, '/written-by-test'),
    '/app': writeIn(pid, '/app/written-by-test'),
    '/tmp': writeIn(pid, '/tmp/written-by-test'),
  }).toEqual({ '/': 'EROFS', '/app': 'EROFS', '/tmp': 'written' });
}

import { createHash } from 'node:crypto';
import { clampNodeCount, clusterIdentifierFrom, kubernetesVersionFrom } from './cluster-identity';
import { TEST_CA_PEM } from '@test/fixtures/test-ca.fixture';

describe('clusterIdentifierFrom', () => {
  it('hashes the CA certificate, not the server URL, when there is a CA', () => {
    const id = clusterIdentifierFrom(Buffer.from(TEST_CA_PEM), 'https://10.96.0.1:443');

    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(id).toHaveLength(71);
    expect(id).not.toBe(clusterIdentifierFrom(undefined, 'https://10.96.0.1:443'));
  });

  it('gives the same id for the same certificate written with different line endings', () => {
    const crlf = TEST_CA_PEM.replace(/\n/g, '\r\n') + '\r\n\r\n';

    expect(clusterIdentifierFrom(Buffer.from(crlf), 'a')).toBe(clusterIdentifierFrom(Buffer.from(TEST_CA_PEM), 'b'));
  });

  it('falls back to the SHA-256 of the server URL only when there is no CA', () => {
    const expected = createHash('sha256').update('https://k8s.example:6443').digest('hex');

    expect(clusterIdentifierFrom(undefined, 'https://k8s.example:6443')).toBe(`sha256:${expected}`);
    expect(clusterIdentifierFrom(Buffer.alloc(0), 'https://k8s.example:6443')).toBe(`sha256:${expected}`);
  });
});

describe('kubernetesVersionFrom', () => {
  it.each([
    ['v1.31.2+k3s1', '1.31.2'],
    ['v1.37.2', '1.37.2'],
    ['1.28.0-eks-abc', '1.28.0'],
  ])('%s -> %s', (gitVersion, expected) => {
    expect(kubernetesVersionFrom(gitVersion)).toBe(expected);
  });

  it('rejects a version without MAJOR.MINOR.PATCH', () => {
    expect(() => kubernetesVersionFrom('v1.31')).toThrow('unrecognised version "v1.31"');
  });
});

describe('clampNodeCount', () => {
  it.each([
    [0, 1],
    [1, 1],
    [42, 42],
    [10_000, 10_000],
    [25_000, 10_000],
  ])('%d -> %d', (count, expected) => {
    expect(clampNodeCount(count)).toBe(expected);
  });
});

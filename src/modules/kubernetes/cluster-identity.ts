import { createHash, X509Certificate } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * `sha256:` + 64 hex of the cluster CA certificate(s), or of the API server URL when the
 * cluster has no CA at all (SPEC section 3). The certificates are hashed in DER form, so a
 * kubeconfig's CA data and a pod's ca.crt file give the same identifier even when their PEM
 * text differs in line endings or trailing whitespace.
 */
export function clusterIdentifierFrom(ca: Buffer | undefined, server: string): string {
  const hash = createHash('sha256');
  if (ca && ca.length > 0) hash.update(caBytes(ca));
  else hash.update(server);
  return `sha256:${hash.digest('hex')}`;
}

function caBytes(ca: Buffer): Buffer {
  const pems = ca.toString('utf8').match(PEM_CERTIFICATE);
  if (!pems) return ca;
  return Buffer.concat(pems.map((pem) => new X509Certificate(pem).raw));
}

/** `v1.31.2+k3s1` -> `1.31.2`; throws when the API server reports no MAJOR.MINOR.PATCH. */
export function kubernetesVersionFrom(gitVersion: string): string {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(gitVersion);
  if (!match) throw new Error(`The API server reported an unrecognised version "${gitVersion.slice(0, 40)}"`);
  return `${match[1]}.${match[2]}.${match[3]}`;
}

/** The node count the server is told: 1..10000, whatever the cluster says. */
export function clampNodeCount(count: number): number {
  return Math.min(10_000, Math.max(1, Math.floor(count)));
}

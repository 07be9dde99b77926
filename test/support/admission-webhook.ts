/*
 * A validating admission webhook of the test's own, served over HTTPS on loopback with a
 * certificate of the control plane's CA. The API server calls it for the writes the test
 * chooses; the test's policy may hold a write (a slow webhook, as a real cluster can have) or
 * deny it. Every call is recorded with when it arrived, when it was answered, and whether the
 * API server abandoned it first (it closes the call when its own client has gone away).
 */
import { AdmissionregistrationV1Api, KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import { AddressInfo } from 'node:net';
import { ControlPlane } from './control-plane';
import { makeLeaf } from './pki';

export interface AdmissionCall {
  at: number;
  user: string;
  operation: string;
  resource: string;
  name: string;
  /** For Lease writes: the holder the request would write. */
  holder?: string;
  answeredAt?: number;
  /** The API server closed the call before it was answered. */
  abandonedAt?: number;
  allowed?: boolean;
}

export interface AdmissionVerdict {
  allowed: boolean;
  /** Hold the answer this long (the API server waits, up to the webhook's timeout). */
  holdMs?: number;
  message?: string;
}

export type AdmissionPolicy = (call: AdmissionCall) => AdmissionVerdict;

export interface AdmissionWebhook {
  calls: AdmissionCall[];
  /** Replaces the policy; the default allows everything at once. */
  setPolicy(policy: AdmissionPolicy): void;
  /**
   * Registers the webhook for ConfigMap and Lease creates and updates in `namespace` by users
   * whose name starts with `userPrefix`, failing closed (the API server takes a moment to start calling).
   */
  register(namespace: string, userPrefix: string): Promise<void>;
  close(): Promise<void>;
}

interface AdmissionReview {
  request: {
    uid: string;
    operation: string;
    userInfo: { username: string };
    resource: { resource: string };
    name?: string;
    object?: { metadata?: { name?: string }; spec?: { holderIdentity?: string } };
  };
}

const WEBHOOK_NAME = 'hold.kube9.test';

export async function startAdmissionWebhook(controlPlane: ControlPlane): Promise<AdmissionWebhook> {
  await makeLeaf(controlPlane.dir, 'test-webhook', '/CN=kube9-test-webhook', 'server');
  const calls: AdmissionCall[] = [];
  let policy: AdmissionPolicy = () => ({ allowed: true });
  const server: Server = createServer(
    {
      cert: readFileSync(`${controlPlane.dir}/test-webhook.crt`),
      key: readFileSync(`${controlPlane.dir}/test-webhook.key`),
    },
    (request, response) => {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        const review = JSON.parse(text) as AdmissionReview;
        const call: AdmissionCall = {
          at: Date.now(),
          user: review.request.userInfo.username,
          operation: review.request.operation,
          resource: review.request.resource.resource,
          name: review.request.name || review.request.object?.metadata?.name || '',
          holder: review.request.object?.spec?.holderIdentity,
        };
        calls.push(call);
        const verdict = policy(call);
        const answer = () => {
          if (call.abandonedAt !== undefined) return;
          call.answeredAt = Date.now();
          call.allowed = verdict.allowed;
          response.setHeader('content-type', 'application/json');
          response.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: {
                uid: review.request.uid,
                allowed: verdict.allowed,
                ...(verdict.allowed ? {} : { status: { code: 403, message: verdict.message ?? 'denied by the test' } }),
              },
            }),
          );
        };
        const timer = setTimeout(answer, verdict.holdMs ?? 0);
        response.on('close', () => {
          if (call.answeredAt === undefined) {
            call.abandonedAt = Date.now();
            clearTimeout(timer);
          }
        });
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);

  return {
    calls,
    setPolicy: (next) => (policy = next),
    async register(namespace, userPrefix) {
      const rule = (apiGroup: string, resource: string) => ({
        apiGroups: [apiGroup],
        apiVersions: ['v1'],
        operations: ['CREATE', 'UPDATE'],
        resources: [resource],
        scope: 'Namespaced',
      });
      await admission.createValidatingWebhookConfiguration({
        body: {
          metadata: { name: WEBHOOK_NAME },
          webhooks: [
            {
              name: WEBHOOK_NAME,
              clientConfig: {
                url: `https://127.0.0.1:${port}/validate`,
                caBundle: readFileSync(controlPlane.caPath).toString('base64'),
              },
              rules: [rule('', 'configmaps'), rule('coordination.k8s.io', 'leases')],
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
              matchConditions: [
                { name: 'replicas-only', expression: `request.userInfo.username.startsWith('${userPrefix}')` },
              ],
              failurePolicy: 'Fail',
              sideEffects: 'None',
              admissionReviewVersions: ['v1'],
              timeoutSeconds: 30,
            },
          ],
        },
      });
    },
    async close() {
      await admission.deleteValidatingWebhookConfiguration({ name: WEBHOOK_NAME }).catch(() => undefined);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

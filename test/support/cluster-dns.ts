/*
 * A cluster DNS on the real worker node, laid out as clusters have one: CoreDNS in a pod labelled
 * k8s-app=kube-dns in kube-system, behind the Service kube-dns at the node's DNS IP, which the
 * kubelet gives the pods as their nameserver (WorkerNodeOptions.clusterDns). It answers only the
 * names it is given (the hosts plugin) and forwards nothing: no look-up leaves the machine.
 *
 * CoreDNS is built from its Go module like the other tools (test/controlplane/go/coredns); the pod
 * runs that binary, mounted read-only from the host, in the busybox image the node already has.
 */
import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ControlPlane } from './control-plane';
import { waitFor } from './operator-process';

const NAMESPACE = 'kube-system';
const NAME = 'coredns';
/** The labels the chart's default DNS egress rule selects (networkPolicy.egress.dns.to). */
export const KUBE_DNS_LABELS = { 'k8s-app': 'kube-dns' };

export interface ClusterDns {
  /** The queries CoreDNS logged so far, as "<client ip> <type> <name> <rcode>". */
  queries(): Promise<string[]>;
}

/** The Corefile: port 53, answers for `hosts` (name → IPv4) only, every query logged. */
function corefile(hosts: Record<string, string>): string {
  const entries = Object.entries(hosts).map(([name, ip]) => `        ${ip} ${name}`);
  return ['.:53 {', '    errors', '    log', '    hosts {', ...entries, '    }', '}', ''].join('\n');
}

/** Starts CoreDNS as kube-dns on `cp`'s node, answering for `hosts`; resolves once the pod is Running. */
export async function startClusterDns(
  core: CoreV1Api,
  cp: ControlPlane,
  hosts: Record<string, string>,
): Promise<ClusterDns> {
  const node = cp.node!;
  await core.createNamespacedConfigMap({
    namespace: NAMESPACE,
    body: { metadata: { name: NAME }, data: { Corefile: corefile(hosts) } },
  });
  await core.createNamespacedService({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'kube-dns', labels: KUBE_DNS_LABELS },
      spec: {
        clusterIP: node.network.dnsIp,
        selector: KUBE_DNS_LABELS,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
  });
  await core.createNamespacedPod({
    namespace: NAMESPACE,
    body: {
      metadata: { name: NAME, labels: KUBE_DNS_LABELS },
      spec: {
        // Its own look-ups (none) never go to itself.
        dnsPolicy: 'Default',
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 65534,
          seccompProfile: { type: 'RuntimeDefault' },
          // Port 53 without a capability (a safe sysctl, allowed by every kubelet).
          sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '53' }],
        },
        containers: [
          {
            name: NAME,
            image: node.images.busybox,
            imagePullPolicy: 'Never',
            command: ['/coredns/coredns', '-conf', '/etc/coredns/Corefile'],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [
              { name: 'coredns', mountPath: '/coredns/coredns', readOnly: true },
              { name: 'config', mountPath: '/etc/coredns', readOnly: true },
            ],
          },
        ],
        volumes: [
          {
            name: 'coredns',
            hostPath: { path: realpathSync(path.join(cp.binDir, 'coredns')), type: 'File' },
          },
          { name: 'config', configMap: { name: NAME } },
        ],
      },
    },
  });
  await waitFor(
    'CoreDNS (kube-system/coredns) Running',
    async () => {
      const pod = await core.readNamespacedPod({ name: NAME, namespace: NAMESPACE });
      if (pod.status?.phase === 'Failed') throw new Error(`CoreDNS failed: ${JSON.stringify(pod.status)}`);
      return pod.status?.phase === 'Running' ? pod : undefined;
    },
    60_000,
    250,
  );
  return {
    async queries() {
      const log = await core.readNamespacedPodLog({ name: NAME, namespace: NAMESPACE });
      // [INFO] 10.214.3.7:41003 - 5912 "A IN kube9-server.kube9.test. udp 52 false 512" NOERROR qr,aa,rd 96 0.0001s
      return [...log.matchAll(/\] ([\d.]+):\d+ - \d+ "(\S+) IN (\S+) [^"]*" (\S+)/g)].map(
        ([, ip, type, name, rcode]) => `${ip} ${type} ${name} ${rcode}`,
      );
    },
  };
}

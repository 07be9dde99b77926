/*
 * The chart's RBAC grants exactly the Kubernetes calls the operator's code makes (SPEC section
 * 5: "nothing the code does not use"). The calls are found in src/ by the TypeScript type
 * checker: every call of a method of a @kubernetes/client-node API class or of its Watch. Each
 * call site must have a row in USES below (a new call fails here until it has one, and so does
 * a row whose call is gone), and the rendered Role and ClusterRole must grant exactly the rows'
 * permissions, with replicaCount 1 and with leader election on.
 *
 *   npx jest --config test/jest-e2e.config.js test/rbac-verbs.e2e-spec.ts
 */
import type { V1ClusterRole, V1PolicyRule, V1Role } from '@kubernetes/client-node';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import { LEASE_NAME } from '../src/modules/leader-election/leader-election.constants';
import { STATE_CONFIGMAP_NAME } from '../src/modules/registration/registration.constants';
import { STATUS_CONFIGMAP_NAME } from '../src/modules/status/status.constants';
import { FULLNAME, K8sObject, only, removeHelmScratch, render, ROOT, Sets } from './support/helm-render';

/** Stands for the release's own object names in USES. */
const KEY_SECRET = '<the key Secret>';
const OWN_DEPLOYMENT = '<the Deployment>';

interface Permission {
  group: string;
  resource: string;
  verb: string;
  /** The objects the calls name; absent: any (a create, or a list). */
  names?: string[];
}

interface Use {
  /** The file under src/ and the client-node method it calls (class without the Object prefix). */
  file: string;
  call: string;
  /** What the API server authorizes; `public` for a path every user may read. */
  needs: { scope: 'namespace' | 'cluster'; permission: Permission } | { public: string };
  /** The call is made only with leader election on (replicaCount > 1). */
  leaderElectionOnly?: true;
}

const USES: Use[] = [
  // putConfigMap (ConfigMapWriter.put, the invalid-configuration status): PUT, then POST on a 404, then PUT again on a 409.
  {
    file: 'modules/kubernetes/owned-objects.ts',
    call: 'CoreV1Api.replaceNamespacedConfigMap',
    needs: {
      scope: 'namespace',
      permission: {
        group: '',
        resource: 'configmaps',
        verb: 'update',
        names: [STATUS_CONFIGMAP_NAME, STATE_CONFIGMAP_NAME],
      },
    },
  },
  {
    file: 'modules/kubernetes/owned-objects.ts',
    call: 'CoreV1Api.createNamespacedConfigMap',
    needs: { scope: 'namespace', permission: { group: '', resource: 'configmaps', verb: 'create' } },
  },
  // ConfigMapWriter.read: only RegistrationStateStore calls it, for the state ConfigMap.
  {
    file: 'modules/kubernetes/configmap.writer.ts',
    call: 'CoreV1Api.readNamespacedConfigMap',
    needs: {
      scope: 'namespace',
      permission: { group: '', resource: 'configmaps', verb: 'get', names: [STATE_CONFIGMAP_NAME] },
    },
  },
  // The owner reference of the ConfigMaps and the Lease: OPERATOR_DEPLOYMENT_NAME, the chart's full name.
  {
    file: 'modules/kubernetes/owned-objects.ts',
    call: 'AppsV1Api.readNamespacedDeployment',
    needs: {
      scope: 'namespace',
      permission: { group: 'apps', resource: 'deployments', verb: 'get', names: [OWN_DEPLOYMENT] },
    },
  },
  {
    file: 'modules/kubernetes/event.recorder.ts',
    call: 'CoreV1Api.createNamespacedEvent',
    needs: { scope: 'namespace', permission: { group: '', resource: 'events', verb: 'create' } },
  },
  {
    file: 'modules/kubernetes/secret.watcher.ts',
    call: 'CoreV1Api.readNamespacedSecret',
    needs: {
      scope: 'namespace',
      permission: { group: '', resource: 'secrets', verb: 'get', names: [KEY_SECRET] },
    },
  },
  // GET /api/v1/namespaces/<ns>/secrets?watch=true&fieldSelector=metadata.name=<key Secret> (SecretWatcher, through the WatchLoop)
  {
    file: 'modules/kubernetes/watch-loop.ts',
    call: 'Watch.watch',
    needs: {
      scope: 'namespace',
      permission: { group: '', resource: 'secrets', verb: 'watch', names: [KEY_SECRET] },
    },
  },
  // GET /api/v1/namespaces/<ns>/configmaps?watch=true&fieldSelector=metadata.name=kube9-operator-status (LeaderStatusWatch, through the WatchLoop)
  {
    file: 'modules/kubernetes/watch-loop.ts',
    call: 'Watch.watch',
    needs: {
      scope: 'namespace',
      permission: { group: '', resource: 'configmaps', verb: 'watch', names: [STATUS_CONFIGMAP_NAME] },
    },
    leaderElectionOnly: true,
  },
  {
    file: 'modules/leader-election/leader-election.service.ts',
    call: 'CoordinationV1Api.readNamespacedLease',
    needs: {
      scope: 'namespace',
      permission: { group: 'coordination.k8s.io', resource: 'leases', verb: 'get', names: [LEASE_NAME] },
    },
    leaderElectionOnly: true,
  },
  {
    file: 'modules/leader-election/leader-election.service.ts',
    call: 'CoordinationV1Api.createNamespacedLease',
    needs: { scope: 'namespace', permission: { group: 'coordination.k8s.io', resource: 'leases', verb: 'create' } },
    leaderElectionOnly: true,
  },
  {
    file: 'modules/leader-election/leader-election.service.ts',
    call: 'CoordinationV1Api.replaceNamespacedLease',
    needs: {
      scope: 'namespace',
      permission: { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', names: [LEASE_NAME] },
    },
    leaderElectionOnly: true,
  },
  {
    file: 'modules/kubernetes/cluster-facts.service.ts',
    call: 'CoreV1Api.listNode',
    needs: { scope: 'cluster', permission: { group: '', resource: 'nodes', verb: 'list' } },
  },
  // GET /version: granted to every user by the built-in ClusterRole system:public-info-viewer.
  { file: 'modules/kubernetes/cluster-facts.service.ts', call: 'VersionApi.getCode', needs: { public: '/version' } },
];

/** client-node classes whose methods send no request (configuration, middleware contexts). */
const NOT_REQUESTS = new Set(['KubeConfig', 'RequestContext', 'ResponseContext']);

const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(ROOT, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  return ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT).options;
}

/**
 * Every call in `files` of a method declared by a class of @kubernetes/client-node, as
 * "<file under src/> <Class>.<method>" (Object prefix dropped: CoreV1Api is ObjectCoreV1Api).
 * `virtual` adds files that exist only in memory, to test the scanner itself.
 */
function clientNodeCalls(files: string[], virtual: Record<string, string> = {}): string[] {
  const options = { ...compilerOptions(), noEmit: true };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (path) => virtual[path] ?? readFile(path);
  host.fileExists = (path) => path in virtual || fileExists(path);
  host.getSourceFile = (path, language, ...rest) =>
    path in virtual ? ts.createSourceFile(path, virtual[path], language) : getSourceFile(path, language, ...rest);
  const roots = [...files, ...Object.keys(virtual)];
  const program = ts.createProgram(roots, options, host);
  const checker = program.getTypeChecker();
  const found = new Set<string>();

  for (const root of roots) {
    const sourceFile = program.getSourceFile(root)!;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
        const symbol = checker.getSymbolAtLocation(node.expression.name);
        const declaration = symbol?.declarations?.[0];
        if (declaration?.getSourceFile().fileName.includes('/node_modules/@kubernetes/client-node/')) {
          const owner = declaration.parent;
          const className =
            ts.isClassDeclaration(owner) || ts.isInterfaceDeclaration(owner) ? owner.name?.text : undefined;
          const name = (className ?? '<unknown>').replace(/^Object(?=\w+Api$)/, '');
          if (!NOT_REQUESTS.has(name)) {
            found.add(`${relative(SRC, root)} ${name}.${node.expression.name.text}`);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sourceFile);
  }
  return [...found].sort();
}

/** "group resource verb name" lines; `*` for any name. */
function grantsOf(rules: V1PolicyRule[] = []): string[] {
  const lines = new Set<string>();
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs)
          for (const name of rule.resourceNames ?? ['*']) lines.add(`${group || 'core'} ${resource} ${verb} ${name}`);
  }
  return [...lines].sort();
}

function neededBy(uses: Use[], scope: 'namespace' | 'cluster', names: Record<string, string>): string[] {
  const lines = new Set<string>();
  for (const use of uses) {
    if ('public' in use.needs || use.needs.scope !== scope) continue;
    const { group, resource, verb, names: objects } = use.needs.permission;
    for (const name of objects ?? ['*']) lines.add(`${group || 'core'} ${resource} ${verb} ${names[name] ?? name}`);
  }
  return [...lines].sort();
}

afterAll(() => {
  removeHelmScratch();
});

describe('the Kubernetes calls in src/', () => {
  let calls: string[];

  beforeAll(() => {
    calls = clientNodeCalls(sourceFiles(SRC));
  });

  it('each has its row in the table of permissions, and each row still has its call', () => {
    const rows = [...new Set(USES.map((use) => `${use.file} ${use.call}`))].sort();

    expect(calls).toEqual(rows);
  });

  it('are found by the scanner even through a variable, and a call missing from the table shows', () => {
    // A file that exists only in memory, in src/, so that it resolves client-node as src does.
    const path = join(SRC, 'modules', 'kubernetes', 'scanner-probe.ts');
    const probe = [
      "import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';",
      'export async function probe(kubeConfig: KubeConfig): Promise<void> {',
      '  const api = kubeConfig.makeApiClient(CoreV1Api);',
      "  await api.patchNamespacedConfigMap({ name: 'x', namespace: 'y', body: {} });",
      '}',
    ].join('\n');

    const found = clientNodeCalls([], { [path]: probe });

    expect(found).toEqual(['modules/kubernetes/scanner-probe.ts CoreV1Api.patchNamespacedConfigMap']);
  });
});

describe('the rendered Role and ClusterRole grant exactly what the calls need', () => {
  function roles(sets: Sets): { role: V1Role; clusterRole: V1ClusterRole } {
    const objects: K8sObject[] = render(sets);
    return { role: only<V1Role>(objects, 'Role'), clusterRole: only<V1ClusterRole>(objects, 'ClusterRole') };
  }

  it.each<[string, Sets, boolean, Record<string, string>]>([
    ['replicaCount 1', {}, false, { [KEY_SECRET]: FULLNAME, [OWN_DEPLOYMENT]: FULLNAME }],
    [
      'replicaCount 2 (leader election)',
      { set: { replicaCount: 2 } },
      true,
      { [KEY_SECRET]: FULLNAME, [OWN_DEPLOYMENT]: FULLNAME },
    ],
    [
      'replicaCount 3, an existing Secret and another name',
      { set: { replicaCount: 3, existingSecret: 'my-key', fullnameOverride: 'k9' } },
      true,
      { [KEY_SECRET]: 'my-key', [OWN_DEPLOYMENT]: 'k9' },
    ],
  ])('%s', (_name, sets, leaderElection, names) => {
    const uses = USES.filter((use) => leaderElection || !use.leaderElectionOnly);

    const { role, clusterRole } = roles(sets);

    expect(grantsOf(role.rules)).toEqual(neededBy(uses, 'namespace', names));
    expect(grantsOf(clusterRole.rules)).toEqual(neededBy(uses, 'cluster', names));
  });
});

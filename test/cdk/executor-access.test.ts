// The executor's identity in the cluster: access entries with groups and no access policy, and RBAC that allows
// exactly the executor's calls, never in a funds namespace.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { parseAllDocuments } from 'yaml';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { PROJECT_ROOT } from '../../lib/agent-function';
import { ExecutorAccess } from '../../lib/executor-access';
import {
  EXECUTOR_GROUP,
  EXECUTOR_ROLE_NAME,
  executorNamespaces,
  READER_GROUP,
  renderExecutorManifests,
  renderReaderManifests,
} from '../../lib/rbac-manifests';
import { CDK_JSON_CONTEXT } from './synth';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { apiGroup: string; kind: string; name: string }[];
};

const DEFAULT_NAMESPACES = ['edge', 'trading', 'market', 'data'];

/** Every (group/resource, verb) the executor may use, from lambdas/adapters/eks/eks-executor.ts. */
const EXECUTOR_ALLOWED = [
  ...['get', 'list', 'watch', 'patch'].map((verb) => `apps/deployments:${verb}`),
  ...['get', 'list', 'watch'].map((verb) => `apps/replicasets:${verb}`),
  ...['get', 'patch'].map((verb) => `apps/deployments/scale:${verb}`),
  ...['get', 'list', 'watch', 'delete'].map((verb) => `/pods:${verb}`),
  ...['get', 'list', 'watch', 'patch'].map((verb) => `autoscaling/horizontalpodautoscalers:${verb}`),
].sort();

const FORBIDDEN_VERBS = ['*', 'create', 'update', 'deletecollection', 'escalate', 'bind', 'impersonate'];

function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).map((document) => {
    expect(document.errors).toEqual([]);
    return document.toJS() as Manifest;
  });
}

const readManifests = (file: string) => parseManifests(readFileSync(join(PROJECT_ROOT, 'k8s', 'rbac', file), 'utf8'));

/** The (group/resource, verb) pairs a set of rules grants, sorted, duplicates kept so overlaps show. */
function grants(rules: Rule[]): string[] {
  return rules
    .flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource}:${verb}`)),
      ),
    )
    .sort();
}

function synthAccess(readOnly: number) {
  const stack = new Stack(new App({ context: CDK_JSON_CONTEXT }), 'Test', {
    env: { account: '123456789012', region: 'ap-northeast-1' },
  });
  const lambda = new ServicePrincipal('lambda.amazonaws.com');
  const executorRole = new Role(stack, 'ExecutorRole', { assumedBy: lambda });
  const readOnlyRoles = Array.from(
    { length: readOnly },
    (_, i) => new Role(stack, `Collector${i}`, { assumedBy: lambda }),
  );
  const access = new ExecutorAccess(stack, 'ExecutorAccess', {
    clusterName: 'exchange-prod',
    executorRole,
    namespaces: DEFAULT_NAMESPACES,
    readOnlyRoles,
  });
  return { stack, access, executorRole, readOnlyRoles, template: Template.fromStack(stack) };
}

describe('access entries', () => {
  test('the executor role maps to the executor group of the named cluster, with no access policy', () => {
    const { stack, executorRole, template } = synthAccess(0);
    template.resourceCountIs('AWS::EKS::AccessEntry', 1);
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'exchange-prod',
      PrincipalArn: stack.resolve(executorRole.roleArn),
      Type: 'STANDARD',
      KubernetesGroups: ['sre-agent:executor'],
      AccessPolicies: Match.absent(),
    });
  });

  test('each read-only role maps to the reader group, also without access policies', () => {
    const { stack, readOnlyRoles, template } = synthAccess(2);
    template.resourceCountIs('AWS::EKS::AccessEntry', 3);
    for (const role of readOnlyRoles) {
      template.hasResourceProperties('AWS::EKS::AccessEntry', {
        ClusterName: 'exchange-prod',
        PrincipalArn: stack.resolve(role.roleArn),
        Type: 'STANDARD',
        KubernetesGroups: [READER_GROUP],
      });
    }
    for (const entry of Object.values(template.findResources('AWS::EKS::AccessEntry'))) {
      expect(entry.Properties.AccessPolicies).toBeUndefined();
    }
  });

  test('the construct carries the executor manifests of its namespaces', () => {
    const { access } = synthAccess(0);
    expect(access.executorManifests).toBe(renderExecutorManifests(DEFAULT_NAMESPACES));
  });

  test('invalid props fail at synth', () => {
    const stack = new Stack(new App(), 'Invalid');
    const executorRole = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const props = { clusterName: 'c', executorRole };
    expect(() => new ExecutorAccess(stack, 'NoNamespaces', { ...props, namespaces: [] })).toThrow(/at least one/);
    expect(() => new ExecutorAccess(stack, 'BadName', { ...props, namespaces: ['Trading'] })).toThrow(/"Trading"/);
    expect(() => new ExecutorAccess(stack, 'Twice', { ...props, namespaces: ['edge', 'edge'] })).toThrow(/twice/);
    expect(
      () => new ExecutorAccess(stack, 'Both', { ...props, namespaces: ['edge'], readOnlyRoles: [executorRole] }),
    ).toThrow(/is the executor role/);
  });
});

/** The executor's RBAC, as checked in and as rendered: exactly its calls, bound to its group, per namespace. */
function expectExecutorRbac(manifests: Manifest[], namespaces: string[]): void {
  expect(manifests).toHaveLength(namespaces.length * 2);
  for (const manifest of manifests) {
    expect(manifest.apiVersion).toBe('rbac.authorization.k8s.io/v1');
    expect(['Role', 'RoleBinding']).toContain(manifest.kind);
  }
  const roles = manifests.filter((m) => m.kind === 'Role');
  const bindings = manifests.filter((m) => m.kind === 'RoleBinding');
  expect(roles.map((m) => m.metadata.namespace)).toEqual(namespaces);
  expect(bindings.map((m) => m.metadata.namespace)).toEqual(namespaces);
  expect(manifests.map((m) => m.metadata.namespace)).not.toContain('custody');

  for (const role of roles) {
    const rules = role.rules ?? [];
    const granted = grants(rules);
    expect(granted).toEqual(EXECUTOR_ALLOWED);
    const groups = rules.flatMap((rule) => rule.apiGroups);
    const resources = rules.flatMap((rule) => rule.resources);
    const verbs = rules.flatMap((rule) => rule.verbs);
    expect([...groups, ...resources, ...verbs]).not.toContain('*');
    expect(resources).not.toContain('secrets');
    expect(resources.filter((r) => r.includes('secret') || r.endsWith('/exec') || r.endsWith('/log'))).toEqual([]);
    expect(verbs.filter((verb) => FORBIDDEN_VERBS.includes(verb))).toEqual([]);
    for (const rule of rules) expect(Object.keys(rule).sort()).toEqual(['apiGroups', 'resources', 'verbs']);
  }
  for (const binding of bindings) {
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: EXECUTOR_ROLE_NAME });
    expect(binding.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: EXECUTOR_GROUP }]);
  }
}

describe('executor RBAC', () => {
  test('k8s/rbac/executor.yaml allows exactly the executor calls in the default namespaces, custody excluded', () => {
    expectExecutorRbac(readManifests('executor.yaml'), DEFAULT_NAMESPACES);
  });

  test('rendered manifests grant the same rules for any namespace list', () => {
    expectExecutorRbac(parseManifests(renderExecutorManifests(['payments-edge', 'risk'])), ['payments-edge', 'risk']);
  });

  test('k8s/rbac/executor.yaml is what the default topology renders', () => {
    expect(readManifests('executor.yaml')).toEqual(parseManifests(renderExecutorManifests(DEFAULT_NAMESPACES)));
  });

  test.each(['dev', 'staging', 'prod'])('the %s topology leaves out the funds namespace', (environment) => {
    const { config } = loadEnvironmentConfig(environment);
    const namespaces = executorNamespaces(config);
    expect(namespaces).toEqual(DEFAULT_NAMESPACES);
    const funds = config.topology.services.filter((s) => s.criticality === 'funds').map((s) => s.namespace);
    expect(funds).toContain('custody');
    for (const namespace of funds) expect(namespaces).not.toContain(namespace);
  });

  test('a namespace shared with a funds service, or denied as a whole, is left out', () => {
    const service = (name: string, namespace: string, criticality: 'funds' | 'core' = 'core') => ({
      name,
      namespace,
      criticality,
      kind: 'service' as const,
      dependsOn: [],
    });
    const topology = {
      services: [service('a', 'shared'), service('vault', 'shared', 'funds'), service('b', 'ops'), service('c', 'web')],
    };
    const guardrails = {
      denyList: [
        { namespace: 'ops', reason: 'hands off' },
        { namespace: 'web', action: 'pod-restart', reason: 'only one action denied' },
      ],
      changeFreezes: [],
    };
    expect(executorNamespaces({ topology, guardrails })).toEqual(['web']);
  });
});

describe('reader RBAC', () => {
  test('k8s/rbac/reader.yaml reads events, pods, rollouts, nodes and HPAs cluster-wide, nothing else', () => {
    const manifests = readManifests('reader.yaml');
    expect(manifests).toEqual(parseManifests(renderReaderManifests()));
    expect(manifests.map((m) => m.kind)).toEqual(['ClusterRole', 'ClusterRoleBinding']);
    const [role, binding] = manifests;
    const granted = grants(role.rules ?? []);
    expect(new Set(granted.map((grant) => grant.split(':')[1]))).toEqual(new Set(['get', 'list', 'watch']));
    expect(new Set(granted.map((grant) => grant.split(':')[0]))).toEqual(
      new Set([
        '/events',
        'events.k8s.io/events',
        '/pods',
        '/nodes',
        'apps/deployments',
        'apps/replicasets',
        'autoscaling/horizontalpodautoscalers',
      ]),
    );
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: role.metadata.name,
    });
    expect(binding.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: READER_GROUP }]);
  });
});

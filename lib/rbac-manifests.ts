// Kubernetes RBAC for the agent's identities in the cluster: what the executor may do per namespace, and what
// the read-only collectors may see. The EKS access entries (lib/executor-access.ts) only name the groups.
//
// Render the executor's manifests for an environment's topology and apply them (cluster-admin credentials):
//   node bin/run-ts.cjs lib/rbac-manifests.ts prod | kubectl apply -f -
//   node bin/run-ts.cjs lib/rbac-manifests.ts prod --reader | kubectl apply -f -
// k8s/rbac/executor.yaml and k8s/rbac/reader.yaml are the same output for the default topology.

import { resolve } from 'node:path';
import { Document, isScalar, isSeq, visit } from 'yaml';
import { loadEnvironmentConfig } from '../lambdas/adapters/config-files';
import type { AgentConfig } from '../lambdas/core/config/schema';

/** Kubernetes group of the remediation role's access entry. */
export const EXECUTOR_GROUP = 'sre-agent:executor';
/** Kubernetes group of the read-only collectors' access entries. */
export const READER_GROUP = 'sre-agent:reader';
/** Name of the executor's Role and RoleBinding in each namespace, and of the reader's ClusterRole(Binding). */
export const EXECUTOR_ROLE_NAME = 'sre-agent-executor';
export const READER_ROLE_NAME = 'sre-agent-reader';

export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * Exactly the calls of lambdas/adapters/eks/eks-executor.ts. Every write there is a read-modify-patch, so a
 * patched resource is also read, including the scale subresource. No create or update (patches are conditioned
 * on the resourceVersion read), no secrets, no exec or logs, no RBAC verbs: the role cannot grow itself.
 */
export const EXECUTOR_RULES: readonly PolicyRule[] = [
  { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] },
  { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['get', 'list', 'watch', 'patch'] },
];

/** Enough to diagnose (events, pods, rollouts, nodes, autoscalers) everywhere, funds namespaces included. */
export const READER_RULES: readonly PolicyRule[] = [
  // Events are one object kind served by two API groups; collectors may use either.
  { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['get', 'list', 'watch'] },
];

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class RbacManifestError extends Error {
  override readonly name = 'RbacManifestError';
}

/** Throws unless `namespaces` is a non-empty list of distinct Kubernetes namespace names. */
export function checkNamespaces(namespaces: readonly string[]): void {
  if (namespaces.length === 0) throw new RbacManifestError('the executor needs at least one namespace');
  const invalid = namespaces.filter((ns) => ns.length > 63 || !NAMESPACE_NAME.test(ns));
  if (invalid.length > 0) {
    throw new RbacManifestError(`not Kubernetes namespace names: ${invalid.map((ns) => `"${ns}"`).join(', ')}`);
  }
  const duplicates = namespaces.filter((ns, index) => namespaces.indexOf(ns) !== index);
  if (duplicates.length > 0) throw new RbacManifestError(`namespaces listed twice: ${duplicates.join(', ')}`);
}

/**
 * The namespaces the executor may act in: those of the topology's services, except any namespace that hosts a
 * funds service (the iron rule, enforced by the cluster as well as by the guardrails) and any namespace a
 * guardrail denies as a whole. In the order the topology first names them.
 */
export function executorNamespaces(config: Pick<AgentConfig, 'topology' | 'guardrails'>): string[] {
  const excluded = new Set<string>();
  for (const service of config.topology.services) if (service.criticality === 'funds') excluded.add(service.namespace);
  for (const rule of config.guardrails.denyList) {
    if (rule.namespace && !rule.service && !rule.action) excluded.add(rule.namespace);
  }
  const namespaces = config.topology.services.map((service) => service.namespace).filter((ns) => !excluded.has(ns));
  return [...new Set(namespaces)];
}

const mutable = (rules: readonly PolicyRule[]) =>
  rules.map((rule) => ({ apiGroups: [...rule.apiGroups], resources: [...rule.resources], verbs: [...rule.verbs] }));

const labels = { 'app.kubernetes.io/name': 'sre-agent', 'app.kubernetes.io/component': 'rbac' };

/** Multi-document YAML; lists of names (groups, resources, verbs) on one line, as people write RBAC. */
function toYaml(documents: readonly object[]): string {
  return documents
    .map((object) => {
      const document = new Document(object);
      visit(document, {
        Seq(_, node) {
          if (isSeq(node) && node.items.every((item) => isScalar(item))) node.flow = true;
        },
      });
      return `---\n${document.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
    })
    .join('');
}

/** The executor's manifests as objects: a Role and a RoleBinding for its group in each namespace. */
export function executorManifestObjects(namespaces: readonly string[]): object[] {
  checkNamespaces(namespaces);
  return namespaces.flatMap((namespace) => [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: EXECUTOR_ROLE_NAME, namespace, labels },
      rules: mutable(EXECUTOR_RULES),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: EXECUTOR_ROLE_NAME, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: EXECUTOR_ROLE_NAME },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: EXECUTOR_GROUP }],
    },
  ]);
}

/** The reader's manifests as objects: one ClusterRole and its ClusterRoleBinding. */
export function readerManifestObjects(): object[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: READER_ROLE_NAME, labels },
      rules: mutable(READER_RULES),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: READER_ROLE_NAME, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: READER_ROLE_NAME },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: READER_GROUP }],
    },
  ];
}

/** Multi-document YAML for `kubectl apply -f -`. */
export function renderExecutorManifests(namespaces: readonly string[]): string {
  return toYaml(executorManifestObjects(namespaces));
}

export function renderReaderManifests(): string {
  return toYaml(readerManifestObjects());
}

function main(args: readonly string[]): void {
  const [environment, ...flags] = args;
  if (!environment) {
    process.stderr.write('usage: node bin/run-ts.cjs lib/rbac-manifests.ts ENV [--reader]\n');
    process.exitCode = 2;
    return;
  }
  if (flags.includes('--reader')) {
    process.stdout.write(renderReaderManifests());
    return;
  }
  const { config } = loadEnvironmentConfig(environment);
  process.stdout.write(renderExecutorManifests(executorNamespaces(config)));
}

// Run as a script through bin/run-ts.cjs (which leaves require.main pointing at itself).
if (process.argv[1] && resolve(process.argv[1]) === __filename) main(process.argv.slice(2));

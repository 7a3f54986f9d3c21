// The agent's identities inside the EKS cluster: access entries that map the remediation role (and read-only
// collector roles) to Kubernetes groups, whose permissions come only from k8s/rbac/*.yaml.

import { Names, Token } from 'aws-cdk-lib';
import { CfnAccessEntry } from 'aws-cdk-lib/aws-eks';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { checkNamespaces, EXECUTOR_GROUP, READER_GROUP, renderExecutorManifests } from './rbac-manifests';

export interface ExecutorAccessProps {
  /** Name of the existing cluster (config `cluster.name`); its authentication mode must include the EKS API. */
  readonly clusterName: string;
  /** The role of the function that changes the cluster (the incident workflow's `remediate`). */
  readonly executorRole: IRole;
  /** Namespaces the executor's RBAC covers; never one that hosts a funds service. */
  readonly namespaces: string[];
  /**
   * Roles that only read the cluster (collectors), mapped to the reader group.
   * @default none
   */
  readonly readOnlyRoles?: IRole[];
}

export class ExecutorAccess extends Construct {
  readonly executorEntry: CfnAccessEntry;
  readonly readerEntries: CfnAccessEntry[];
  /** The executor's Role and RoleBinding for `namespaces`, to `kubectl apply` alongside the deployment. */
  readonly executorManifests: string;

  constructor(scope: Construct, id: string, props: ExecutorAccessProps) {
    super(scope, id);
    checkNamespaces(props.namespaces);
    const readOnlyRoles = props.readOnlyRoles ?? [];
    // EKS allows one access entry per principal: a role cannot be both, and the executor already reads.
    const clash = readOnlyRoles.find(
      (role) =>
        role === props.executorRole ||
        (!Token.isUnresolved(role.roleArn) && role.roleArn === props.executorRole.roleArn),
    );
    if (clash) throw new Error(`${clash.node.path} is the executor role; it cannot also have a read-only entry`);

    // No access policies, on purpose (least privilege). EKS access policies are AWS-managed and coarse: the
    // cluster-admin policy spans every namespace, custody included; the edit and admin ones grant create, update
    // and secrets even when scoped to namespaces; the view one reads far more kinds than the executor needs.
    // Without them the role is an authenticated identity in its group and nothing more: what the group may do is
    // the project's RBAC, namespace by namespace, so it can do no more than the manifests allow.
    this.executorEntry = new CfnAccessEntry(this, 'ExecutorAccessEntry', {
      clusterName: props.clusterName,
      principalArn: props.executorRole.roleArn,
      type: 'STANDARD',
      kubernetesGroups: [EXECUTOR_GROUP],
    });

    // Ids follow each role's construct path, not its place in the list, so reordering replaces nothing (a
    // replacement would fail: the new entry is created before the old one, for the same principal).
    this.readerEntries = readOnlyRoles.map(
      (role) =>
        new CfnAccessEntry(this, `ReaderAccessEntry${Names.nodeUniqueId(role.node)}`, {
          clusterName: props.clusterName,
          principalArn: role.roleArn,
          type: 'STANDARD',
          kubernetesGroups: [READER_GROUP],
        }),
    );

    this.executorManifests = renderExecutorManifests(props.namespaces);
  }
}

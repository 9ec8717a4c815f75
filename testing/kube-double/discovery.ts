/**
 * Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/G`, `/apis/G/V`, in the
 * plain (legacy) form. kubectl 1.33 asks for the aggregated form first (`as=APIGroupDiscoveryList`)
 * and, given plain `application/json`, falls back to fetching each group version (tested).
 * Resource lists carry verbs, the namespaced flag, kind, shortNames and categories, which
 * `kubectl get <shortname>` and client-node's KubernetesObjectApi need.
 */
import type { Resources } from './resources.js';
import { apiVersionOf, type ResourceType } from './types.js';

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const versionInfo = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.0-nexus-double',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.24.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function apiResources(types: ResourceType[]) {
  return types.flatMap((t) => {
    const main = {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs,
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length ? { categories: t.categories } : {}),
    };
    const status = {
      name: `${t.plural}/status`,
      singularName: '',
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: ['get', 'patch', 'update'],
    };
    return t.statusSubresource ? [main, status] : [main];
  });
}

/** `/api/v1` or `/apis/G/V`; undefined when that group version is not served. */
export function resourceList(resources: Resources, group: string, version: string) {
  const types = resources.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf({ group, version }),
    resources: apiResources(types),
  };
}

export function coreVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDocument(group: string, versions: string[]) {
  const entries = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: entries, preferredVersion: entries[0] };
}

export function groupList(resources: Resources) {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: resources
      .groups()
      .filter((g) => g.group !== '')
      .map((g) => groupDocument(g.group, g.versions)),
  };
}

export function groupOne(resources: Resources, group: string) {
  const found = resources.groups().find((g) => g.group === group && group !== '');
  return found
    ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDocument(found.group, found.versions) }
    : undefined;
}

import { readOperatorSettings } from './settings.js';

const base = {
  RUNTIME_IMAGE: 'runtime:1',
  NEXUS_URL: 'http://nexus-broker:7888',
  POD_NAMESPACE: 'nexus',
  POD_NAME: 'op-0',
};

describe('readOperatorSettings (B.72, B.94, B.102, B.31)', () => {
  it('has the documented defaults', () => {
    expect(readOperatorSettings(base)).toEqual({
      runtimeImage: 'runtime:1',
      nexusUrl: 'http://nexus-broker:7888',
      watchNamespaces: [],
      frameNamespaces: ['nexus'],
      podName: 'op-0',
      podNamespace: 'nexus',
      leaseDurationS: 15,
      qps: 20,
      burst: 30,
      resyncS: 300,
      metricsPort: 9466,
      aspectPodDefaults: {},
    });
  });

  it('reads every variable', () => {
    const settings = readOperatorSettings({
      ...base,
      WATCH_NAMESPACES: 'team, ops,team',
      FRAME_NAMESPACES: 'ops',
      LEASE_DURATION_S: '2',
      OPERATOR_QPS: '5.5',
      OPERATOR_BURST: '10',
      RESYNC_S: '60',
      METRICS_PORT: '0',
      ASPECT_POD_DEFAULTS: '{"nodeSelector":{"pool":"agents"},"tolerations":[]}',
    });
    expect(settings).toMatchObject({
      watchNamespaces: ['team', 'ops'],
      frameNamespaces: ['ops'],
      leaseDurationS: 2,
      qps: 5.5,
      burst: 10,
      resyncS: 60,
      metricsPort: 0,
      aspectPodDefaults: { nodeSelector: { pool: 'agents' }, tolerations: [] },
    });
  });

  it.each([
    [{ RUNTIME_IMAGE: '' }, 'RUNTIME_IMAGE is required'],
    [{ NEXUS_URL: undefined }, 'NEXUS_URL is required'],
    [{ NEXUS_URL: 'nexus:7888' }, 'NEXUS_URL must be an http:// or https:// URL'],
    [{ WATCH_NAMESPACES: 'team,Bad_NS' }, 'WATCH_NAMESPACES: item 2 must be a namespace name'],
    [{ POD_NAMESPACE: 'NOPE' }, 'POD_NAMESPACE must be a namespace name'],
    [{ LEASE_DURATION_S: 'soon' }, 'LEASE_DURATION_S must be an integer'],
    [{ METRICS_PORT: '70000' }, 'METRICS_PORT must be an integer from 0 to 65535'],
    [{ ASPECT_POD_DEFAULTS: '{nope' }, 'ASPECT_POD_DEFAULTS must be JSON'],
    [{ ASPECT_POD_DEFAULTS: '{"nodeSelectr":{}}' }, 'ASPECT_POD_DEFAULTS: Unrecognized key: "nodeSelectr"'],
    [
      { ASPECT_POD_DEFAULTS: '{"env":[{"name":"NEXUS_X"}]}' },
      'ASPECT_POD_DEFAULTS.env.0.name: must not start with NEXUS_',
    ],
  ])('refuses %j, naming the variable', (bad, message) => {
    expect(() => readOperatorSettings({ ...base, ...bad })).toThrow(message);
  });
});

import { restrictedViolations } from './pod-security.js';

type Json = Record<string, unknown>;

/** A pod spec that meets the restricted profile, to break one rule at a time. */
function good(): Json {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'app',
        image: 'app:1',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
    volumes: [
      { name: 'data', persistentVolumeClaim: { claimName: 'd' } },
      { name: 'tmp', emptyDir: {} },
    ],
  };
}

function withContainer(security: Json, extra: Json = {}): Json {
  const spec = good();
  const c = (spec.containers as Json[])[0]!;
  c.securityContext = { ...(c.securityContext as Json), ...security };
  Object.assign(c, extra);
  return spec;
}

describe('restrictedViolations (Pod Security Standards, restricted)', () => {
  it('passes a pod that meets every rule', () => {
    expect(restrictedViolations(good())).toEqual([]);
  });

  it.each<[string, Json, string]>([
    ['host network', { ...good(), hostNetwork: true }, 'hostNamespaces: spec.hostNetwork'],
    ['host PID', { ...good(), hostPID: true }, 'hostNamespaces: spec.hostPID'],
    ['host IPC', { ...good(), hostIPC: true }, 'hostNamespaces: spec.hostIPC'],
    ['a privileged container', withContainer({ privileged: true }), 'privileged: containers[app]'],
    [
      'a capability outside the baseline',
      withContainer({ capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] } }),
      'capabilities: containers[app] adds SYS_ADMIN',
    ],
    [
      'a baseline capability other than NET_BIND_SERVICE',
      withContainer({ capabilities: { drop: ['ALL'], add: ['CHOWN'] } }),
      'may add only NET_BIND_SERVICE, not CHOWN',
    ],
    ['capabilities not dropped', withContainer({ capabilities: {} }), 'capabilities.drop must include ALL'],
    [
      'a hostPath volume',
      { ...good(), volumes: [{ name: 'h', hostPath: { path: '/' } }] },
      'hostPathVolumes: volume h',
    ],
    [
      'a volume type outside the list',
      { ...good(), volumes: [{ name: 'n', nfs: { server: 's', path: '/' } }] },
      'restrictedVolumes: volume n is of type nfs',
    ],
    [
      'a host port',
      withContainer({}, { ports: [{ containerPort: 80, hostPort: 80 }] }),
      'hostPorts: containers[app] must not use hostPort 80',
    ],
    [
      'an unconfined AppArmor profile',
      withContainer({ appArmorProfile: { type: 'Unconfined' } }),
      'appArmorProfile: containers[app]',
    ],
    [
      'a custom SELinux type',
      withContainer({ seLinuxOptions: { type: 'spc_t' } }),
      'seLinuxOptions: containers[app].securityContext.seLinuxOptions.type spc_t',
    ],
    [
      'an SELinux user',
      withContainer({ seLinuxOptions: { user: 'root' } }),
      'seLinuxOptions: containers[app].securityContext.seLinuxOptions.user',
    ],
    ['an unmasked /proc', withContainer({ procMount: 'Unmasked' }), 'procMount: containers[app]'],
    [
      'an unconfined seccomp profile',
      withContainer({ seccompProfile: { type: 'Unconfined' } }),
      'seccompProfile: containers[app]',
    ],
    [
      'an unsafe sysctl',
      {
        ...good(),
        securityContext: {
          ...(good().securityContext as Json),
          sysctls: [{ name: 'kernel.msgmax', value: '1' }],
        },
      },
      'sysctls: kernel.msgmax',
    ],
    [
      'privilege escalation allowed',
      withContainer({ allowPrivilegeEscalation: true }),
      'allowPrivilegeEscalation: containers[app]',
    ],
    [
      'privilege escalation unset',
      withContainer({ allowPrivilegeEscalation: undefined }),
      'allowPrivilegeEscalation: containers[app]',
    ],
    [
      'root allowed on a container',
      withContainer({ runAsNonRoot: false }),
      'runAsNonRoot: containers[app].securityContext.runAsNonRoot must not be false',
    ],
    [
      'uid 0',
      withContainer({ runAsUser: 0 }),
      'runAsUser: containers[app].securityContext.runAsUser must not be 0',
    ],
    [
      'no runAsNonRoot anywhere',
      { ...good(), securityContext: { seccompProfile: { type: 'RuntimeDefault' } } },
      'runAsNonRoot: spec.securityContext.runAsNonRoot or containers[app]',
    ],
    [
      'no seccomp profile anywhere',
      { ...good(), securityContext: { runAsNonRoot: true } },
      'seccompProfile: spec.securityContext.seccompProfile or containers[app]',
    ],
    [
      'a hostProcess container',
      withContainer({ windowsOptions: { hostProcess: true } }),
      'hostProcess: containers[app]',
    ],
  ])('names the rule a pod breaks: %s', (_case, spec, expected) => {
    const violations = restrictedViolations(spec);
    expect(violations.some((v) => v.startsWith(expected) || v.includes(expected))).toBe(true);
  });

  it('checks init and ephemeral containers too, and AppArmor annotations', () => {
    const spec = { ...good(), initContainers: [{ name: 'init', image: 'i' }] };
    expect(restrictedViolations(spec)).toContain(
      'allowPrivilegeEscalation: initContainers[init].securityContext.allowPrivilegeEscalation must be false',
    );
    expect(
      restrictedViolations(good(), { 'container.apparmor.security.beta.kubernetes.io/app': 'unconfined' }),
    ).toHaveLength(1);
  });

  it('accepts per-container runAsNonRoot and seccomp instead of the pod’s', () => {
    const spec = withContainer({
      runAsNonRoot: true,
      seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' },
    });
    spec.securityContext = {};
    expect(restrictedViolations(spec)).toEqual([]);
  });
});

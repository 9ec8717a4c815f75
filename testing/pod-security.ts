/**
 * The Pod Security Standards "restricted" profile (baseline + restricted, as of Kubernetes 1.33)
 * as a check over a pod spec, for B.101: every pod spec the operator reconciles or the chart
 * renders must give no violation. Each violation names its rule as the standard does
 * ("hostNamespaces", "runAsNonRoot", ...) and the field, so a failure says what to fix.
 *
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/ ; Linux pods only (no
 * `spec.os.name: windows` exemptions), which is what Nexus runs.
 */

type Json = Record<string, unknown>;

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SELINUX_TYPES = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);
const APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);
const SECCOMP_TYPES = new Set(['RuntimeDefault', 'Localhost']);

const obj = (v: unknown): Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);

/** Every rule of the restricted profile that `podSpec` breaks; empty when it meets them all. */
export function restrictedViolations(podSpec: Json, podAnnotations: Record<string, string> = {}): string[] {
  const out: string[] = [];
  const pod = obj(podSpec.securityContext);
  const containers = [
    ...list(podSpec.initContainers).map((c) => ({ c, at: `initContainers[${String(c.name)}]` })),
    ...list(podSpec.containers).map((c) => ({ c, at: `containers[${String(c.name)}]` })),
    ...list(podSpec.ephemeralContainers).map((c) => ({ c, at: `ephemeralContainers[${String(c.name)}]` })),
  ];

  // Baseline.
  for (const key of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (podSpec[key] === true) out.push(`hostNamespaces: spec.${key} must be unset or false`);
  if (obj(pod.windowsOptions).hostProcess === true)
    out.push('hostProcess: spec.securityContext.windowsOptions.hostProcess must be unset or false');
  for (const volume of list(podSpec.volumes)) {
    if (volume.hostPath !== undefined)
      out.push(`hostPathVolumes: volume ${String(volume.name)} must not be a hostPath`);
    const type = Object.keys(volume).find((k) => k !== 'name');
    if (type && !RESTRICTED_VOLUME_TYPES.has(type))
      out.push(
        `restrictedVolumes: volume ${String(volume.name)} is of type ${type}, not one the restricted profile allows`,
      );
  }
  for (const sysctl of list(pod.sysctls))
    if (!SAFE_SYSCTLS.has(String(sysctl.name)))
      out.push(`sysctls: ${String(sysctl.name)} is not a safe sysctl`);
  checkSeLinux(obj(pod.seLinuxOptions), 'spec.securityContext', out);
  checkAppArmor(pod.appArmorProfile, 'spec.securityContext', out);
  for (const [key, value] of Object.entries(podAnnotations)) {
    if (!key.startsWith('container.apparmor.security.beta.kubernetes.io/')) continue;
    if (value !== 'runtime/default' && !value.startsWith('localhost/'))
      out.push(`appArmorProfile: annotation ${key} must be runtime/default or localhost/*`);
  }

  // Restricted, pod level: seccomp and non-root may be set on the pod or on every container.
  const podSeccomp = obj(pod.seccompProfile).type;
  if (podSeccomp !== undefined && !SECCOMP_TYPES.has(String(podSeccomp)))
    out.push('seccompProfile: spec.securityContext.seccompProfile.type must be RuntimeDefault or Localhost');
  if (pod.runAsNonRoot === false)
    out.push('runAsNonRoot: spec.securityContext.runAsNonRoot must not be false');
  if (pod.runAsUser === 0) out.push('runAsUser: spec.securityContext.runAsUser must not be 0');

  for (const { c, at } of containers) {
    const sc = obj(c.securityContext);
    if (sc.privileged === true)
      out.push(`privileged: ${at}.securityContext.privileged must be unset or false`);
    if (obj(sc.windowsOptions).hostProcess === true)
      out.push(`hostProcess: ${at}.securityContext.windowsOptions.hostProcess must be unset or false`);
    for (const port of list(c.ports))
      if (port.hostPort !== undefined && port.hostPort !== 0)
        out.push(`hostPorts: ${at} must not use hostPort ${String(port.hostPort)}`);
    checkSeLinux(obj(sc.seLinuxOptions), `${at}.securityContext`, out);
    checkAppArmor(sc.appArmorProfile, `${at}.securityContext`, out);
    if (sc.procMount !== undefined && sc.procMount !== 'Default')
      out.push(`procMount: ${at}.securityContext.procMount must be unset or Default`);
    const caps = obj(sc.capabilities);
    const added = Array.isArray(caps.add) ? caps.add.map(String) : [];
    for (const cap of added.filter((a) => !BASELINE_CAPABILITIES.has(a)))
      out.push(`capabilities: ${at} adds ${cap}, outside the baseline set`);
    // Restricted, per container.
    if (sc.allowPrivilegeEscalation !== false)
      out.push(`allowPrivilegeEscalation: ${at}.securityContext.allowPrivilegeEscalation must be false`);
    const dropped = Array.isArray(caps.drop) ? caps.drop.map(String) : [];
    if (!dropped.includes('ALL'))
      out.push(`capabilities: ${at}.securityContext.capabilities.drop must include ALL`);
    for (const cap of added.filter((a) => a !== 'NET_BIND_SERVICE'))
      out.push(`capabilities: ${at} may add only NET_BIND_SERVICE, not ${cap}`);
    if (sc.runAsNonRoot === false)
      out.push(`runAsNonRoot: ${at}.securityContext.runAsNonRoot must not be false`);
    if (pod.runAsNonRoot !== true && sc.runAsNonRoot !== true)
      out.push(
        `runAsNonRoot: spec.securityContext.runAsNonRoot or ${at}.securityContext.runAsNonRoot must be true`,
      );
    if (sc.runAsUser === 0) out.push(`runAsUser: ${at}.securityContext.runAsUser must not be 0`);
    const seccomp = obj(sc.seccompProfile).type;
    if (seccomp !== undefined && !SECCOMP_TYPES.has(String(seccomp)))
      out.push(
        `seccompProfile: ${at}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost`,
      );
    if (podSeccomp === undefined && seccomp === undefined)
      out.push(
        `seccompProfile: spec.securityContext.seccompProfile or ${at}.securityContext.seccompProfile must be set`,
      );
  }
  return out;
}

function checkSeLinux(options: Json, at: string, out: string[]): void {
  if (options.type !== undefined && !SELINUX_TYPES.has(String(options.type)))
    out.push(`seLinuxOptions: ${at}.seLinuxOptions.type ${String(options.type)} is not allowed`);
  for (const key of ['user', 'role'])
    if (options[key] !== undefined && options[key] !== '')
      out.push(`seLinuxOptions: ${at}.seLinuxOptions.${key} must be unset`);
}

function checkAppArmor(profile: unknown, at: string, out: string[]): void {
  const type = obj(profile).type;
  if (type !== undefined && !APPARMOR_TYPES.has(String(type)))
    out.push(`appArmorProfile: ${at}.appArmorProfile.type must be RuntimeDefault or Localhost`);
}

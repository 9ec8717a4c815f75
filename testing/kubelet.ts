/**
 * The test plays the kubelet for one pod of a StatefulSet the operator wrote: it materialises the
 * pod template's volumes as local folders (a claim's folder outlives the pod, as a PVC does; a
 * ConfigMap or Secret becomes one file per key; an emptyDir a fresh folder), rewrites every mount
 * path in the container's args and env to its folder, and starts the container's `nexus` command
 * as a real process. Nothing here decides what the pod is: that is all the operator's.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNexusProcess, type NexusProcess } from './agent-process.js';

type Json = Record<string, unknown>;
type ObjectLookup = (name: string) => Json | undefined;

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  configMap?: { name: string };
  secret?: { secretName: string };
  emptyDir?: Json;
}

export interface Kubelet {
  /** Starts the pod of `statefulSet`; the objects its volumes name are read from the lookups. */
  startPod(
    statefulSet: Json,
    lookups: { configMap: ObjectLookup; secret: ObjectLookup },
    /** What the node adds on top of the pod's env (a test gives METRICS_PORT=0: pods share a host here). */
    nodeEnv?: Record<string, string>,
  ): Promise<NexusProcess>;
  /** The local folder behind a PVC, to look at what the runtime wrote into its home. */
  claimFolder(claimName: string): string;
  cleanup(): Promise<void>;
}

export async function createKubelet(): Promise<Kubelet> {
  const root = await mkdtemp(path.join(tmpdir(), 'nexus-kubelet-'));
  let pods = 0;
  const claimFolder = (claim: string) => path.join(root, 'claims', claim);

  async function materialise(
    volume: Volume,
    podDir: string,
    lookups: { configMap: ObjectLookup; secret: ObjectLookup },
  ) {
    if (volume.persistentVolumeClaim) return claimFolder(volume.persistentVolumeClaim.claimName);
    const dir = path.join(podDir, volume.name);
    await mkdir(dir, { recursive: true });
    if (volume.configMap) {
      const configMap = lookups.configMap(volume.configMap.name);
      if (!configMap) throw new Error(`ConfigMap ${volume.configMap.name} is missing: the pod cannot start`);
      for (const [key, value] of Object.entries((configMap.data ?? {}) as Record<string, string>))
        await writeFile(path.join(dir, key), value);
    }
    if (volume.secret) {
      const secret = lookups.secret(volume.secret.secretName);
      if (!secret) throw new Error(`Secret ${volume.secret.secretName} is missing: the pod cannot start`);
      for (const [key, value] of Object.entries((secret.data ?? {}) as Record<string, string>))
        await writeFile(path.join(dir, key), Buffer.from(value, 'base64'));
      for (const [key, value] of Object.entries((secret.stringData ?? {}) as Record<string, string>))
        await writeFile(path.join(dir, key), value);
    }
    return dir;
  }

  return {
    claimFolder,
    async startPod(statefulSet, lookups, nodeEnv = {}) {
      const template = (statefulSet.spec as Json).template as Json;
      const podSpec = template.spec as { containers: Container[]; volumes?: Volume[] };
      const container = podSpec.containers[0]!;
      const podDir = path.join(root, 'pods', String(pods++));
      const folders = new Map<string, string>();
      for (const volume of podSpec.volumes ?? [])
        folders.set(volume.name, await materialise(volume, podDir, lookups));
      for (const folder of folders.values()) await mkdir(folder, { recursive: true });
      // Longest mount path first, so /nexus/token/token maps inside /nexus/token, not /nexus.
      const mounts = (container.volumeMounts ?? [])
        .map((m) => ({ mountPath: m.mountPath, folder: folders.get(m.name)! }))
        .sort((a, b) => b.mountPath.length - a.mountPath.length);
      const local = (value: string) => {
        const mount = mounts.find((m) => value === m.mountPath || value.startsWith(`${m.mountPath}/`));
        return mount ? mount.folder + value.slice(mount.mountPath.length) : value;
      };
      const argv = [...(container.command ?? []), ...(container.args ?? [])];
      // The runtime image's entrypoint is `nexus`: drop it, startNexusProcess runs ours.
      if (argv[0] === 'nexus') argv.shift();
      const env = {
        ...Object.fromEntries((container.env ?? []).map((e) => [e.name, local(e.value ?? '')])),
        ...nodeEnv,
      };
      return startNexusProcess(argv.map(local), { url: env.NEXUS_URL ?? '', token: '', env });
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

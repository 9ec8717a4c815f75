/**
 * QUALITY fault 14 (SPEC section 11, B.62, B.63): an Aspect deleted while the broker is down. The
 * finalizer holds (the Aspect stays, with its deletionTimestamp; its Ready condition and a Warning
 * Event say it waits for the broker) until a broker is back on the same database, then the token is
 * revoked, the aspect deregistered and the Aspect released, its home kept (retainOnDelete defaults
 * to true). Real broker processes (stopped, then started again on the same port), real Postgres,
 * a real `nexus operator` process; the Kubernetes API is the double.
 */
import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../client/index.js';
import { aspectManifest } from '../testing/aspect-crd.js';
import { registerBody } from '../testing/aspects.js';
import type { Obj } from '../testing/kube-double/index.js';
import {
  conditionOf,
  eventsAbout,
  secretToken,
  tokensFor,
  useOperatorWorld,
  waitConverged,
} from '../testing/operator-e2e.js';

const NS = 'faults';
const TIMEOUT_MS = 120_000;

describe('fault 14: an Aspect deleted while the broker is down', () => {
  const world = useOperatorWorld('operator_fault14', { timeoutMs: TIMEOUT_MS });

  it(
    'holds the finalizer until the broker is back, then revokes the token, deregisters and releases',
    async () => {
      const { double } = world;
      const name = 'stranded';
      const ref = { kind: 'Aspect', namespace: NS, name };
      double.put(aspectManifest(NS, name));
      const { tokenId } = await waitConverged(world, NS, name);
      // The pod registers with the token from its Secret (played here: pods do not run against the
      // double), so deregistering is a change to see.
      const pod = new BrokerClient({
        url: world.broker.url,
        token: secretToken(world, NS, name) as string,
      });
      await pod.post('/v1/aspects/register', registerBody(name, randomUUID()));
      await world.admin.get(`/v1/aspects/${name}`);

      await world.stopBroker();
      double.delete(ref);
      const heldEvent = () => eventsAbout(double, NS, name).find((e) => e.reason === 'FinalizerHeld');
      // Held through at least one retry with backoff, not just the first pass.
      await double.waitFor(() => ((heldEvent()?.count as number | undefined) ?? 0) >= 2, {
        timeoutMs: 30_000,
        what: 'the FinalizerHeld Event repeated',
      });
      const held = double.get(ref);
      expect(held.metadata.deletionTimestamp).toBeDefined();
      expect(held.metadata.finalizers).toContain('nexus.dev/finalizer');
      const ready = conditionOf(held, 'Ready');
      expect({ status: ready?.status, reason: ready?.reason }).toEqual({
        status: 'False',
        reason: 'Deleting',
      });
      expect(ready?.message).toContain('waiting for the broker');
      expect(heldEvent()?.type).toBe('Warning');

      await world.restartBroker();
      await double.waitFor(() => !double.find(ref), {
        timeoutMs: 60_000,
        what: 'the Aspect released and gone',
      });

      const tokens = await tokensFor(world.admin, name);
      expect(tokens.map((t) => t.id)).toContain(tokenId);
      expect(tokens.filter((t) => !t.revoked_at)).toEqual([]);
      // Deregistered: the roster says down, and the audit log has the operator's deregister.
      const entry = await world.admin.get<{ status: string }>(`/v1/aspects/${name}`);
      expect(entry.status).toBe('down');
      const { entries } = await world.admin.get<{ entries: unknown[] }>('/v1/audit?limit=1000');
      expect(
        entries.map((e) => JSON.stringify(e)).filter((e) => e.includes('aspect.deregister')),
      ).toHaveLength(1);
      // The home is kept without its owner reference; what the Aspect owned went with it.
      const home = double.find({ kind: 'PersistentVolumeClaim', namespace: NS, name: `${name}-home` }) as Obj;
      expect(home).toBeDefined();
      expect(home.metadata.ownerReferences ?? []).toEqual([]);
      for (const [kind, owned] of [
        ['StatefulSet', name],
        ['ConfigMap', `${name}-config`],
        ['Secret', `${name}-token`],
      ] as const)
        expect({ kind, present: Boolean(double.find({ kind, namespace: NS, name: owned })) }).toEqual({
          kind,
          present: false,
        });
    },
    TIMEOUT_MS,
  );
});

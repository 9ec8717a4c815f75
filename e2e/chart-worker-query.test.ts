/**
 * Issue 12 item 3, B.71: the query the chart's KEDA ScaledObject scales workers on is taken from
 * the rendered chart and run on a migrated database while real dispatches are queued, claimed and
 * completed through an in-process broker; it must count exactly the dispatches waiting or running
 * (what hand_dispatches.state says), so a migration that renames or reshapes the queue tables
 * fails here.
 */
import { useHandsApi } from '../broker/hands/test/hands-api.js';
import { KEDA_API, find, renderChart } from '../testing/chart.js';

describe('the workers autoscaling query (B.71)', () => {
  const api = useHandsApi('chart_worker_query', { HAND_QUEUE_LIMIT: '10', HAND_SOFT_CAP: '1' });
  let query = '';

  beforeAll(async () => {
    const objects = await renderChart({ apiVersions: [KEDA_API] });
    const scaled = find(objects, 'ScaledObject')[0] as unknown as {
      spec: { triggers: { type: string; metadata: { query: string } }[] };
    };
    const trigger = scaled.spec.triggers.find((t) => t.type === 'postgresql');
    query = trigger?.metadata.query ?? '';
    expect(query).toMatch(/^SELECT /);
  });

  const scaledOn = async () => Number(Object.values((await api.sql.query(query)).rows[0] as object)[0]);
  const byState = async () =>
    Number(
      (await api.sql.query("SELECT count(*) AS n FROM hand_dispatches WHERE state IN ('queued', 'running')"))
        .rows[0].n,
    );

  it('counts queued and running dispatches, and nothing once they are done', async () => {
    expect(await scaledOn()).toBe(0);
    const ids: string[] = [];
    for (const content of ['one', 'two', 'three']) {
      const queued = await api.dispatch(api.alice, { target: 'helper', hand: 'summarise', content });
      expect(queued.status).toBe(202);
      ids.push((queued.body as { dispatch_id: string }).dispatch_id);
    }
    expect(await scaledOn()).toBe(3);
    expect(await scaledOn()).toBe(await byState());

    // A claimed dispatch still needs its worker: it stays counted while it runs.
    const claimed = await api.claim();
    expect(claimed.status).toBe(200);
    const d = claimed.body.dispatch;
    expect(await scaledOn()).toBe(3);
    expect(await scaledOn()).toBe(await byState());

    await api.worker.post(`/v1/workers/dispatches/${d.id}/complete`, {
      worker_id: 'w1',
      attempt: d.attempt,
      status: 'ok',
      summary: 'done',
    });
    expect(await scaledOn()).toBe(2);
    expect(await scaledOn()).toBe(await byState());
  });
});

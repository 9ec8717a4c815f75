import { jsonPatch, mergePatch, strategicMerge } from './patch.js';
import { jsonPath } from './jsonpath.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { humanDuration } from './table.js';
import type { Obj } from './types.js';

describe('patch formats', () => {
  it('merge patch follows RFC 7386: null deletes, lists replace', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null, e: 4 }, l: [3] })).toEqual({
      a: 1,
      b: { d: 3, e: 4 },
      l: [3],
    });
  });

  it('JSON patch follows RFC 6902: add, remove, replace, move, copy, test, escaped pointers', () => {
    const doc = { metadata: { labels: { 'a/b': 'x' } }, list: [1, 2] };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'replace', path: '/metadata/labels/a~1b', value: 'y' },
      { op: 'copy', from: '/list/0', path: '/first' },
      { op: 'move', from: '/first', path: '/moved' },
      { op: 'remove', path: '/list/1' },
      { op: 'test', path: '/moved', value: 1 },
    ]);
    expect(out).toEqual({ metadata: { labels: { 'a/b': 'y' } }, list: [1, 3], moved: 1 });
    expect(doc.list).toEqual([1, 2]);
    expect(() => jsonPatch(doc, [{ op: 'test', path: '/list/0', value: 9 }])).toThrow(/test failed/);
  });

  it('strategic merge (approximate) merges named lists by key and honours $patch directives', () => {
    const pod = {
      spec: {
        containers: [
          { name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }] },
          { name: 'b', image: 'b:1' },
        ],
        args: ['x'],
      },
      metadata: { finalizers: ['f1'] },
    };
    const out = strategicMerge(pod, {
      spec: {
        $setElementOrder: { containers: [{ name: 'a' }] },
        containers: [
          { name: 'a', env: [{ name: 'Y', value: '2' }] },
          { name: 'b', $patch: 'delete' },
        ],
        args: ['y'],
      },
      metadata: { finalizers: ['f2'] },
    });
    expect(out).toEqual({
      spec: {
        containers: [
          {
            name: 'a',
            image: 'a:1',
            env: [
              { name: 'X', value: '1' },
              { name: 'Y', value: '2' },
            ],
          },
        ],
        args: ['y'],
      },
      metadata: { finalizers: ['f1', 'f2'] },
    });
  });
});

describe('selectors, JSONPath and ages', () => {
  const o = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'n', labels: { app: 'x', tier: 'web' } },
    status: { phase: 'Running' },
  } as Obj;

  it('label selectors: equality, sets, existence', () => {
    expect(labelSelector('app=x,tier in (web,db),!gone,tier')(o)).toBe(true);
    expect(labelSelector('app!=x')(o)).toBe(false);
    expect(labelSelector('tier notin (web)')(o)).toBe(false);
  });

  it('field selectors over dotted paths', () => {
    expect(fieldSelector('metadata.name=p,metadata.namespace=n,status.phase=Running')(o)).toBe(true);
    expect(fieldSelector('metadata.name!=p')(o)).toBe(false);
  });

  it('JSONPath with filters, as printer columns use them', () => {
    const aspect = {
      status: {
        conditions: [
          { type: 'Registered', status: 'True' },
          { type: 'Ready', status: 'False', reason: 'PodNotReady' },
        ],
      },
    };
    expect(jsonPath(aspect, '.status.conditions[?(@.type=="Ready")].reason')).toEqual(['PodNotReady']);
    expect(jsonPath(aspect, '{.status.conditions[*].type}')).toEqual(['Registered', 'Ready']);
    expect(jsonPath(aspect, '.status.conditions[0].status')).toEqual(['True']);
    expect(jsonPath(aspect, '.spec.missing')).toEqual([]);
  });

  it('ages print like kubectl', () => {
    expect([5e3, 150e3, 3600e3, 3 * 86400e3].map(humanDuration)).toEqual(['5s', '2m30s', '60m', '3d']);
  });
});

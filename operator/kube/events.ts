/**
 * Kubernetes Events about Aspects (SPEC section 11: errors are recorded as Events), as core/v1
 * Events, which `kubectl describe asp` shows. A repeat of the same (object, type, reason, message)
 * bumps the count and lastTimestamp of the Event already written instead of writing a new one, as
 * client-go's recorder does; an Event that expired meanwhile (404) is written anew.
 *
 * Events go through their own client and token bucket: they are not part of the write budget
 * (B.64) and must not slow the writes that are. When the bucket is empty an Event is dropped, not
 * queued (as client-go's recorder does), so a storm of Events never holds a reconcile. Recording
 * never fails a reconcile: a refused Event is logged.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../platform/index.js';
import type { AspectObject, KubeObject } from '../types.js';
import { MERGE_PATCH, type KubeClient } from './client.js';
import { isNotFound } from './errors.js';
import type { TokenBucket } from './rate-limiter.js';
import { collectionPath, objectPath } from './resources.js';

export const EVENT_SOURCE = 'nexus-operator';
/** Remembered series; the oldest is forgotten first (its next repeat starts a new Event). */
const MAX_SERIES = 4096;
/** events.k8s.io's limit on `note`; core/v1 takes more, but nothing longer is useful. */
const MAX_MESSAGE = 1024;

interface Series {
  name: string;
  namespace: string;
  count: number;
}

export class EventRecorder {
  private readonly series = new Map<string, Series>();

  constructor(
    private readonly kube: KubeClient,
    private readonly options: {
      instance: string;
      logger: Logger;
      now?: () => Date;
      /** Events beyond it are dropped; none when absent. */
      limiter?: TokenBucket;
      onDropped?: () => void;
    },
  ) {}

  async record(
    about: AspectObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = about.metadata.namespace ?? 'default';
    const note = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
    const key = JSON.stringify([namespace, about.metadata.name, about.metadata.uid, type, reason, note]);
    const now = (this.options.now?.() ?? new Date()).toISOString();
    if (this.options.limiter && !this.options.limiter.tryTake()) {
      this.options.onDropped?.();
      this.options.logger.debug({ aspect: `${namespace}/${about.metadata.name}`, reason }, 'Event dropped');
      return;
    }
    try {
      const known = this.series.get(key);
      if (known) {
        try {
          await this.kube.request('patch', objectPath(eventRef(known)), {
            body: { count: known.count + 1, lastTimestamp: now },
            contentType: MERGE_PATCH,
          });
          known.count++;
          this.remember(key, known); // most recently used
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          this.series.delete(key);
        }
      }
      const name = `${about.metadata.name}.${randomBytes(8).toString('hex')}`;
      await this.kube.request('create', collectionPath('v1', 'Event', namespace), {
        body: this.event(about, { name, namespace, type, reason, note, now }),
      });
      this.remember(key, { name, namespace, count: 1 });
    } catch (err) {
      this.options.logger.warn(
        { aspect: `${namespace}/${about.metadata.name}`, reason, err: String(err) },
        'could not record a Kubernetes Event',
      );
    }
  }

  private remember(key: string, series: Series): void {
    this.series.delete(key);
    this.series.set(key, series);
    if (this.series.size > MAX_SERIES) this.series.delete(this.series.keys().next().value as string);
  }

  private event(
    about: AspectObject,
    e: { name: string; namespace: string; type: string; reason: string; note: string; now: string },
  ): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: e.name, namespace: e.namespace },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: about.metadata.name,
        namespace: e.namespace,
        ...(about.metadata.uid ? { uid: about.metadata.uid } : {}),
        ...(about.metadata.resourceVersion ? { resourceVersion: about.metadata.resourceVersion } : {}),
      },
      type: e.type,
      reason: e.reason,
      message: e.note,
      source: { component: EVENT_SOURCE },
      reportingComponent: EVENT_SOURCE,
      reportingInstance: this.options.instance,
      firstTimestamp: e.now,
      lastTimestamp: e.now,
      count: 1,
    };
  }
}

const eventRef = (s: Series) => ({ apiVersion: 'v1', kind: 'Event', namespace: s.namespace, name: s.name });

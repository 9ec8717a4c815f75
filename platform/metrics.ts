import { Registry, collectDefaultMetrics } from 'prom-client';

/** One prom-client registry per process, created by the composition root (no global default). */
export function createMetricsRegistry(options: { prefix?: string; defaults?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaults !== false)
    collectDefaultMetrics({ register: registry, prefix: options.prefix ?? 'nexus_process_' });
  return registry;
}

export { Registry };

import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { WireError } from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { DatabaseHealth } from '../db/health.js';
import type { BrokerMetrics } from '../observability/broker-metrics.js';
import { errorHandler } from './errors.js';

export interface AppDeps {
  logger: Logger;
  health: DatabaseHealth;
  registry: Registry;
  metrics: BrokerMetrics;
  bodyLimitBytes: number;
  /** The authentication middleware for `/v1`. */
  authenticate: (req: Request, res: Response, next: NextFunction) => Promise<void>;
  /** Area routers, mounted after authentication. */
  routers: express.Router[];
}

/** The broker's HTTP app: health and metrics in the open, everything under `/v1` authenticated. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // An ETag is a hash of the body: on a credential fetch it would be a fingerprint of the secret.
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      deps.metrics.httpRequests.inc({ route, status: `${Math.floor(res.statusCode / 100)}xx` });
      deps.metrics.httpSeconds.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const state = deps.health.current;
    if (!state.reachable) res.status(503).json({ status: 'unready', reason: state.reason });
    else if (state.problem) res.status(503).json({ status: 'unready', reason: state.problem });
    else res.json({ status: 'ready', schema_version: state.schemaVersion });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.registry.contentType);
    res.send(await deps.registry.metrics());
  });

  app.use('/v1', express.raw({ type: () => true, limit: deps.bodyLimitBytes }));
  app.use('/v1', deps.authenticate);
  for (const router of deps.routers) app.use(router);
  app.use('/v1', () => {
    throw new WireError('not_found', 'no such route');
  });
  app.use(errorHandler(deps.logger));
  return app;
}

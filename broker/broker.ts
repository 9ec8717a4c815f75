/**
 * The broker's composition root: builds the pool, logger, metrics and services, wires them into
 * one HTTP + WebSocket server, and starts the background loops. Nothing here runs at import.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import pg from 'pg';
import { CloseCode, WireError } from '../protocol/index.js';
import { createMetricsRegistry, type Logger } from '../platform/index.js';
import type { BrokerConfig } from './config.js';
import { createPool } from './db/pool.js';
import { codeSchemaVersion, ensureDatabase, migrate } from './db/migrate.js';
import { DatabaseHealth } from './db/health.js';
import { Listener } from './db/listener.js';
import { Notifier, parseHint } from './db/notifier.js';
import { Authenticator } from './auth/authenticator.js';
import { RateLimiter } from './auth/rate-limiter.js';
import { AuditLog } from './audit/audit-log.js';
import { MessageService } from './bus/send.js';
import { busRoutes } from './bus/routes.js';
import { RegistrationService } from './roster/registration.js';
import { rosterRoutes } from './roster/routes.js';
import { TokenService, REVOKE_CHANNEL } from './admin/token-service.js';
import { adminRoutes } from './admin/routes.js';
import { CredentialService } from './credentials/credential-service.js';
import { credentialRoutes } from './credentials/routes.js';
import { KnowledgeService } from './knowledge/knowledge-service.js';
import { knowledgeRoutes } from './knowledge/routes.js';
import { EventService } from './events/event-service.js';
import { CONTROL_CHANNEL, ControlService } from './control/control-service.js';
import { controlRoutes } from './control/routes.js';
import { HANDS_CHANNEL, HandService } from './hands/hand-service.js';
import { handRoutes } from './hands/routes.js';
import { handDuties } from './hands/hand-duties.js';
import { SocketHub, EVENT_CHANNEL, MESSAGE_CHANNEL, SOCKET_CHANNEL } from './ws/hub.js';
import { DutyRunner } from './duties/duty-runner.js';
import { foundationDuties } from './duties/broker-duties.js';
import { createBrokerMetrics } from './observability/broker-metrics.js';
import { AlarmService } from './alarms/alarm-service.js';
import { alarmRoutes } from './alarms/routes.js';
import { alarmDuty } from './alarms/alarm-duty.js';
import { expectedRosterDuty } from './roster/expected-roster.js';
import { expectedRosterRoutes } from './roster/expected-roster-routes.js';
import { createApp } from './http/app.js';
import { authenticate, bearerToken } from './http/authenticate.js';

export interface RunningBroker {
  url: string;
  port: number;
  replicaId: string;
  stop(): Promise<void>;
}

/** Starts a broker; resolves once it listens (the database may still be down: it keeps retrying). */
export async function startBroker(config: BrokerConfig, logger: Logger): Promise<RunningBroker> {
  const replicaId = randomUUID().slice(0, 8);
  const registry = createMetricsRegistry();
  const metrics = createBrokerMetrics(registry);
  const pool = createPool({
    url: config.databaseUrl,
    max: config.poolMax,
    logger,
    applicationName: `nexus-broker:${replicaId}`,
  });
  const health = new DatabaseHealth(pool, await codeSchemaVersion(), logger, {
    databaseUrl: config.databaseUrl,
  });
  const notifier = new Notifier(pool, logger);
  const listener = new Listener(config.databaseUrl, logger);
  const audit = new AuditLog(pool, logger);
  const authenticator = new Authenticator(pool, logger, {
    pollMs: config.revokePollMs,
    freshMs: Math.max(750, config.revokePollMs * 3),
  });
  const events = new EventService(pool, notifier, audit);
  const wsRate = new RateLimiter(config.rateWs.rate, config.rateWs.burst, config.rateLimits);

  // The hub and the message service need each other: the service announces, the hub delivers.
  const announcer = {
    announce: (m: { id: string; threadId: string; recipients: string[] }) => hub.announce(m),
  };
  const messages = new MessageService(pool, announcer, audit, metrics, config.threadTurnLimit);
  const control = new ControlService(pool, notifier, audit, (ids) => void hub.forwardControl(ids), messages);
  const hub: SocketHub = new SocketHub(
    {
      db: pool,
      logger,
      metrics,
      config,
      authenticator,
      audit,
      messages,
      events,
      control,
      wsRate,
      remoteAddress: (ws: WebSocket) => socketAddresses.get(ws) ?? 'unknown',
    },
    notifier,
  );
  const socketAddresses = new WeakMap<WebSocket, string>();
  const registration = new RegistrationService(pool, hub, audit, config);
  const tokens = new TokenService(pool, notifier, authenticator, audit, logger);
  const hands = new HandService({
    db: pool,
    announcer,
    notifier,
    audit,
    metrics,
    events,
    logger,
    settings: config.hands,
  });
  const credentials = new CredentialService({
    db: pool,
    audit,
    logger,
    key: config.secretKey,
    heldDispatchTarget: (lease) => hands.workers.heldDispatchTarget(lease),
  });
  const knowledge = new KnowledgeService({
    db: pool,
    audit,
    logger,
    embeddingDim: config.embeddingDim,
    heldDispatchTarget: (lease) => hands.workers.heldDispatchTarget(lease),
  });
  const duties = [
    ...foundationDuties({
      staleS: config.staleS,
      metrics,
      eventRetentionS: Number(process.env.NEXUS_EVENT_RETENTION_S ?? 86_400),
    }),
    ...handDuties({ hands, notifier, metrics, graceS: config.hands.deadlineGraceS }),
    alarmDuty({ announcer, metrics, logger }),
    expectedRosterDuty({
      staleS: config.staleS,
      announcer,
      eventsStored: (ids) => notifier.notify(EVENT_CHANNEL, { ids }),
    }),
  ];
  const dutyRunner = new DutyRunner(config.databaseUrl, replicaId, duties, logger, metrics);

  const app = createApp({
    logger,
    health,
    registry,
    metrics,
    bodyLimitBytes: config.bodyLimitBytes,
    authenticate: authenticate({
      authenticator,
      health,
      audit,
      httpRate: new RateLimiter(config.rateHttp.rate, config.rateHttp.burst, config.rateLimits),
      unknownRate: new RateLimiter(20, 20, config.rateLimits),
    }),
    routers: [
      rosterRoutes({ db: pool, registration }),
      busRoutes({ db: pool, messages, audit }),
      adminRoutes({
        db: pool,
        tokens,
        audit,
        duties,
        stayDown: (name) => hub.stayDown(name),
        deregistered: (name) => hub.deregistered(name),
        abortQueuedDispatches: (name) => hands.abortQueuedFor(name),
      }),
      handRoutes({ hands, audit }),
      controlRoutes({ control, audit }),
      credentialRoutes({ credentials, audit }),
      alarmRoutes({ alarms: new AlarmService(pool, audit), minEveryS: config.alarmMinEveryS }),
      expectedRosterRoutes({ db: pool, audit }),
      knowledgeRoutes({ knowledge }),
    ],
  });

  listener.on(MESSAGE_CHANNEL, (payload) => hub.onMessageHint(parseHint(payload)));
  listener.on(SOCKET_CHANNEL, (payload) => hub.onSocketHint(parseHint(payload)));
  listener.on(EVENT_CHANNEL, (payload) => void hub.onEventHint(parseHint(payload)));
  listener.on(CONTROL_CHANNEL, (payload) => hub.onControlHint(parseHint(payload)));
  listener.on(REVOKE_CHANNEL, (payload) => {
    for (const id of parseHint(payload).tokens ?? []) authenticator.markRevoked(id);
  });
  listener.on(HANDS_CHANNEL, () => hands.onHint());
  listener.onReconnect = () => {
    void hub.poll();
    void hub.checkRights();
    hands.onHint();
  };
  authenticator.onRevoked((tokenId) => hub.closeForToken(tokenId));
  health.onChange((reachable) => {
    if (!reachable) hub.closeAll(CloseCode.databaseDown, 'database unreachable');
  });

  const server = http.createServer(app);
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/v1/connect') return refuse(404, 'Not Found');
    if (!health.current.reachable) return refuse(503, 'Service Unavailable');
    const token = bearerToken(req.headers.authorization);
    const upgrade = (principal: Awaited<ReturnType<Authenticator['authenticate']>> | null) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        socketAddresses.set(ws, req.socket.remoteAddress ?? 'unknown');
        hub.accept(ws, principal, token);
      });
    if (token === null) return upgrade(null);
    authenticator.authenticate(token).then(upgrade, (err: unknown) => {
      if (err instanceof WireError && err.code === 'unavailable') return refuse(503, 'Service Unavailable');
      audit.unknownToken(req.socket.remoteAddress ?? 'unknown');
      refuse(401, 'Unauthorized');
    });
  });

  await prepareDatabase(config, logger, pool, tokens);
  // Checked once before listening: until the first check, every request would read "unavailable".
  await health.check();
  health.start();
  listener.start();
  authenticator.start();
  hub.start();
  await hands.start();
  if (health.current.reachable) await knowledge.detectVectorExtension();
  dutyRunner.start();

  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ replicaId }, `listening on ${url}`);

  return {
    url,
    port,
    replicaId,
    async stop() {
      hub.stop();
      hands.stop();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      health.stop();
      authenticator.stop();
      await dutyRunner.stop();
      await listener.stop();
      await pool.end();
    },
  };
}

/**
 * Migrations (when asked) and the bootstrap token. With the database down this retries in the
 * background instead of failing start-up: the broker stays up, `/readyz` says why (B.39).
 */
async function prepareDatabase(
  config: BrokerConfig,
  logger: Logger,
  pool: pg.Pool,
  tokens: TokenService,
): Promise<void> {
  const attempt = async (): Promise<void> => {
    if (config.migrate) {
      await ensureDatabase(config.databaseUrl);
      const client = await pool.connect();
      let broken = false;
      const onError = () => (broken = true); // a terminated backend: the migration's query fails too
      client.on('error', onError);
      try {
        const result = await migrate(client);
        if (result.applied.length > 0) logger.info({ applied: result.applied }, 'migrations applied');
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
    if (config.bootstrapToken) await tokens.ensureBootstrap(config.bootstrapToken);
  };
  const loop = async (n: number): Promise<void> => {
    try {
      await attempt();
    } catch (err) {
      if (n === 0) logger.warn({ err }, 'database preparation failed; retrying in the background');
      setTimeout(() => void loop(n + 1), Math.min(5000, 250 * 2 ** n)).unref();
    }
  };
  try {
    await attempt();
  } catch (err) {
    logger.warn({ err }, 'database preparation failed; retrying in the background');
    setTimeout(() => void loop(1), 500).unref();
  }
}

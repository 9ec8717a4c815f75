/**
 * Baseline servers, each run in its own process like the broker (`node --import tsx
 * bench/lib/baseline-server.ts MODE`), listening on 127.0.0.1 and printing `listening PORT`:
 *
 *   broadcast  a bare `ws` server: a `send` frame is answered `sent` and its message is broadcast,
 *              serialised once, to every other socket that said hello (the fan-out baseline);
 *   resume     a bare `ws` server: on hello, one raw `SELECT … WHERE id > $1` and one `ws.send` per
 *              row (the resume baseline);
 *   roster     a plain express handler running the roster SELECT with pg, no auth (http-auth).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

interface ClientFrame {
  type: string;
  ref?: string;
  resume_after?: string;
  message?: { content?: string };
}

const WELCOME = JSON.stringify({
  type: 'welcome',
  identity: { kind: 'aspect', name: 'baseline', admin: false },
  heartbeat_interval_s: 10,
  server_time: new Date().toISOString(),
});

function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  return url;
}

function broadcastServer(server: http.Server): void {
  const wss = new WebSocketServer({ server, path: '/v1/connect' });
  const sinks = new Set<WebSocket>();
  let nextId = 0;
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ClientFrame;
      if (frame.type === 'hello') {
        sinks.add(ws);
        ws.send(WELCOME);
      } else if (frame.type === 'send') {
        const id = String(++nextId);
        const created = new Date().toISOString();
        ws.send(JSON.stringify({ type: 'sent', ref: frame.ref, id, thread_id: '1', created_at: created }));
        const text = JSON.stringify({
          type: 'message',
          message: {
            id,
            thread_id: '1',
            from: 'sender',
            to: [],
            kind: 'chat',
            content: frame.message?.content ?? '',
            created_at: created,
          },
        });
        for (const sink of sinks) if (sink !== ws) sink.send(text);
      }
    });
    ws.on('close', () => sinks.delete(ws));
  });
}

interface MessageRow {
  id: string;
  thread_id: string;
  sender: string;
  to_list: string[];
  kind: string;
  content: string;
  created_at: Date;
}

function resumeServer(server: http.Server): void {
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
  const wss = new WebSocketServer({ server, path: '/v1/connect' });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ClientFrame;
      if (frame.type !== 'hello') return;
      ws.send(WELCOME);
      void pool
        .query<MessageRow>(
          `SELECT id::text AS id, thread_id::text AS thread_id, sender, to_list, kind, content, created_at
             FROM messages WHERE id > $1 ORDER BY id`,
          [frame.resume_after ?? '0'],
        )
        .then((result) => {
          for (const row of result.rows) {
            ws.send(
              JSON.stringify({
                type: 'message',
                message: {
                  id: row.id,
                  thread_id: row.thread_id,
                  from: row.sender,
                  to: row.to_list,
                  kind: row.kind,
                  content: row.content,
                  created_at: row.created_at.toISOString(),
                },
              }),
            );
          }
        });
    });
  });
}

function rosterApp(): express.Express {
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 10 });
  const app = express();
  app.get('/v1/aspects', async (_req, res) => {
    const result = await pool.query(
      `SELECT name, role, status, instance_id, config, registered_at, last_heartbeat, stats, stay_down
         FROM aspects WHERE (registered_at IS NOT NULL OR stay_down) ORDER BY name`,
    );
    res.json({ aspects: result.rows });
  });
  return app;
}

const mode = process.argv[2];
let server: http.Server;
switch (mode) {
  case 'broadcast':
    server = http.createServer();
    broadcastServer(server);
    break;
  case 'resume':
    server = http.createServer();
    resumeServer(server);
    break;
  case 'roster':
    server = http.createServer(rosterApp());
    break;
  default:
    throw new Error(`unknown mode ${mode ?? '(none)'}: broadcast, resume or roster`);
}
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => process.exit(0));

/**
 * One runtime under `nexus dev`: a child `nexus agent DATA/homes/<name> --config-from
 * AGENTS/<name>` (B.45) in its own process group, its output appended to `DATA/logs/<name>.log`
 * and read line by line for what the supervisor reports: the provider it chose (offline on the
 * scripted provider or not, B.34), its registration, its metrics URL (B.85).
 *
 * States: `starting` → `running` (registered) → `stopping` → `stopped`; from `starting` or
 * `running` an exit nobody asked for goes to `backoff` and back to `starting` (restarted after
 * 1, 2, 4 … 30 s), or to `failed` after five exits within 10 s of their start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export type ChildState = 'starting' | 'running' | 'backoff' | 'failed' | 'stopping' | 'stopped';

export interface RuntimeChildOptions {
  name: string;
  /** node, the CLI entry and its arguments. */
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** A line for the person watching (restarts, failures). */
  say: (line: string) => void;
  /** Called after each spawn (the supervisor records the pids it started). */
  onSpawn?: () => void;
}

/** What the child's log said so far. */
export interface ChildFacts {
  provider: string | null;
  offlineReason: string | null;
  registered: boolean;
  stayDown: boolean;
  metricsUrl: string | null;
  lastError: string | null;
}

const QUICK_EXIT_MS = 10_000;
const MAX_QUICK_EXITS = 5;
const STOP_GRACE_MS = 15_000;

export class RuntimeChild {
  state: ChildState = 'starting';
  facts: ChildFacts = emptyFacts();
  private child: ChildProcess | null = null;
  private log: WriteStream;
  private quickExits = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();
  private settleWaiters: (() => void)[] = [];
  /** Set after a restart: the registration that follows gets a line of its own. */
  private announceRegistration = false;
  /** Set by stop() and kill(): nothing starts this runtime again (a restart under way included). */
  private stopAsked = false;

  constructor(private readonly options: RuntimeChildOptions) {
    this.log = createWriteStream(options.logFile, { flags: 'a' });
  }

  /** Whether stop() or kill() was called: the runtime will not run again. */
  get ended(): boolean {
    return this.stopAsked;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): void {
    if (this.stopAsked) return;
    this.state = 'starting';
    this.facts = { ...emptyFacts(), lastError: this.facts.lastError };
    this.startedAt = Date.now();
    const child = spawn(this.options.command, this.options.args, {
      env: this.options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal reaches the supervisor only, which stops
      // the runtimes first and in order.
      detached: true,
    });
    this.child = child;
    this.options.onSpawn?.();
    for (const stream of [child.stdout, child.stderr]) {
      stream?.pipe(this.log, { end: false });
      if (stream) createInterface({ input: stream }).on('line', (line) => this.read(line));
    }
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.onExit(code, signal);
        resolve();
      }),
    );
  }

  /** Resolves once the runtime registered, stayed down, or failed for good. */
  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  private isSettled(): boolean {
    return (
      this.facts.registered || this.facts.stayDown || this.state === 'failed' || this.state === 'stopped'
    );
  }

  private notifySettled(): void {
    if (this.isSettled()) for (const resolve of this.settleWaiters.splice(0)) resolve();
  }

  private read(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (line.trim()) this.facts.lastError = line.trim(); // `nexus: …`, the CLI's one-line error
      return;
    }
    const msg = typeof record.msg === 'string' ? record.msg : '';
    if (msg === 'runtime started' && typeof record.provider === 'string')
      this.facts.provider = record.provider;
    const offline = /^running offline on the scripted provider: (.*)$/.exec(msg);
    if (offline) this.facts.offlineReason = offline[1] ?? '';
    if (typeof record.metricsUrl === 'string') this.facts.metricsUrl = record.metricsUrl;
    if (msg === 'registered') {
      this.facts.registered = true;
      this.state = 'running';
      this.quickExits = 0;
      if (this.announceRegistration) this.options.say(`${this.options.name}: running again`);
    }
    if (msg === 'registration failed' && String(record.err).startsWith('stay_down'))
      this.facts.stayDown = true;
    if (typeof record.level === 'number' && record.level >= 50)
      this.facts.lastError = `${msg}${record.err ? `: ${describeErr(record.err)}` : ''}`;
    this.notifySettled();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.child = null;
    if (this.state === 'stopping' || this.state === 'stopped') {
      this.state = 'stopped';
      return this.notifySettled();
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const why = this.facts.lastError ? `: ${this.facts.lastError}` : '';
    this.quickExits = Date.now() - this.startedAt < QUICK_EXIT_MS ? this.quickExits + 1 : 1;
    if (this.quickExits >= MAX_QUICK_EXITS) {
      this.state = 'failed';
      this.options.say(
        `${this.options.name}: exited (${how})${why}; not restarted after ${MAX_QUICK_EXITS} quick exits`,
      );
      return this.notifySettled();
    }
    const delayMs = Math.min(30_000, 1000 * 2 ** (this.quickExits - 1));
    this.state = 'backoff';
    this.announceRegistration = true;
    this.options.say(`${this.options.name}: exited (${how})${why}; restarting in ${delayMs / 1000} s`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state === 'backoff') this.start();
    }, delayMs);
  }

  /** SIGKILL now (a second Ctrl-C). */
  kill(): void {
    this.stopAsked = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.state = 'stopping';
    this.child?.kill('SIGKILL');
  }

  /** SIGTERM (the runtime finishes or safely abandons its turn), SIGKILL after 15 s. */
  private async terminate(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    this.state = 'stopping';
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    this.state = 'stopped';
  }

  /**
   * Stops and starts again (its configuration changed); the next registration is announced. A
   * stop that comes while the old process exits wins: nothing is started after it.
   */
  async restart(): Promise<void> {
    if (this.stopAsked) return;
    await this.terminate();
    if (this.stopAsked) return;
    this.announceRegistration = true;
    this.quickExits = 0;
    this.start();
  }

  async stop(): Promise<void> {
    this.stopAsked = true;
    await this.terminate();
    this.notifySettled();
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}

function emptyFacts(): ChildFacts {
  return {
    provider: null,
    offlineReason: null,
    registered: false,
    stayDown: false,
    metricsUrl: null,
    lastError: null,
  };
}

function describeErr(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && 'message' in err)
    return String((err as { message: unknown }).message);
  return JSON.stringify(err);
}

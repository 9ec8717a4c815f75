/**
 * Named crash points for fault tests (B.55): inert unless `NEXUS_CRASH_AT` names the point, in
 * which case the process dies on the spot with SIGKILL, as a power cut would.
 */
export type CrashPoint = 'after-user-append' | 'after-assistant-append' | 'after-tool-result' | 'before-ack';

export function crashPoints(
  env: Record<string, string | undefined> = process.env,
): (point: CrashPoint) => void {
  const armed = new Set((env.NEXUS_CRASH_AT ?? '').split(',').filter(Boolean));
  if (armed.size === 0) return () => undefined;
  return (point) => {
    if (armed.has(point)) process.kill(process.pid, 'SIGKILL');
  };
}

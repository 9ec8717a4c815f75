// Preloaded (`node --expose-gc --import THIS`) into a process whose memory a benchmark measures:
// on SIGUSR2 it runs full garbage collections and prints one JSON line on stderr, so the
// benchmark reads VmRSS right after a forced GC without changing the program under measurement.
process.on('SIGUSR2', () => {
  const gc = /** @type {undefined | (() => void)} */ (globalThis.gc);
  if (!gc) {
    process.stderr.write('{"gcSignal":"no gc: start node with --expose-gc"}\n');
    return;
  }
  gc();
  gc();
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  process.stderr.write(
    `${JSON.stringify({ gcSignal: 'done', heapUsed, heapTotal, external, arrayBuffers })}\n`,
  );
});

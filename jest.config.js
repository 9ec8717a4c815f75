/** Jest in ESM mode, as measured in TOOLCHAIN.md: ts-jest transpiles, `tsc --noEmit` type-checks. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.tsx?$': ['ts-jest', { useESM: true }] },
  testMatch: ['<rootDir>/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  globalSetup: '<rootDir>/testing/global-setup.mjs',
  testTimeout: 60000,
  maxWorkers: 2,
  // ESM test files each load their own module graph (client-node, kubernetes-models are large) and
  // a worker keeps what it loaded: without a limit one reached 4 GB and crashed in CI. A worker
  // over the limit after a file is replaced by a fresh one.
  workerIdleMemoryLimit: '1200MB',
};

// Test helpers: real Postgres databases, real broker processes, wire-speaking clients.
export {
  createTestDatabase,
  databaseUrl,
  withServerClient,
  TEST_SERVER_URL,
  type TestDatabase,
} from './postgres.js';
export {
  startBrokerProcess,
  startBrokerProcesses,
  runNexus,
  newAdminTokenValue,
  NEXUS_BIN,
  type BrokerProcess,
  type NexusRun,
} from './broker-process.js';
export { waitUntil, sleep } from './wait.js';
export {
  adminClient,
  aspectConfig,
  createAspect,
  mintAspectToken,
  registerBody,
  type TestAspect,
} from './aspects.js';
export { startInProcessBroker } from './in-process-broker.js';
export { openBackendControl, type BackendControl } from './backends.js';
export { createThrowawayPostgres, type ThrowawayPostgres } from './throwaway-postgres.js';
export { startPostgresProxy, type PostgresProxy } from './postgres-proxy.js';
export { postMessage, streamOverHttp, streamOverSocket, type SendLog, type Sender } from './senders.js';
export { rawRequest, type RawResponse } from './raw-http.js';
export { openRawSocket, type RawSocket, type ReceivedFrame } from './raw-socket.js';
export { openStateProbe, stateSnapshot, type StateSnapshot } from './state.js';
export {
  startAnthropicDouble,
  anthropicError,
  type AnthropicDouble,
  type ClaudeTurn,
} from './anthropic-double.js';
export { startOpenAIDouble, openAIError, type OpenAIDouble, type OpenAITurn } from './openai-double.js';
export { type RecordedRequest } from './http-double.js';
export { anyJson, anyText, deepArray, errorProblem, mutatedBody, weirdValue } from './fuzz.js';
export {
  startAgentProcess,
  startWorkerProcess,
  startNexusProcess,
  writeHome,
  type AgentProcess,
  type NexusProcess,
  type TestMetricsPort,
} from './agent-process.js';
export { parseMetrics, scrapeMetrics, type Scrape } from './metrics.js';
export { missingDeliveries, inIdOrder } from './delivery.js';
export { useClaudeAspect, type ClaudeAspectEnv, type ClaudeAspectOptions } from './claude-aspect.js';
export {
  startKubeDouble,
  KubeDouble,
  kubeconfigFor,
  kubeConfigFor,
  type KubeDoubleOptions,
  type KubeconfigOptions,
  type Ref,
  type ListQuery,
  type Fault,
  type FaultRule,
  type LoggedRequest,
  type RequestFilter,
  type StoreEvent,
  type Obj,
  type ResourceType,
} from './kube-double/index.js';
export {
  kubeTools,
  runKubectl,
  runHelm,
  type KubeTools,
  type ToolRun,
  type KubectlOptions,
} from './kube-tools.js';

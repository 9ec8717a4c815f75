// The typed client of the broker API, used by the CLI, the runtime, the worker and the tests.
export { BrokerClient, BrokerUnreachableError, displayUrl, type BrokerClientOptions } from './http-client.js';
export { SocketClient, type ConnectFailure, type SocketClientOptions } from './socket-client.js';

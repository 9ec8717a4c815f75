// The shared vocabulary of Nexus: every wire shape and file format, as zod schemas with inferred types.
export {
  AspectName,
  Address,
  DecimalId,
  InstanceId,
  IsoTime,
  Traceparent,
  Content,
  JsonInput,
  MAX_CONTENT_BYTES,
  OperatorAddress,
  utf8Bytes,
} from './names.js';
export { ErrorCode, ErrorBody, WireError } from './errors.js';
export { fieldIssues, firstIssueText, formatPath, parseOrThrow, type FieldIssue } from './validation.js';
export {
  AspectConfig,
  AspectConfigFields,
  HandDeclaration,
  ProviderConfig,
  addAspectConfigIssues,
  type AspectConfigInput,
} from './aspect-config.js';
export {
  AspectStatus,
  DeregisterRequest,
  HeartbeatRequest,
  IdentityDocuments,
  RegisterReply,
  RegisterRequest,
  RosterEntry,
  RosterReply,
  SessionStats,
} from './roster.js';
export {
  HistoryQuery,
  Message,
  MessageKind,
  SendReply,
  SendRequest,
  Thread,
  ThreadsQuery,
} from './messages.js';
export {
  AckFrame,
  CLIENT_FRAME_TYPES,
  ClientFrame,
  CloseCode,
  ControlFrame,
  ControlResultFrame,
  ErrorFrame,
  EventFrame,
  HelloFrame,
  Identity,
  MessageFrame,
  ObservedFrame,
  PingFrame,
  PongFrame,
  PublishFrame,
  SendFrame,
  SentFrame,
  ServerFrame,
  SubscribeFrame,
  SubscribedFrame,
  WelcomeFrame,
} from './frames.js';
export {
  AuditEntry,
  AuditQuery,
  EmptyBody,
  MintTokenReply,
  MintTokenRequest,
  ShutdownReply,
  TokenInfo,
  TokenKind,
  TokenListQuery,
} from './admin.js';
export {
  CustomSessionEntry,
  HeadFile,
  KnownSessionEntry,
  SESSION_FORMAT_VERSION,
  SessionEntry,
  SessionHeader,
  ToolCall,
  Usage,
  parseSessionEntry,
} from './session.js';

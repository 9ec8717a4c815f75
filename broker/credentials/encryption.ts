/**
 * Encrypting credential values: AES-256-GCM under the broker's 32-byte NEXUS_SECRET_KEY, a fresh
 * random 12-byte nonce per write, and the credential name as additional authenticated data, so
 * a ciphertext moved to another name fails to decrypt (ADR 0004). No I/O; the only impurity is the
 * default nonce, which tests replace.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/**
 * The broker's credential key. The bytes live in a private field, so logging, inspecting or
 * serialising the key (or a config holding it) shows nothing of them.
 */
export class SecretKey {
  readonly #bytes: Buffer;

  constructor(bytes: Buffer) {
    if (bytes.length !== KEY_BYTES) throw new RangeError(`a secret key is ${KEY_BYTES} bytes`);
    this.#bytes = Buffer.from(bytes);
  }

  /** The raw key, for the cipher only. */
  bytes(): Buffer {
    return this.#bytes;
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  toString(): string {
    return '[REDACTED]';
  }
}

const BASE64 = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL = /^[A-Za-z0-9_-]{43}=?$/;

/** Reads a key given as base64 (or base64url) of exactly 32 bytes; null when it is anything else. */
export function parseSecretKey(text: string): SecretKey | null {
  const trimmed = text.trim();
  if (!BASE64.test(trimmed) && !BASE64URL.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed, 'base64'); // Node decodes both alphabets
  return bytes.length === KEY_BYTES ? new SecretKey(bytes) : null;
}

/** An encrypted value as stored: the ciphertext with the GCM tag appended, and its nonce. */
export interface EncryptedValue {
  ciphertext: Buffer;
  nonce: Buffer;
}

/** A stored value that does not decrypt with this key under this name (wrong key, tampering, moved row). */
export class UndecryptableCredential extends Error {
  constructor(readonly credential: string) {
    super(`credential ${credential} could not be decrypted with the broker's NEXUS_SECRET_KEY`);
    this.name = 'UndecryptableCredential';
  }
}

/** Encrypts `value` for the credential `name`. */
export function encryptCredential(
  key: SecretKey,
  name: string,
  value: string,
  nonce: Buffer = randomBytes(NONCE_BYTES),
): EncryptedValue {
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`a nonce is ${NONCE_BYTES} bytes`);
  const cipher = createCipheriv(ALGORITHM, key.bytes(), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(name, 'utf8'));
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { ciphertext: Buffer.concat([body, cipher.getAuthTag()]), nonce };
}

/** Decrypts what `encryptCredential` produced for `name`; throws `UndecryptableCredential` otherwise. */
export function decryptCredential(key: SecretKey, name: string, encrypted: EncryptedValue): string {
  const { ciphertext, nonce } = encrypted;
  if (nonce.length !== NONCE_BYTES || ciphertext.length < TAG_BYTES) throw new UndecryptableCredential(name);
  const body = ciphertext.subarray(0, ciphertext.length - TAG_BYTES);
  const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv(ALGORITHM, key.bytes(), nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    // Node says only "unable to authenticate data"; the caller needs which credential, nothing more.
    throw new UndecryptableCredential(name);
  }
}

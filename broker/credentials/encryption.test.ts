import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import {
  NONCE_BYTES,
  SecretKey,
  UndecryptableCredential,
  decryptCredential,
  encryptCredential,
  parseSecretKey,
} from './encryption.js';

const newKey = () => new SecretKey(randomBytes(32));

describe('credential encryption', () => {
  it('decrypts what it encrypted, for any text including multi-byte characters', () => {
    const key = newKey();
    for (const value of ['sk-ant-api03-xyz', 'ü€𝄞 and a newline\n', 'x'.repeat(64 * 1024)]) {
      expect(decryptCredential(key, 'anthropic', encryptCredential(key, 'anthropic', value))).toBe(value);
    }
  });

  it('uses a fresh 12-byte nonce per write, so the same value never gives the same ciphertext', () => {
    const key = newKey();
    const a = encryptCredential(key, 'github', 'same value');
    const b = encryptCredential(key, 'github', 'same value');
    expect(a.nonce).toHaveLength(NONCE_BYTES);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('never carries the value in clear in the stored bytes', () => {
    const value = 'canary-ZmFrZS1zZWNyZXQ';
    const { ciphertext, nonce } = encryptCredential(newKey(), 'canary', value);
    expect(ciphertext.includes(Buffer.from(value))).toBe(false);
    expect(nonce.includes(Buffer.from(value))).toBe(false);
  });

  it('detects a flipped bit anywhere in the ciphertext, the tag or the nonce', () => {
    const key = newKey();
    const encrypted = encryptCredential(key, 'anthropic', 'secret value');
    for (const field of ['ciphertext', 'nonce'] as const) {
      for (let i = 0; i < encrypted[field].length; i++) {
        const tampered = Buffer.from(encrypted[field]);
        tampered[i] = (tampered[i] as number) ^ 0x01;
        expect(() => decryptCredential(key, 'anthropic', { ...encrypted, [field]: tampered })).toThrow(
          UndecryptableCredential,
        );
      }
    }
  });

  it('refuses a truncated ciphertext', () => {
    const key = newKey();
    const encrypted = encryptCredential(key, 'anthropic', 'secret value');
    const truncated = { ...encrypted, ciphertext: encrypted.ciphertext.subarray(0, 10) };
    expect(() => decryptCredential(key, 'anthropic', truncated)).toThrow(UndecryptableCredential);
  });

  it('refuses a ciphertext moved to another name: the name is authenticated data', () => {
    const key = newKey();
    const encrypted = encryptCredential(key, 'anthropic', 'secret value');
    expect(() => decryptCredential(key, 'openai', encrypted)).toThrow(UndecryptableCredential);
  });

  it('refuses a wrong key with an error that names the credential and not the value', () => {
    const encrypted = encryptCredential(newKey(), 'anthropic', 'secret value');
    let caught: unknown;
    try {
      decryptCredential(newKey(), 'anthropic', encrypted);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UndecryptableCredential);
    expect((caught as Error).message).toContain('anthropic');
    expect((caught as Error).message).not.toContain('secret value');
  });

  it('reads a key only as base64 or base64url of exactly 32 bytes', () => {
    const bytes = randomBytes(32);
    const base64 = bytes.toString('base64');
    const fromBase64 = parseSecretKey(base64);
    expect(fromBase64?.bytes().equals(bytes)).toBe(true);
    expect(parseSecretKey(bytes.toString('base64url'))?.bytes().equals(bytes)).toBe(true);
    expect(parseSecretKey(`${base64}\n`)?.bytes().equals(bytes)).toBe(true);
    for (const bad of [
      '',
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(16).toString('hex') + randomBytes(16).toString('hex'),
      `${base64.slice(0, 40)}!!!=`,
      'correct horse battery staple',
    ]) {
      expect(parseSecretKey(bad)).toBeNull();
    }
  });

  it('keeps the key bytes out of JSON, string conversion and inspection', () => {
    const bytes = randomBytes(32);
    const key = new SecretKey(bytes);
    const config = { secretKey: key };
    for (const text of [JSON.stringify(config), String(key), inspect(config, { depth: 5 })]) {
      expect(text).not.toContain(bytes.toString('base64'));
      expect(text).not.toContain(bytes.toString('hex'));
      expect(text).not.toContain(String(bytes[0]) + ', ' + String(bytes[1]));
    }
  });
});

// Layering is enforced here: each rule's message says where the code should go instead.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ourParts = ['protocol', 'platform', 'client', 'broker', 'runtime', 'operator', 'cli', 'testing'];
const forbidParts = (parts, why) =>
  parts.map((p) => ({ group: [`**/${p}/*`, `../${p}/*`, `../../${p}/*`], message: why }));

export default tseslint.config(
  {
    // homes/ and .nexus/ hold a user's aspect homes and nexus dev's data, not our code (issue 10).
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.nexus/**', 'homes/**', 'jest.config.js'],
  },
  js.configs.recommended,
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } },
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidParts(
            ourParts.filter((p) => p !== 'protocol'),
            'protocol/ imports nothing of ours: it is the shared vocabulary every part depends on.',
          ),
        },
      ],
    },
  },
  {
    files: ['platform/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidParts(
            ourParts.filter((p) => !['protocol', 'platform'].includes(p)),
            'platform/ may import only protocol/: put process plumbing here, domain logic in its part.',
          ),
        },
      ],
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidParts(
            ['broker', 'runtime', 'operator', 'cli', 'testing'],
            'client/ speaks the wire only: import protocol/ and platform/, never a server part.',
          ),
        },
      ],
    },
  },
  {
    files: ['broker/**/*.ts'],
    ignores: ['broker/**/*.test.ts', 'broker/**/test/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidParts(
            ['runtime', 'operator', 'cli', 'testing'],
            'broker/ meets the runtime and operator only over the wire: share shapes through protocol/.',
          ),
        },
      ],
    },
  },
  {
    files: [
      '**/*.pure.ts',
      'broker/bus/routing.ts',
      'broker/hands/fair-share.ts',
      // The operator's pure middle (issue 11): desired state, plan, status, token and grant decisions.
      'operator/{desired,diff,documents,grants,meta,plan,pod-conditions,pod-spec,quantity,status,tokens}.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['pg', 'ws', 'express', 'node:fs', 'fs', '@kubernetes/client-node', '@anthropic-ai/sdk'].map(
            (name) => ({
              name,
              message: 'Pure decision modules take data and return data: do the I/O in the caller.',
            }),
          ),
        },
      ],
    },
  },
);

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', '.cache/', 'runs/', 'bench/results/', 'test-artifacts/', '.gpu/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  // DESIGN.md: only extension/ imports vscode; only runtime/ imports webgpu.
  {
    files: ['trace/**', 'analysis/**', 'webview/**', 'runtime/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'only extension/ may import vscode' }] }],
    },
  },
  {
    files: ['trace/**', 'analysis/**', 'webview/**', 'extension/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'webgpu', message: 'only runtime/ may import webgpu' },
            { name: 'vscode', message: 'only extension/ may import vscode' },
          ],
        },
      ],
    },
  },
  {
    files: ['extension/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'webgpu', message: 'only runtime/ may import webgpu' }] }],
    },
  },
);

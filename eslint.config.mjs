// ESLint (flat config): the recommended rules of ESLint and typescript-eslint over the
// TypeScript of main/, shared/, renderer/, test/ and bench/, and the plain Node scripts.
// Not the type-checked rule sets: they build the whole TypeScript program again, which tsc
// already does in the build. No formatting rules. Run by `npm run lint` and by `npm test`
// (scripts/lint.js); the import rules between layers are test/structure/layers.test.ts's.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'release/', 'node_modules/', '.venv-torch2/', 'native/', 'resources/'] },
  {
    files: ['main/**/*.ts', 'shared/**/*.ts', 'renderer/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      // The code base marks a parameter, element or property it leaves unused with a leading
      // underscore (`_index`, `{ sessionId: _, ...file }`): the rule follows that convention.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read JSON replies and reach into the page's window (page.evaluate) untyped; typing
    // every such value would add casts, not safety.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Plain CommonJS scripts run by node itself (no build step).
    files: ['scripts/**/*.js', 'bin/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
  },
  {
    files: ['eslint.config.mjs', 'scripts/**/*.mjs'],
    extends: [js.configs.recommended],
  },
);

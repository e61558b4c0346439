import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { missingPackages, OPTIONAL_PACKAGES, requirePackages } from './optional-packages.ts';

test("every optional package has its version range in package.json's optionalPackages and is no dependency", () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, string> | undefined>;
  const names = Object.values(OPTIONAL_PACKAGES).flat();
  assert.deepEqual(Object.keys(pkg.optionalPackages ?? {}).sort(), [...names].sort());
  for (const n of names) assert.ok(!pkg.dependencies?.[n] && !pkg.devDependencies?.[n], `${n} is installed by npm install`);
});

test('a missing package is named with the command that installs it', () => {
  assert.deepEqual(missingPackages(['vite', '@idlegrad/not-a-package']), ['@idlegrad/not-a-package']);
  assert.throws(
    () => requirePackages(['@idlegrad/not-a-package'], 'the check'),
    /the check needs @idlegrad\/not-a-package.*npm install --no-save @idlegrad\/not-a-package/,
  );
  assert.doesNotThrow(() => requirePackages(['vite'], 'the check'));
});

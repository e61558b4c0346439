import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { SWIFTSHADER_ICD, useSwiftShaderWhenNoDriver } from './swiftshader.ts';

test('useSwiftShaderWhenNoDriver: a driver the caller chose wins; otherwise SwiftShader when installed', () => {
  const chosen = { VK_ICD_FILENAMES: '/opt/vendor_icd.json' };
  assert.equal(useSwiftShaderWhenNoDriver(chosen), '/opt/vendor_icd.json');
  const unset: NodeJS.ProcessEnv = {};
  const got = useSwiftShaderWhenNoDriver(unset);
  if (existsSync(SWIFTSHADER_ICD)) assert.equal(got, SWIFTSHADER_ICD);
  else assert.equal(got, undefined);
  assert.equal(unset.VK_ICD_FILENAMES, got);
});

import { describe, expect, it } from 'vitest';
import { compileParameterAllowlist } from '../../src/workflows/parameter-allowlist.js';

describe('allowedParameters', () => {
  it('allows every parameter and path when unset, and none when empty', () => {
    expect(compileParameterAllowlist(undefined).name('/any/thing')).toBe(true);
    expect(compileParameterAllowlist(undefined).path('/')).toBe(true);
    expect(compileParameterAllowlist([]).name('/any/thing')).toBe(false);
    expect(compileParameterAllowlist([]).path('/any')).toBe(false);
  });

  it('matches names with * across slashes, leaving a version or label selector out', () => {
    const allowed = compileParameterAllowlist(['/prod/db/*', 'plain']);
    expect(allowed.name('/prod/db/password')).toBe(true);
    expect(allowed.name('/prod/db/deep/er')).toBe(true);
    expect(allowed.name('/prod/db/password:3')).toBe(true);
    expect(allowed.name('/prod/dbx')).toBe(false);
    expect(allowed.name('plain')).toBe(true);
    expect(allowed.name('plain:live')).toBe(true);
    expect(allowed.name('/prod/other:3')).toBe(false);
  });

  it('matches an ARN only by a pattern written as an ARN', () => {
    const arn = 'arn:aws:ssm:us-east-1:123456789012:parameter/prod/db/password';
    expect(compileParameterAllowlist(['/prod/db/*']).name(arn)).toBe(false);
    expect(compileParameterAllowlist(['arn:aws:ssm:*:parameter/prod/db/*']).name(arn)).toBe(true);
  });

  it('lets a path be listed when a pattern reaches under it', () => {
    const allowed = compileParameterAllowlist(['/prod/db/*', '/app/config/host']);
    for (const path of ['/prod/db', '/prod/db/', '/prod', '/', '/prod/db/deep', '/app/config', '/app']) {
      expect(allowed.path(path), path).toBe(true);
    }
    for (const path of ['/prod/dbx', '/staging', '/app/config/host', '/app/other']) {
      expect(allowed.path(path), path).toBe(false);
    }
  });
});

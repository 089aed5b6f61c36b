import { describe, expect, it } from 'vitest';
import { loadConfig, parseAllowedHost, readAgentSettings } from '../../src/config/index.js';
import { writeConfigDir } from '../support/config-dir.js';
import { addressRefusal, classifyAddress, compileAllowedHosts } from '../../src/secrets/index.js';

describe('the HTTP bridge address rules', () => {
  it('refuse loopback, metadata, link-local, unspecified, multicast and reserved addresses, IPv4 and IPv6', () => {
    expect(classifyAddress('127.0.0.1')).toBe('loopback');
    expect(classifyAddress('127.255.0.9')).toBe('loopback');
    expect(classifyAddress('::1')).toBe('loopback');
    expect(classifyAddress('169.254.169.254')).toBe('metadata');
    expect(classifyAddress('fd00:ec2::254')).toBe('metadata');
    expect(classifyAddress('169.254.170.2')).toBe('metadata');
    expect(classifyAddress('169.254.1.1')).toBe('link-local');
    expect(classifyAddress('fe80::1')).toBe('link-local');
    expect(classifyAddress('0.0.0.0')).toBe('unspecified');
    expect(classifyAddress('::')).toBe('unspecified');
    expect(classifyAddress('224.0.0.1')).toBe('multicast');
    expect(classifyAddress('ff02::1')).toBe('multicast');
    expect(classifyAddress('255.255.255.255')).toBe('reserved');
    expect(classifyAddress('not-an-address')).toBe('reserved');
  });

  it('see the IPv4 address inside IPv4-mapped and NAT64 IPv6 addresses', () => {
    expect(classifyAddress('::ffff:127.0.0.1')).toBe('loopback');
    expect(classifyAddress('::ffff:7f00:1')).toBe('loopback');
    expect(classifyAddress('::ffff:169.254.169.254')).toBe('metadata');
    expect(classifyAddress('64:ff9b::a9fe:a9fe')).toBe('metadata');
    expect(classifyAddress('[::ffff:127.0.0.1]')).toBe('loopback');
    expect(classifyAddress('::127.0.0.1')).toBe('reserved');
  });

  it('let private and public addresses through (internal vaults live in private ranges)', () => {
    for (const address of ['10.0.0.5', '172.16.3.4', '192.168.1.10', '100.64.0.1', '8.8.8.8', 'fd12::5', '2001:db8::1'])
      expect(classifyAddress(address)).toBeUndefined();
    expect(addressRefusal('10.0.0.5', false, { allowLoopback: false })).toBeUndefined();
  });

  it('allow loopback only through an entry naming the IP literal, and only with the setting', () => {
    expect(addressRefusal('127.0.0.1', true, { allowLoopback: true })).toBeUndefined();
    expect(addressRefusal('127.0.0.1', true, { allowLoopback: false })).toMatch(/CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK/);
    expect(addressRefusal('127.0.0.1', false, { allowLoopback: true })).toMatch(/loopback/);
    expect(addressRefusal('169.254.169.254', true, { allowLoopback: true })).toMatch(/metadata/);
  });
});

describe('allowedHosts', () => {
  it('parses origins, with an optional "*." wildcard and the default port', () => {
    expect(parseAllowedHost('https://api.doppler.com')).toEqual({
      protocol: 'https:',
      hostname: 'api.doppler.com',
      wildcard: false,
      port: 443,
    });
    expect(parseAllowedHost('http://127.0.0.1:9999')).toMatchObject({ hostname: '127.0.0.1', port: 9999 });
    expect(parseAllowedHost('https://*.example.com')).toMatchObject({ hostname: 'example.com', wildcard: true });
    expect(parseAllowedHost('https://[::1]:8200')).toMatchObject({ hostname: '[::1]', port: 8200 });
  });

  it('refuses entries with a path, credentials, another scheme or a wildcard elsewhere', () => {
    for (const entry of [
      'https://api.doppler.com/v3',
      'https://user:pw@api.doppler.com',
      'ftp://files.example.com',
      'https://api.*.com',
      'https://*.com',
      'https://a.com?x=1',
      'api.doppler.com',
    ])
      expect(typeof parseAllowedHost(entry), entry).toBe('string');
  });

  it('match scheme, host and port exactly, as the URL parser normalises the host', () => {
    const allowed = compileAllowedHosts(['https://api.doppler.com', 'http://127.0.0.1:9999', 'https://*.example.com']);
    const check = (url: string) => allowed(new URL(url));
    expect(check('https://API.Doppler.com/v3/x')).toEqual({ allowed: true, literal: false });
    expect(check('https://api.doppler.com:443/')).toEqual({ allowed: true, literal: false });
    expect(check('http://api.doppler.com/')).toEqual({ allowed: false });
    expect(check('https://api.doppler.com:8443/')).toEqual({ allowed: false });
    expect(check('https://a.b.example.com/')).toEqual({ allowed: true, literal: false });
    expect(check('https://example.com/')).toEqual({ allowed: false });
    expect(check('https://badexample.com/')).toEqual({ allowed: false });
    expect(check('http://127.0.0.1:9999/')).toEqual({ allowed: true, literal: true });
    // Decimal, hexadecimal and octal forms are the URL parser's job: they arrive as 127.0.0.1.
    expect(check('http://2130706433:9999/')).toEqual({ allowed: true, literal: true });
    expect(check('http://0x7f.1:9999/')).toEqual({ allowed: true, literal: true });
    expect(check('http://0177.0.0.1:9999/')).toEqual({ allowed: true, literal: true });
    expect(check('http://127.0.0.1:9998/')).toEqual({ allowed: false });
  });

  it('allow nothing when unset or empty', () => {
    expect(compileAllowedHosts(undefined)(new URL('https://api.doppler.com'))).toEqual({ allowed: false });
    expect(compileAllowedHosts([])(new URL('https://api.doppler.com'))).toEqual({ allowed: false });
  });
});

describe('the HTTP bridge configuration', () => {
  it('refuses a bad allowedHosts entry when the file loads, naming the file and the entry', async () => {
    const folder = await writeConfigDir({
      workflows: {
        w: {
          name: 'w',
          allowedHosts: ['https://ok.example.com', 'https://api.doppler.com/v3'],
          steps: [{ name: 's', code: 'return 1;' }],
        },
      },
    });
    try {
      const config = await loadConfig(folder.dir, {});
      expect(config.problems).toEqual([
        'workflows/w.json: allowedHosts[1]: must be an origin (scheme, host, port) without a path, query or fragment',
      ]);
    } finally {
      await folder.remove();
    }
  });

  it('reads the CREDFLOW_HTTP_BRIDGE_* settings and refuses a bad one, naming it', () => {
    expect(
      readAgentSettings({
        CREDFLOW_HTTP_BRIDGE_MAX_BYTES: '4096',
        CREDFLOW_HTTP_BRIDGE_TIMEOUT_MS: '250',
        CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: 'true',
        CREDFLOW_HTTP_BRIDGE_CA_FILE: '/etc/credflow/internal-ca.pem',
      }).httpBridge,
    ).toStrictEqual({ maxBytes: 4096, timeoutMs: 250, allowLoopback: true, caFile: '/etc/credflow/internal-ca.pem' });
    expect(readAgentSettings({}).httpBridge.caFile).toBeUndefined();
    expect(() => readAgentSettings({ CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: 'yes' })).toThrow(
      /CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK/,
    );
  });
});

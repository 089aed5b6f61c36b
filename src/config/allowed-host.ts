/**
 * One entry of a workflow's `allowedHosts`: a scheme, a host and a port, written as an origin
 * (`https://api.doppler.com`, `https://vault.internal:8200`, `http://127.0.0.1:9999`,
 * `https://*.example.com`). The host is compared as the WHATWG URL parser normalises it (lower
 * case, punycode, IPv4 in dotted decimal), and an omitted port is the scheme's default.
 */
export interface AllowedHost {
  protocol: 'http:' | 'https:';
  /** The host as URL.hostname gives it (`[::1]` for IPv6); for a wildcard, the part after `*.`. */
  hostname: string;
  /** `*.example.com` matches every subdomain of example.com at any depth, not example.com itself. */
  wildcard: boolean;
  port: number;
}

export const defaultPorts = { 'http:': 80, 'https:': 443 } as const;

/** The entry, or a message saying what is wrong with it. */
export function parseAllowedHost(entry: string): AllowedHost | string {
  const wildcard = /^https?:\/\/\*\./i.test(entry);
  let url: URL;
  try {
    url = new URL(wildcard ? entry.replace('*.', 'wildcard.') : entry);
  } catch {
    return 'must be an origin such as https://api.example.com or http://10.0.0.5:8200';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must start with http:// or https://';
  if (url.username || url.password) return 'must not hold a user name or password';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || /[?#]|\/\/.*\/./.test(entry))
    return 'must be an origin (scheme, host, port) without a path, query or fragment';
  if (wildcard && (url.hostname.includes('*') || url.hostname.startsWith('[') || !url.hostname.includes('.', 9)))
    return 'a wildcard must be one leading "*." before a domain name with a dot, e.g. https://*.example.com';
  if (!wildcard && url.hostname.includes('*')) return 'a wildcard may only be a leading "*."';
  const protocol = url.protocol;
  return {
    protocol,
    hostname: wildcard ? url.hostname.slice('wildcard.'.length) : url.hostname,
    wildcard,
    port: url.port === '' ? defaultPorts[protocol] : Number(url.port),
  };
}

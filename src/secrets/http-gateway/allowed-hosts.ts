import { defaultPorts, parseAllowedHost, type AllowedHost } from '../../config/index.js';

/** Whether a URL may be fetched, and whether the entry that allowed it names its host as an IP literal. */
export type HostMatch = { allowed: false } | { allowed: true; literal: boolean };

/** Matches URLs against a workflow's allowedHosts; without entries (unset or empty) nothing is allowed. */
export type HostAllowlist = (url: URL) => HostMatch;

export function compileAllowedHosts(entries: readonly string[] | undefined): HostAllowlist {
  const hosts = (entries ?? []).map(parseAllowedHost).filter((h): h is AllowedHost => typeof h !== 'string');
  return (url) => {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { allowed: false };
    const port = url.port === '' ? defaultPorts[url.protocol] : Number(url.port);
    const hostname = url.hostname;
    for (const host of hosts) {
      if (host.protocol !== url.protocol || host.port !== port) continue;
      if (host.wildcard ? hostname.endsWith(`.${host.hostname}`) : hostname === host.hostname) {
        const literal = !host.wildcard && (hostname.startsWith('[') || /^[0-9.]+$/.test(hostname));
        return { allowed: true, literal };
      }
    }
    return { allowed: false };
  };
}

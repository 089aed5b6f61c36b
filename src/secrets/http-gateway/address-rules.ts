import { BlockList, isIP } from 'node:net';

/**
 * Why the HTTP bridge never connects to some addresses, whatever a workflow lists: a step that may
 * reach the agent's own machine, the cloud's instance metadata or the local link could read the
 * agent's credentials (IMDS hands out the instance role's keys) or talk to services that trust
 * localhost. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are where internal vaults live:
 * they are reachable when listed in allowedHosts.
 */
export type AddressClass = 'loopback' | 'metadata' | 'link-local' | 'unspecified' | 'multicast' | 'reserved';

const rules: [AddressClass, BlockList][] = [];
const rule = (kind: AddressClass, ranges: [string, number, 'ipv4' | 'ipv6'][]): void => {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  rules.push([kind, list]);
};
// Metadata first: 169.254.169.254 is link-local too, and its own name says more.
rule('metadata', [
  ['169.254.169.254', 32, 'ipv4'], // AWS, GCP, Azure, OpenStack
  ['169.254.170.2', 32, 'ipv4'], // ECS task credentials
  ['100.100.100.200', 32, 'ipv4'], // Alibaba Cloud
  ['fd00:ec2::254', 128, 'ipv6'], // AWS (IPv6)
]);
rule('loopback', [
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);
rule('unspecified', [
  ['0.0.0.0', 8, 'ipv4'], // "this network": 0.0.0.0 reaches the local host on Linux
  ['::', 128, 'ipv6'],
]);
rule('link-local', [
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
rule('multicast', [
  ['224.0.0.0', 4, 'ipv4'],
  ['ff00::', 8, 'ipv6'],
]);
rule('reserved', [
  ['240.0.0.0', 4, 'ipv4'], // includes the broadcast address 255.255.255.255
  ['::', 96, 'ipv6'], // deprecated IPv4-compatible addresses (::a.b.c.d)
]);

/**
 * The IPv4 address an IPv6 one stands for, when it does: IPv4-mapped (`::ffff:127.0.0.1`, which
 * a dual-stack socket connects to 127.0.0.1) and NAT64 (`64:ff9b::7f00:1`).
 */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  for (const prefix of ['::ffff:', '64:ff9b::']) {
    if (!lower.startsWith(prefix)) continue;
    const rest = lower.slice(prefix.length);
    if (isIP(rest) === 4) return rest;
    const groups = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
    if (groups) {
      const high = parseInt(groups[1] as string, 16);
      const low = parseInt(groups[2] as string, 16);
      return [high >> 8, high & 255, low >> 8, low & 255].join('.');
    }
  }
  return undefined;
}

/** The class of a refused address, or undefined for an address the bridge may reach if listed. */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 0) return 'reserved';
  const ipv4 = family === 6 ? embeddedIpv4(bare) : bare;
  for (const [kind, list] of rules) {
    if (ipv4 !== undefined ? list.check(ipv4, 'ipv4') : list.check(bare, 'ipv6')) return kind;
  }
  return undefined;
}

export interface AddressPolicy {
  /** CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: loopback is reachable through an allowedHosts entry that names the address itself. */
  allowLoopback: boolean;
}

/**
 * Why `address` may not be reached (undefined: it may). `namedLiteral` says the allowedHosts entry
 * that let the URL through is this very IP literal (`http://127.0.0.1:9999`), not a name that
 * resolved to it: only then does allowLoopback apply. Metadata, link-local and the rest are never reachable.
 */
export function addressRefusal(address: string, namedLiteral: boolean, policy: AddressPolicy): string | undefined {
  const kind = classifyAddress(address);
  if (kind === undefined) return undefined;
  if (kind === 'loopback' && namedLiteral && policy.allowLoopback) return undefined;
  const why =
    kind === 'loopback'
      ? namedLiteral
        ? 'a loopback address (set CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK=true to allow one an allowedHosts entry names as an IP literal)'
        : 'a loopback address, reachable only through an allowedHosts entry naming the IP literal, with CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK=true'
      : kind === 'metadata'
        ? 'a cloud instance metadata address, which the HTTP bridge never reaches'
        : `a ${kind} address, which the HTTP bridge never reaches`;
  return `${address} is ${why}`;
}

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { addressRefusal, type AddressPolicy } from './address-rules.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a name resolves to (dns.lookup with all: true); tests pass their own. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** A refusal or failure with the name step code will see (`HostNotAllowed`, `ENOTFOUND`, ...). */
export class Refusal extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

export const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/**
 * The address to connect to for `url`: an IP literal as it is, a name resolved (every address).
 * Every address must pass the address rules, not only the one used: a name answering both an
 * allowed and a refused address is how a rebinding attack starts.
 */
export async function checkAddress(
  url: URL,
  literal: boolean,
  policy: AddressPolicy,
  resolve: Resolver,
): Promise<ResolvedAddress> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const family = isIP(host);
  let addresses: ResolvedAddress[];
  if (family !== 0) addresses = [{ address: host, family: family === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await resolve(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
      throw new Refusal(code, `${url.origin}: the name ${host} does not resolve (${code})`);
    }
  }
  if (addresses.length === 0) throw new Refusal('ENOTFOUND', `${url.origin}: the name ${host} does not resolve`);
  for (const { address } of addresses) {
    const why = addressRefusal(address, literal, policy);
    if (why)
      throw new Refusal('AddressNotAllowed', `${url.origin}: ${host === address ? why : `${host} resolves to ${why}`}`);
  }
  return addresses[0] as ResolvedAddress;
}

/**
 * A socket lookup that answers only the address the rules checked, whatever name it is asked for
 * (Node asks for every address when it tries IPv4 and IPv6 in turn).
 */
export function pinnedLookup(target: ResolvedAddress): LookupFunction {
  return (_hostname, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all)
      (callback as (error: null, addresses: ResolvedAddress[]) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
}

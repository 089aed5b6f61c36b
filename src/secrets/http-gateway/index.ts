export { addressRefusal, classifyAddress } from './address-rules.js';
export type { AddressClass, AddressPolicy } from './address-rules.js';
export { compileAllowedHosts } from './allowed-hosts.js';
export type { HostAllowlist, HostMatch } from './allowed-hosts.js';
export { createHttpGateway, pinnedLookup } from './http-gateway.js';
export type {
  HttpAnswer,
  HttpFetchError,
  HttpFetchPolicy,
  HttpGateway,
  HttpGatewayOptions,
  ResolvedAddress,
  Resolver,
} from './http-gateway.js';
export { httpFetchArgsSchema, httpMethods } from './http-request.js';
export type { HttpRequest, HttpResponse } from './http-request.js';

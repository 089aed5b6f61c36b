/**
 * An options object for an isolated-vm call: no prototype and frozen. isolated-vm reads options
 * with ordinary property gets, so an inherited property would count as an option; the same rule
 * holds inside the isolate, where step code can change Object.prototype (see bootstrap-source.ts).
 */
export function ivmOptions<T extends object>(fields: T): Readonly<T> {
  return Object.freeze(Object.assign(Object.create(null) as T, fields));
}

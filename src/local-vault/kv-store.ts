import { notFound } from './vault-reply.js';

interface KvVersion {
  data: Record<string, unknown>;
  createdTime: string;
}

/** KV version 2 secrets by mount and path, each with its versions (1, 2, ...). */
export class KvStore {
  private readonly secrets = new Map<string, KvVersion[]>();

  constructor(readonly mounts: ReadonlySet<string>) {}

  /** Writes a new version of `mount`/`path`; returns its number. */
  put(mount: string, path: string, data: Record<string, unknown>): number {
    if (!this.mounts.has(mount)) throw new Error(`local vault: "${mount}" is not a KV mount`);
    const key = `${mount}/${path}`;
    const versions = this.secrets.get(key) ?? [];
    versions.push({ data: structuredClone(data), createdTime: new Date().toISOString() });
    this.secrets.set(key, versions);
    return versions.length;
  }

  /** The `data` of GET /v1/<mount>/data/<path>: the version asked for (0 or none: the latest). */
  read(
    mount: string,
    path: string,
    version: number,
  ): { data: Record<string, unknown>; metadata: Record<string, unknown> } {
    const versions = this.secrets.get(`${mount}/${path}`);
    const number = version > 0 ? version : (versions?.length ?? 0);
    const found = versions?.[number - 1];
    if (!found) throw notFound();
    return {
      data: structuredClone(found.data),
      metadata: {
        created_time: found.createdTime,
        custom_metadata: null,
        deletion_time: '',
        destroyed: false,
        version: number,
      },
    };
  }
}

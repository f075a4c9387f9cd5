import type { Db } from "../db/index.ts";
import type { OAuthClient } from "../generated/prisma/client.ts";

const MAX_ENTRIES = 10_000;

/**
 * OAuth clients by public client_id, served from memory. An entry is dropped
 * when the change feed says the client changed (updated, secret rotated,
 * revoked), on this instance before the change is answered and on the others
 * within a second. Unknown client_ids are not cached (each costs a lookup).
 */
export class ClientCache {
  private readonly entries = new Map<string, OAuthClient>();
  /** bumped by every eviction, so that a lookup racing one does not store what it read before */
  private generation = 0;

  constructor(
    private readonly db: Db,
    /** resolves when the cache may be trusted (the change feed is current); rejects to fail closed */
    private readonly ready: () => Promise<void> = async () => {},
  ) {}

  async get(clientId: string): Promise<OAuthClient | null> {
    await this.ready();
    const hit = this.entries.get(clientId);
    if (hit) return hit;
    const generation = this.generation;
    const client = await this.db.oAuthClient.findUnique({ where: { clientId } });
    if (client && generation === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(clientId, client);
    }
    return client;
  }

  evict(clientId: string): void {
    this.generation++;
    this.entries.delete(clientId);
  }

  /** Drops everything (a feed that fell behind cannot say which entries are stale). */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}

import { decodeOptionalCursor, pageOf, type Position } from "../lib/cursor.ts";
import { builder, type AuthScopes } from "./builder.ts";
import { invalidInput } from "../lib/errors.ts";

// Every connection of the API, one way: Pothos relay builds the Connection,
// Edge and PageInfo types; the lists are newest first and page forward with
// `first` and `after` (the cursor codec of src/lib/cursor.ts).

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** `first` as asked, or the default page size; BAD_USER_INPUT on `first` outside 1..MAX_PAGE_SIZE. */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw invalidInput("first", `first must be between 1 and ${MAX_PAGE_SIZE}.`);
  }
  return first;
}

/**
 * `<name>Connection` and `<name>Edge` over `node`, their fields under one
 * rule (the types' authScopes, which every field inherits).
 */
export function connectionType<Node extends NodeType>(name: string, node: Node, authScopes: Partial<AuthScopes>) {
  return builder.connectionObject({ name: `${name}Connection`, type: node, authScopes }, { name: `${name}Edge`, authScopes });
}
type NodeType = Parameters<typeof builder.connectionObject>[0]["type"];

/**
 * What a page's database statement costs, beyond its rows: measured (bench/RESULTS.md,
 * the alias attack), thirty one-row pages under aliases (30 statements, cost 121
 * without it) took longer than nine pages of 100 with every field (9 statements, cost
 * 9,010), on both databases. With it, one request runs at most 19 pages, and a
 * credential's budget a minute (GRAPHQL_RATE_LIMIT_*) bounds its statements too.
 */
export const PAGE_STATEMENT_COST = 500;

/**
 * What a page costs (limits.ts): its statement (PAGE_STATEMENT_COST), and its
 * selection once per item it can return, `first` as sent (a literal or a
 * variable, already applied) or the default page size, never more than a page holds.
 */
export function pageCost(args: PageArgs): { field: number; multiplier: number } {
  const first = typeof args.first === "number" ? args.first : DEFAULT_PAGE_SIZE;
  return { field: 1 + PAGE_STATEMENT_COST, multiplier: Math.min(Math.max(first, 0), MAX_PAGE_SIZE) };
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface ConnectionResult<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/**
 * One page of a connection: checks `first` and `after` (BAD_USER_INPUT naming
 * the argument), asks `load` for up to `limit` rows strictly after the
 * position, newest first (one more than the page, to know whether more
 * follow), and gives every edge its cursor.
 */
export async function resolvePage<T>(
  args: PageArgs,
  positionOf: (row: T) => Position,
  load: (limit: number, after: Position | null) => Promise<T[]>,
): Promise<ConnectionResult<T>> {
  const take = pageSize(args.first);
  const after = decodeOptionalCursor(args.after);
  const page = pageOf(await load(take + 1, after), take, positionOf);
  const edges = page.rows.map(({ row, cursor }) => ({ cursor, node: row }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      // Forward paging only: whatever came before `after` is not read (Relay allows saying false).
      hasPreviousPage: after !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: page.endCursor,
    },
  };
}

import { Kind, type DocumentNode, type OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Metrics } from "./metrics.ts";

interface InFlight {
  started: number;
  /** undefined until execution starts; null for an anonymous operation */
  operation: string | null | undefined;
}

/** The executed operation's name: the one asked for, or the document's only one (null when it has none). */
function operationName(document: DocumentNode, requested: string | null | undefined): string | null {
  if (requested) return requested;
  const op = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return op?.name?.value ?? null;
}

/**
 * Counts and times GraphQL requests by operation name (capped, see
 * Metrics.operationLabel). List it first among the plugins, so that a plugin
 * refusing in onExecute still leaves the name recorded.
 */
export function graphqlMetrics(metrics: Metrics): Plugin {
  const inFlight = new WeakMap<Request, InFlight>();
  return {
    onRequest({ request }) {
      inFlight.set(request, { started: performance.now(), operation: undefined });
    },
    onExecute({ args }) {
      const request = (args.contextValue as { request?: Request }).request;
      const entry = request && inFlight.get(request);
      if (entry) entry.operation = operationName(args.document, args.operationName);
    },
    onResponse({ request, response }) {
      const entry = inFlight.get(request);
      if (!entry) return;
      inFlight.delete(request);
      metrics.recordGraphQL(entry.operation, response.status, (performance.now() - entry.started) / 1000);
    },
  };
}

import type { SignInSession } from "../accounts/sessions.ts";

/** Who is making a request, as the GraphQL layer sees it. */
export type Viewer =
  | { kind: "anonymous" }
  | { kind: "account"; userId: string; session: SignInSession }
  | {
      kind: "token";
      userId: string;
      /** the OAuthClient row id and its public client_id */
      clientRowId: string;
      clientId: string;
      grantId: string | null;
      jti: string;
      scopes: ReadonlySet<string>;
    };

export const ANONYMOUS: Viewer = { kind: "anonymous" };

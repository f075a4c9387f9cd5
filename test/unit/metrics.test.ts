// The Metrics class without a server: what recording produces in the Prometheus
// text, and the bounds on its labels.
import { describe, expect, it } from "vitest";
import { ANONYMOUS_OPERATION, GRAPHQL_OPERATION_LABEL_CAP, Metrics, NO_OPERATION, OTHER_OPERATION } from "../../src/metrics/metrics.ts";

async function lines(m: Metrics, prefix: string): Promise<string[]> {
  return (await m.render()).body.split("\n").filter((l) => l.startsWith(prefix));
}

describe("Metrics", () => {
  it("records a request as a counter by route, method and status and a cumulative histogram by route and method", async () => {
    const m = new Metrics();
    m.recordRequest("/graphql", "POST", 200, 0.003);
    m.recordRequest("/graphql", "POST", 200, 0.2);
    m.recordRequest("/graphql", "POST", 503, 7);
    expect(await lines(m, "scopegate_http_requests_total")).toEqual([
      'scopegate_http_requests_total{route="/graphql",method="POST",status="200"} 2',
      'scopegate_http_requests_total{route="/graphql",method="POST",status="503"} 1',
    ]);
    const hist = await lines(m, "scopegate_http_request_duration_seconds");
    expect(hist).toContain('scopegate_http_request_duration_seconds_bucket{route="/graphql",method="POST",le="0.0025"} 0');
    expect(hist).toContain('scopegate_http_request_duration_seconds_bucket{route="/graphql",method="POST",le="0.005"} 1');
    expect(hist).toContain('scopegate_http_request_duration_seconds_bucket{route="/graphql",method="POST",le="0.25"} 2');
    expect(hist).toContain('scopegate_http_request_duration_seconds_bucket{route="/graphql",method="POST",le="5"} 2');
    expect(hist).toContain('scopegate_http_request_duration_seconds_bucket{route="/graphql",method="POST",le="10"} 3');
    expect(hist).toContain('scopegate_http_request_duration_seconds_bucket{route="/graphql",method="POST",le="+Inf"} 3');
    expect(hist).toContain('scopegate_http_request_duration_seconds_count{route="/graphql",method="POST"} 3');
    expect(hist.find((l) => l.includes("_sum"))).toMatch(/ 7\.203\d*$/);
  });

  it("folds methods outside HTTP's usual set into one 'other' series", async () => {
    const m = new Metrics();
    m.recordRequest("/*", "PROPFIND", 404, 0.001);
    m.recordRequest("/*", "MKCOL", 404, 0.001);
    expect(await lines(m, "scopegate_http_requests_total")).toEqual([
      'scopegate_http_requests_total{route="/*",method="other",status="404"} 2',
    ]);
  });

  it(`keeps ${GRAPHQL_OPERATION_LABEL_CAP} operation names, then ${OTHER_OPERATION}; overlong names are ${OTHER_OPERATION} at once`, () => {
    const m = new Metrics();
    expect(m.operationLabel("x".repeat(101))).toBe(OTHER_OPERATION);
    for (let i = 0; i < GRAPHQL_OPERATION_LABEL_CAP; i++) expect(m.operationLabel(`Op${i}`)).toBe(`Op${i}`);
    expect(m.operationLabel("OneTooMany")).toBe(OTHER_OPERATION);
    expect(m.operationLabel("Op7")).toBe("Op7"); // a kept name stays kept
    expect(m.operationLabel(null)).toBe(ANONYMOUS_OPERATION);
    expect(m.operationLabel("")).toBe(ANONYMOUS_OPERATION);
    expect(m.operationLabel(undefined)).toBe(NO_OPERATION);
  });

  it("counts tokens by grant type and refusals by route and reason", async () => {
    const m = new Metrics();
    m.tokenIssued("client_credentials");
    m.tokenIssued("client_credentials");
    m.refusal("/v1/oauth/token", "invalid_client");
    expect(await lines(m, "scopegate_oauth_tokens_issued_total")).toEqual([
      'scopegate_oauth_tokens_issued_total{grant_type="client_credentials"} 2',
    ]);
    expect(await lines(m, "scopegate_refusals_total")).toEqual([
      'scopegate_refusals_total{route="/v1/oauth/token",reason="invalid_client"} 1',
    ]);
  });

  it("reports revocation lag and pool use from their sources, and no sample while there is none", async () => {
    const m = new Metrics();
    expect(await lines(m, "scopegate_revocation_view_lag_seconds ")).toEqual([]);
    expect(await lines(m, "scopegate_db_pool_waiting ")).toEqual([]);
    let lag: number | undefined = 0.25;
    m.setRevocationLagSource(() => lag);
    m.setPoolSource(() => ({ total: 3, idle: 1, waiting: 4, max: 10 }));
    expect(await lines(m, "scopegate_revocation_view_lag_seconds ")).toEqual(["scopegate_revocation_view_lag_seconds 0.25"]);
    expect(await lines(m, "scopegate_db_pool_")).toEqual([
      "scopegate_db_pool_connections 3",
      "scopegate_db_pool_idle_connections 1",
      "scopegate_db_pool_waiting 4",
      "scopegate_db_pool_max_connections 10",
    ]);
    lag = undefined;
    expect(await lines(m, "scopegate_revocation_view_lag_seconds ")).toEqual([]);
  });

  it("keeps each instance's numbers apart (a registry per instance)", async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.tokenIssued("refresh_token");
    expect(await lines(b, "scopegate_oauth_tokens_issued_total{")).toEqual([]);
    expect((await a.render()).contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});

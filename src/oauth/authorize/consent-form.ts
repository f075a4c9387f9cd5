/** The consent form's checkbox name: repeated once per ticked scope. */
export const TICKED_SCOPE_FIELD = "grant_scope";

export interface ConsentForm {
  /** the authorization request's parameters (hidden fields), to validate from scratch */
  params: [string, string][];
  /** the scopes ticked */
  ticked: Set<string>;
  csrf: string | undefined;
  decision: string | undefined;
  /** csrf or decision sent more than once: the form was tampered with */
  repeatedControl: boolean;
}

/** Splits the consent form's body into its own controls and the request's parameters. */
export function readConsentForm(body: string): ConsentForm {
  const form: ConsentForm = { params: [], ticked: new Set(), csrf: undefined, decision: undefined, repeatedControl: false };
  for (const [k, v] of new URLSearchParams(body)) {
    if (k === TICKED_SCOPE_FIELD) form.ticked.add(v);
    else if (k === "csrf") {
      form.repeatedControl ||= form.csrf !== undefined;
      form.csrf = v;
    } else if (k === "decision") {
      form.repeatedControl ||= form.decision !== undefined;
      form.decision = v;
    } else form.params.push([k, v]);
  }
  return form;
}

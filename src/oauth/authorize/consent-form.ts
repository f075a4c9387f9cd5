import type { Form } from "../../lib/form.ts";

/** The consent form's checkbox name: repeated once per ticked scope. */
export const TICKED_SCOPE_FIELD = "grant_scope";

/** The consent form's own controls; every other field is a parameter of the authorization request. */
const CONTROLS = new Set([TICKED_SCOPE_FIELD, "csrf", "decision"]);

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

/** Splits the consent form (read by lib/form.ts like every form) into its own controls and the request's parameters. */
export function readConsentForm(form: Form): ConsentForm {
  return {
    params: form.entries().filter(([name]) => !CONTROLS.has(name)),
    ticked: new Set(form.all(TICKED_SCOPE_FIELD)),
    csrf: form.one("csrf"),
    decision: form.one("decision"),
    repeatedControl: form.all("csrf").length > 1 || form.all("decision").length > 1,
  };
}

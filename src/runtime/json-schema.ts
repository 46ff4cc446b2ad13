import { createRequire } from 'node:module';
import type { JsonSchema } from '../persistence/registry-store.js';
import type { Check, Issue } from '../persistence/validate.js';

/**
 * JSON Schema checks for clients that validate from the machine registry
 * (no machine code in the process): Ajv, the validator most of the JSON
 * Schema world uses, on draft 2020-12 (what zod 4 exports), with its formats.
 * Loaded on first use: a process with the machines' zod schemas never pays.
 */
const require = createRequire(import.meta.url);

type AjvInstance = {
  compile(schema: JsonSchema): ((value: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }> | null };
};
let ajv: AjvInstance | undefined;

function instance(): AjvInstance {
  if (!ajv) {
    const Ajv2020 = require('ajv/dist/2020.js') as new (opts: Record<string, unknown>) => AjvInstance;
    const addFormats = require('ajv-formats') as (a: AjvInstance) => void;
    // strict: false — zod writes keywords Ajv does not know (none change what is valid).
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(ajv);
  }
  return ajv;
}

function issuesOf(errors: NonNullable<ReturnType<AjvInstance['compile']>['errors']>): Issue[] {
  return errors.map((e) => {
    const path = e.instancePath ? e.instancePath.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')) : [];
    const extra = e.params && typeof e.params.additionalProperty === 'string' ? ` ('${e.params.additionalProperty}')` : '';
    return { path, message: `${e.message ?? 'is invalid'}${extra}` };
  });
}

/** Compile a JSON Schema into a {@link Check}. Throws when the schema itself is invalid. */
export function compileJsonSchema(schema: JsonSchema): Check {
  const validate = instance().compile(schema);
  return (value) => (validate(value) ? undefined : issuesOf(validate.errors ?? []));
}

/**
 * Platform configuration from environment variables. Only entry points (cli/) call
 * `loadConfig(process.env)`; library modules take the typed options it produces.
 * Every problem is reported at start, naming the variable and what to do.
 *
 * The variables, their kinds, defaults and descriptions are declared once, in
 * environment.ts; this module reads the environment through that table only.
 */
import { PlatformError } from '../core/errors.ts';
import { ENVIRONMENT_VARIABLES, REMOVED_VARIABLES, ROLE_NAMES, type AnyVariable, type DefaultContext, type KindValue, type Variable } from './environment.ts';

export { ENVIRONMENT_VARIABLES, ROLE_NAMES, type EnvironmentVariableName, type Role } from './environment.ts';

type Declared = typeof ENVIRONMENT_VARIABLES;
type ValueOf<V> =
  V extends Variable<string, infer K, infer D>
    ? KindValue<K> | (D extends (context: DefaultContext) => infer R ? R : D)
    : never;
type ConfigFromDeclaration = { -readonly [N in keyof Declared as Declared[N]['field']]: ValueOf<Declared[N]> };

/** The configuration: one field per declared environment variable (see environment.ts for their meaning). */
export interface PlatformConfig extends ConfigFromDeclaration {}

export function loadConfig(env: Readonly<Record<string, string | undefined>>): PlatformConfig {
  const declared: Readonly<Record<string, AnyVariable>> = ENVIRONMENT_VARIABLES;
  /** The one place the environment is read: only declared names, trimmed (unless declared otherwise); blank is unset. */
  const read = (name: string): string | undefined => {
    const variable = declared[name];
    if (variable === undefined) throw new Error(`${name} is read but not declared in ENVIRONMENT_VARIABLES (shared/runtime/environment.ts)`);
    const raw = env[name];
    const value = raw === undefined || variable.keepWhitespace ? raw : raw.trim();
    return value === undefined || value.trim() === '' ? undefined : value;
  };
  const context: DefaultContext = { isSet: (name) => read(name) !== undefined };

  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, variable] of Object.entries(declared)) {
    const fallback = typeof variable.default === 'function' ? (variable.default as (c: DefaultContext) => unknown)(context) : variable.default;
    const text = read(name);
    if (text === undefined) {
      values[variable.field] = fallback;
      continue;
    }
    const parsed = variable.kind.text.safeParse(text, { reportInput: true });
    if (parsed.success) {
      values[variable.field] = parsed.data;
      continue;
    }
    values[variable.field] = fallback;
    for (const issue of parsed.error.issues) {
      const problem = variable.secret
        ? `${name}: ${issue.message}`
        : issue.path.length > 0 // an item of a list
          ? `${name} contains ${JSON.stringify(issue.input)}: ${issue.message}`
          : `${name}=${JSON.stringify(text)}: ${issue.message}`;
      if (!problems.includes(problem)) problems.push(problem);
    }
  }
  const config = values as unknown as PlatformConfig;
  for (const [name, why] of Object.entries(REMOVED_VARIABLES)) {
    if (env[name] !== undefined && env[name].trim() !== '') problems.push(`${name} ${why}`);
  }

  // Rules across variables.
  const allRoles = ROLE_NAMES.every((r) => config.roles.includes(r));
  if (!allRoles && (!context.isSet('KAFKA_BROKERS') || !context.isSet('CLICKHOUSE_URL'))) {
    problems.push(
      `ROLES=${config.roles.join(',')}: running only some layers in this process needs KAFKA_BROKERS and CLICKHOUSE_URL ` +
        '(the embedded log and DuckDB file belong to one process); set both, or run all roles',
    );
  }

  if (problems.length > 0) {
    throw new PlatformError('PV_CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { details: problems });
  }
  return config;
}

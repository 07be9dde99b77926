import { loadOperatorConfig } from './load-operator-config';
import { OperatorConfig } from './operator-config';

/** The one place that reads process.env. */
export function readOperatorConfigFromEnvironment(): OperatorConfig {
  return loadOperatorConfig(process.env);
}

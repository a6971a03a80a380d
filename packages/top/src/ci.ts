/**
 * Runs `load` (an import) with the environment saying "not CI", then restores it. Ink decides
 * at its import whether it runs in CI (CI or CI_* set) and then draws nothing until exit; top
 * only loads it for a terminal, where a person is watching.
 */
export async function outsideCi<T>(load: () => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const saved = env.CI;
  env.CI = 'false';
  try {
    return await load();
  } finally {
    if (saved === undefined) delete env.CI;
    else env.CI = saved;
  }
}

import t from 'tap';
import { outsideCi } from './ci.js';

t.test('the load sees CI=false; the environment is as it was after, thrown or not', async (t) => {
  const env: NodeJS.ProcessEnv = { CI: 'true', CI_JOB: '1' };
  t.equal(await outsideCi(async () => env.CI, env), 'false');
  t.same(env, { CI: 'true', CI_JOB: '1' });
  const none: NodeJS.ProcessEnv = {};
  await t.rejects(
    outsideCi(async () => {
      throw new Error('boom');
    }, none),
  );
  t.notOk('CI' in none, 'no CI variable left behind');
});

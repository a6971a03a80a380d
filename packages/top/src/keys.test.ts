import t from 'tap';
import { HELP, initialState, press, type UiState } from './keys.js';

const type = (s: UiState, keys: string, page = 10) => [...keys].reduce((acc, ch) => press(acc, ch, {}, page), s);

t.test('views: letters, digits, Tab both ways; each view keeps its sort', async (t) => {
  let s = initialState('agents', undefined, false);
  t.same(s.sorts, { agents: 'cost', processes: 'cpu', files: 'recent', network: 'calls', models: 'cost' });
  s = type(s, 'p');
  t.equal(s.view, 'processes');
  s = type(s, 'k');
  t.equal(s.sorts.processes, 'calls');
  s = type(s, 'f4');
  t.equal(s.view, 'network');
  s = press(s, '', { tab: true }, 10);
  t.equal(s.view, 'models');
  s = press(s, '', { tab: true }, 10);
  t.equal(s.view, 'agents', 'Tab wraps');
  s = press(s, '', { tab: true, shift: true }, 10);
  t.equal(s.view, 'models', 'Shift-Tab goes back');
  s = type(s, 'p');
  t.equal(s.sorts.processes, 'calls', 'kept');
  t.same(initialState('files', 'cpu', true).sorts.files, 'recent', "a sort a view lacks: the view's own");
});

t.test('sorts: cycle, direct keys, a key the view lacks, reverse', async (t) => {
  let s = initialState('agents', 'cost', false);
  s = type(s, 's');
  t.equal(s.sorts.agents, 'tokens');
  s = type(s, '>>');
  t.equal(s.sorts.agents, 'tools');
  s = type(s, '<<<<');
  t.equal(s.sorts.agents, 'name', 'wraps backwards');
  s = type(s, 'S');
  t.equal(s.sorts.agents, 'pid');
  s = type(s, 'PM');
  t.equal(s.sorts.agents, 'rss');
  s = type(s, 'o');
  t.equal(s.sorts.agents, 'rss', 'opens is no agents sort');
  t.equal(s.message, 'agents cannot be sorted by opens');
  s = type(s, 'r');
  t.ok(s.reverse);
  t.equal(s.message, '', 'the message goes with the next key that does something');
  s = type(s, 'fw');
  t.same([s.view, s.sorts.files], ['files', 'writes']);
});

t.test('scrolling, help, quitting', async (t) => {
  let s = initialState('agents', undefined, false);
  s = press(s, '', { downArrow: true }, 10);
  s = press(s, '', { pageDown: true }, 10);
  t.equal(s.scroll, 11);
  s = press(s, '', { pageUp: true }, 10);
  s = press(s, '', { upArrow: true }, 10);
  s = press(s, '', { upArrow: true }, 10);
  t.equal(s.scroll, 0, 'not above the top');
  s = type(s, '?');
  t.equal(s.message, HELP);
  s = type(s, '?');
  t.equal(s.message, '');
  t.equal(type(s, 'x'), s, 'an unbound key changes nothing');
  t.ok(type(s, 'q').quit);
  t.ok(press(s, 'c', { ctrl: true }, 10).quit, 'Ctrl-C');
  t.ok(press(s, '', { escape: true }, 10).quit, 'Esc');
});

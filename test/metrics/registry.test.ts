import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHelp, escapeLabelValue, formatValue, MetricsRegistry } from '../../src/metrics/registry.js';

test('a counter and a gauge render with HELP, TYPE and their series, in registration order', () => {
  const registry = new MetricsRegistry();
  const requests = registry.counter({ name: 'http_requests_total', help: 'Requests.', labelNames: ['method', 'code'] });
  const open = registry.gauge({ name: 'connections_open', help: 'Open connections.' });
  requests.labels('GET', 200).inc();
  requests.labels('GET', 200).inc(2);
  requests.labels('POST', '404').inc();
  open.inc(5);
  open.dec(2);
  assert.equal(registry.render(), [
    '# HELP http_requests_total Requests.',
    '# TYPE http_requests_total counter',
    'http_requests_total{method="GET",code="200"} 3',
    'http_requests_total{method="POST",code="404"} 1',
    '# HELP connections_open Open connections.',
    '# TYPE connections_open gauge',
    'connections_open 3',
    '',
  ].join('\n'));
});

test('a metric without labels renders 0 before its first increment; a labelled one only its HELP and TYPE', () => {
  const registry = new MetricsRegistry();
  registry.counter({ name: 'a_total', help: 'A.' });
  registry.counter({ name: 'b_total', help: 'B.', labelNames: ['x'] });
  assert.equal(registry.render(), '# HELP a_total A.\n# TYPE a_total counter\na_total 0\n# HELP b_total B.\n# TYPE b_total counter\n');
});

test('labels() gives the same series object each time, so the hot path keeps it and only adds', () => {
  const registry = new MetricsRegistry();
  const family = registry.counter({ name: 'x_total', help: 'x', labelNames: ['k'] });
  const child = family.labels('v');
  assert.equal(family.labels('v'), child);
  child.inc();
  child.value++;
  assert.equal(family.labels('v').value, 2);
  // Label values that join to the same text stay apart.
  const two = registry.counter({ name: 'y_total', help: 'y', labelNames: ['a', 'b'] });
  two.labels('a,b', 'c').inc();
  two.labels('a', 'b,c').inc(5);
  assert.match(registry.render(), /y_total\{a="a,b",b="c"\} 1\ny_total\{a="a",b="b,c"\} 5\n/);
});

test('collectors run at each render and set values kept elsewhere', () => {
  const registry = new MetricsRegistry();
  let live = 10;
  registry.gauge({ name: 'live', help: 'Live.', collect: (g) => g.set(live) });
  registry.gauge({
    name: 'by_kind', help: 'By kind.', labelNames: ['kind'],
    collect: (g) => { g.labels('a').set(live * 2); },
  });
  assert.match(registry.render(), /^live 10$/m);
  live = 11;
  const text = registry.render();
  assert.match(text, /^live 11$/m);
  assert.match(text, /^by_kind\{kind="a"\} 22$/m);
});

test('escaping: HELP escapes backslash and line feed; label values also the double quote (vectors of the format)', () => {
  assert.equal(escapeHelp('a\\b\nc"d'), 'a\\\\b\\nc"d');
  assert.equal(escapeLabelValue('a\\b\nc"d'), 'a\\\\b\\nc\\"d');
  assert.equal(escapeLabelValue('C:\\DIR\\FILE.TXT'), 'C:\\\\DIR\\\\FILE.TXT');
  assert.equal(escapeLabelValue('Cannot find file:\n"FILE.TXT"'), 'Cannot find file:\\n\\"FILE.TXT\\"');
  assert.equal(escapeLabelValue('plain ünïcode ✓'), 'plain ünïcode ✓');
  const registry = new MetricsRegistry();
  registry.counter({ name: 'msdos_file_access_time_seconds', help: 'Help with "quotes" and \\ and\nnewline.', labelNames: ['path', 'error'] })
    .labels('C:\\DIR\\FILE.TXT', 'Cannot find file:\n"FILE.TXT"').set(1.458255915e9);
  assert.equal(registry.render(), [
    '# HELP msdos_file_access_time_seconds Help with "quotes" and \\\\ and\\nnewline.',
    '# TYPE msdos_file_access_time_seconds counter',
    'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1458255915',
    '',
  ].join('\n'));
});

test('values: integers, floats, NaN, +Inf, -Inf as the format spells them', () => {
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(-3), '-3');
  assert.equal(formatValue(0.25), '0.25');
  assert.equal(formatValue(1e-7), '1e-7');
  assert.equal(formatValue(1.5e21), '1.5e+21');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  // Every rendered value parses back as the Go float syntax Prometheus reads.
  for (const v of [0, 1, -1, 0.1, 123456789012, 1e-7, 1.5e21]) assert.equal(Number(formatValue(v)), v);
});

test('bad metric and label names, a wrong number of label values and a second registration are refused', () => {
  const registry = new MetricsRegistry();
  assert.throws(() => registry.counter({ name: '1abc', help: '' }), /metric name/);
  assert.throws(() => registry.counter({ name: 'a-b', help: '' }), /metric name/);
  assert.throws(() => registry.counter({ name: 'ok', help: '', labelNames: ['__reserved'] }), /label name/);
  assert.throws(() => registry.counter({ name: 'ok2', help: '', labelNames: ['a-b'] }), /label name/);
  assert.throws(() => registry.counter({ name: 'ok3', help: '', labelNames: ['a', 'a'] }), /repeat/);
  const family = registry.gauge({ name: 'namespace:sub_metric', help: '', labelNames: ['a'] });
  assert.throws(() => family.labels(), /takes 1 label values, got 0/);
  assert.throws(() => family.labels('x', 'y'), /takes 1 label values, got 2/);
  assert.throws(() => registry.gauge({ name: 'namespace:sub_metric', help: '' }), /already registered/);
});

test('every line of a rendering is a comment or a sample of the text format', () => {
  const registry = new MetricsRegistry();
  registry.counter({ name: 'c_total', help: 'c', labelNames: ['v'] }).labels('"\\\n').inc();
  registry.gauge({ name: 'g', help: 'g' }).set(-0.5);
  const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$/;
  const lines = registry.render().split('\n');
  assert.equal(lines.pop(), '', 'ends with a line feed');
  for (const line of lines) assert.ok(line.startsWith('# HELP ') || line.startsWith('# TYPE ') || sample.test(line), line);
});

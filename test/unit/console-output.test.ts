/** What the console writes that a hostile value could abuse: SVG chart labels and CSV export cells. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { barChart, timeChart } from '../../src/console/svg-charts.ts';
import { csvCell } from '../../src/security/audit-export.ts';

test('a hostile app name in a chart is text, not markup', () => {
  const svg = barChart('Top apps', [{ label: '<script>alert(1)</script>"&', value: 3 }]);
  assert.equal(svg.includes('<script>'), false);
  assert.ok(svg.includes('&lt;script&gt;'));
  const series = timeChart('t', [{ name: '<img src=x onerror=1>', values: [1, 2], className: 'x" onload="1' }], ['a', 'b']);
  assert.equal(/<img|onload="1/.test(series), false);
});

test('CSV cells a spreadsheet would run as formulas are neutralised, and quoting holds', () => {
  assert.equal(csvCell('=HYPERLINK("http://evil")'), `"'=HYPERLINK(""http://evil"")"`);
  for (const lead of ['+', '-', '@', '\t']) assert.ok(csvCell(`${lead}1`).startsWith(`'`) || csvCell(`${lead}1`).startsWith(`"'`));
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell(null), '');
  assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moduleClosure, SHARED_RUNTIME } from '../../main/api/assets';
import { pageScript } from '../../main/report/render';

/**
 * The report's page script is main/report/page.ts and the chart builders it requires, the same
 * compiled modules the app's page loads (main/api/assets.ts SHARED_RUNTIME): no other code of
 * main/ rides along, and the joined script can be inlined.
 */
test('the report page bundles page.ts with the shared chart builders only, and parses', () => {
  const ids = moduleClosure('main/report/page').map((m) => m.id);
  assert.equal(ids[0], 'main/report/page');
  const runtime = new Set(SHARED_RUNTIME.map((s) => 'shared/' + s));
  assert.deepEqual(ids.slice(1).filter((id) => !runtime.has(id)), [], 'only shared/ modules the app page loads too');
  for (const id of ['shared/charts/timeline', 'shared/charts/memory-map', 'shared/charts/ab', 'shared/sweep-heatmap']) assert.ok(ids.includes(id), id);
  const js = pageScript();
  assert.doesNotMatch(js, /<\/script|<script|<!--/i);
  assert.doesNotThrow(() => new Function(js), 'a script that parses');
});

// shepard's dashboard conventions that types cannot say (the types in shepard-dashboard.ts
// already require descriptions, units and the datasource variable):
//   - stable, distinct uids, and distinct panel ids and no overlapping panels per dashboard;
//   - no hard-coded instance, namespace or job names: a matcher on `instance`, `namespace` or
//     `job_name` is always its dashboard variable;
//   - every selector of a metric that carries those labels filters on the dashboard's variables
//     (task labels on the rollouts dashboard, `instance` on the agents dashboard);
//   - every `$variable` used in a query is defined by the dashboard or by Grafana.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
const GRAFANA_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__all']);
// Metrics whose series carry the task labels (namespace, job_name, group, task).
const TASK_METRICS = /^shepard_(restarts_total|restart_duration_seconds(_bucket|_sum|_count)?|rollout_state|rollout_stuck|rollout_leader)$/;

const problems = [];
const uids = new Map();

for (const file of readdirSync(dir).filter((f) => /^shepard-.*\.json$/.test(f))) {
  const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const complain = (what) => problems.push(`${file}: ${what}`);

  if (!/^shepard-[a-z-]+$/.test(dashboard.uid)) complain(`uid "${dashboard.uid}" is not a stable shepard-… name`);
  if (uids.has(dashboard.uid)) complain(`uid "${dashboard.uid}" is also used by ${uids.get(dashboard.uid)}`);
  uids.set(dashboard.uid, file);

  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  const filters = [...variables].filter((v) => ['namespace', 'job_name', 'instance'].includes(v));

  const panels = dashboard.panels.flatMap((p) => (p.type === 'row' ? [p, ...p.panels] : [p]));
  const ids = new Set();
  for (const panel of panels) {
    if (ids.has(panel.id)) complain(`panel id ${panel.id} is used twice`);
    ids.add(panel.id);
  }
  for (const [i, a] of panels.entries()) {
    for (const b of panels.slice(i + 1)) {
      const ga = a.gridPos;
      const gb = b.gridPos;
      const overlap = ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h && gb.y < ga.y + ga.h;
      if (overlap) complain(`panels "${a.title}" and "${b.title}" overlap`);
    }
  }

  // Each query with the filter variables it must use: a panel all of them, a variable those
  // defined before it (the variables it depends on).
  const queries = [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => [`panel "${p.title}"`, t.expr, filters])),
    ...dashboard.templating.list.flatMap((v, i) => {
      if (v.type !== 'query') return [];
      const earlier = dashboard.templating.list.slice(0, i).map((e) => e.name);
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      return [[`variable "${v.name}"`, query, filters.filter((f) => earlier.includes(f))]];
    }),
  ];
  for (const [where, expr, required] of queries) {
    for (const [, name] of expr.matchAll(/\$\{?(\w+)/g)) {
      if (!variables.has(name) && !GRAFANA_VARIABLES.has(name)) complain(`${where} uses undefined variable $${name}`);
    }
    for (const [, label, value] of expr.matchAll(/\b(instance|namespace|job_name)\s*(?:=~|!~|!=|=)\s*"([^"]*)"/g)) {
      if (value !== `$${label}`) complain(`${where} hard-codes ${label}="${value}"`);
    }
    // Selectors: a metric name, optionally followed by its matchers.
    for (const [, metric, matchers = ''] of expr.matchAll(/\b(shepard_[a-z_]+|up)\b(?!\s*\()(\{[^}]*\})?/g)) {
      const wanted = required.filter((f) => f === 'instance' || TASK_METRICS.test(metric));
      for (const variable of wanted) {
        if (!matchers.includes(`${variable}=~"$${variable}"`)) complain(`${where}: ${metric} does not filter on $${variable}`);
      }
    }
  }
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`dashboard conventions hold for ${[...uids.values()].join(', ')}`);

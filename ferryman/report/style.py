"""Page styles: one inline style sheet (the page loads nothing), with a narrow-window layout
and a print layout."""

CSS = """
:root { color-scheme: light; --fg:#1f2933; --muted:#64748b; --line:#e2e8f0; --bg-soft:#f8fafc;
  --ok:#1a7f37; --ok-bg:#e8f5ec; --bad:#b42318; --bad-bg:#fdeceb; --warn-bg:#fff7e6;
  --diff:#c2410c; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 20px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 17px; margin: 0 0 8px; font-weight: 600; overflow-wrap: anywhere; }
h3 { font-size: 14px; margin: 18px 0 6px; font-weight: 600; }
code, .v, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 12.5px; }
a { color: inherit; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
header.top { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start;
  justify-content: space-between; border-bottom: 1px solid var(--line); padding-bottom: 16px; }
.endpoints { margin: 6px 0 0; overflow-wrap: anywhere; }
.endpoints code { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 4px;
  padding: 1px 5px; }
.arrow { color: var(--muted); margin: 0 6px; }
.verdict { font-weight: 700; letter-spacing: .06em; font-size: 18px; padding: 6px 14px;
  border-radius: 6px; border: 1.5px solid; white-space: nowrap; }
.verdict.equal { color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.verdict.different { color: var(--bad); background: var(--bad-bg); border-color: var(--bad); }
.meta { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 12px 0 0; padding: 0;
  list-style: none; }
.meta li b { font-weight: 600; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
thead th { font-weight: 600; font-size: 12.5px; color: var(--muted); border-bottom: 1.5px solid
  #cbd5e1; white-space: nowrap; }
table.summary td.n, table.summary th.n { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
table.summary tfoot td { font-weight: 600; border-top: 1.5px solid #cbd5e1; border-bottom: 0; }
table.summary td.name { overflow-wrap: anywhere; min-width: 8em; }
.nz { color: var(--bad); font-weight: 600; }
.status { display: inline-block; font-size: 12px; font-weight: 600; padding: 0 7px;
  border-radius: 10px; border: 1px solid; white-space: nowrap; }
.status.equal { color: var(--ok); background: var(--ok-bg); }
.status.different { color: var(--bad); background: var(--bad-bg); }
.status.error { color: #7a4b00; background: var(--warn-bg); }
section.table { margin-top: 28px; padding-top: 16px; border-top: 1px solid var(--line); }
section.table .sub { margin: 0 0 10px; }
.error-box { background: var(--warn-bg); border: 1px solid #f0c36d; border-radius: 6px;
  padding: 8px 12px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 8px 0; }
figure.keyspace { margin: 8px 0 0; }
.strip-wrap { display: flex; gap: 8px; align-items: flex-start; }
.lanes { flex: none; width: 34px; text-align: right; font-size: 11px; color: var(--muted); }
.lane-rows { height: 13px; line-height: 10px; }
.lane-diffs { height: 30px; line-height: 30px; }
.strip-col { flex: 1; min-width: 0; }
svg.strip { display: block; width: 100%; shape-rendering: crispEdges; }
.ticks { display: flex; justify-content: space-between; gap: 8px; font-size: 12px;
  margin-top: 3px; font-variant-numeric: tabular-nums; }
.ticks .axis { color: var(--muted); text-align: center; }
.ticks .tick-lo, .ticks .tick-hi { white-space: nowrap; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 8px 0 0 42px;
  color: var(--muted); }
.lg { display: inline-flex; align-items: center; gap: 2px; }
.sw { display: inline-block; width: 14px; height: 10px; border: 1px solid #cbd5e1; }
.lg .sw:last-of-type { margin-right: 5px; }
.sw-none { background: #f1f5f9; }
.sw-rows { background: rgba(71,85,105,.3); }
.ks-summary, .ks-dense-label, .note { margin: 6px 0 0 42px; }
.note { color: var(--muted); }
ul.dense { margin: 2px 0 0 42px; padding-left: 18px; }
table.samples { table-layout: fixed; }
table.samples col.c-col { width: 22%; }
table.samples col.c-val { width: 39%; }
tbody.sample { break-inside: avoid; page-break-inside: avoid; }
tr.sample-head th { background: var(--bg-soft); font-weight: 400; border-top: 1.5px solid #cbd5e1;
  padding-top: 6px; overflow-wrap: anywhere; }
td { overflow-wrap: anywhere; }
td.col { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 12.5px; }
tr.diff td { background: #fff4e5; }
tr.diff td.col { font-weight: 700; box-shadow: inset 3px 0 0 var(--diff); }
.neq { color: var(--diff); font-weight: 700; margin-right: 4px; }
td.absent { color: var(--muted); font-style: italic; background: var(--bg-soft);
  vertical-align: middle; text-align: center; }
.kind { display: inline-block; font-size: 11.5px; font-weight: 600; padding: 0 6px;
  border-radius: 3px; margin-right: 6px; border: 1px solid; }
.kind-mismatched { color: #9a3412; background: #fff4e5; }
.kind-extra_source { color: #1e40af; background: #eef2ff; }
.kind-extra_target { color: #6b21a8; background: #f5efff; }
.kind-unknown { color: var(--muted); }
.key { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 12.5px; margin-right: 8px; }
.kname { color: var(--muted); }
.v { white-space: pre-wrap; overflow-wrap: anywhere; }
.null { display: inline-block; font-style: italic; font-size: 11px; color: #6b7280;
  background: #eceff3; border-radius: 3px; padding: 0 5px; letter-spacing: .04em; }
.empty { display: inline-block; font-style: italic; font-size: 11px; color: #6b7280;
  border: 1px dashed #9ca3af; border-radius: 3px; padding: 0 5px; }
.ws { background: #fde68a; color: #78350f; border-radius: 2px; }
.more { color: var(--muted); font-style: italic; margin-left: 4px; font-family: inherit; }
.cut { cursor: help; }
.value-key { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0 0; color: var(--muted); }
footer { margin-top: 36px; border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 640px) {
  main { padding: 16px 12px 28px; }
  .verdict { font-size: 16px; }
  th, td { padding: 4px 5px; }
  .legend, .ks-summary, .ks-dense-label, .note, ul.dense { margin-left: 0; }
  .lanes { display: none; }
  table.samples col.c-col { width: 26%; }
  table.samples col.c-val { width: 37%; }
  /* The summary as one card per table. */
  table.summary thead { display: none; }
  table.summary, table.summary tbody, table.summary tfoot, table.summary tr,
  table.summary td { display: block; width: 100%; }
  table.summary tr { border-bottom: 1px solid var(--line); padding: 6px 0; }
  table.summary tfoot tr { border-top: 1.5px solid #cbd5e1; border-bottom: 0; }
  table.summary td, table.summary tfoot td { border: 0; padding: 1px 0; display: flex;
    justify-content: space-between; gap: 12px; text-align: right; }
  table.summary td.name { font-weight: 600; text-align: left; }
  table.summary td.blank { display: none; }
  table.summary td.small { font-size: inherit; }
  table.summary td[data-label]::before { content: attr(data-label); color: var(--muted);
    font-weight: 400; text-align: left; }
}
@media print {
  main { max-width: none; padding: 0; }
  section.table { break-before: auto; }
  .scroll { overflow: visible; }
  a { text-decoration: none; }
  header.top, figure.keyspace { break-inside: avoid; }
}
"""

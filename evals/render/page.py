"""The HTML shell shared by report.html and the leaderboard site: one file, inline CSS and JS.

The script only sorts and filters tables; it reads `textContent` and never writes markup, so a model
response that contains HTML stays text even after the page has been sorted or filtered.
"""
from __future__ import annotations

from evals.render.svg import esc

CSS = """
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--accent:#2563eb;--bad:#dc2626;--good:#16a34a}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;
color:var(--fg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.muted{color:var(--muted)}code{font-size:12px;background:#f3f4f6;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600}table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir="asc"]::after{content:" ▲"}table.sortable th[data-dir="desc"]::after{content:" ▼"}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:var(--good);font-weight:600}.fail{color:var(--bad);font-weight:600}.warn{color:#b45309;font-weight:600}
.grid-2{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
svg text{font:12px system-ui,sans-serif;fill:var(--fg)}svg .tick{fill:var(--muted);font-size:10px}
svg .ring{fill:none;stroke:var(--line)}svg .axis{stroke:#d1d5db}svg .area{fill:rgba(37,99,235,.25);stroke:var(--accent);stroke-width:2}
svg .grid{stroke:var(--line)}svg .zero{stroke:#9ca3af}svg .bar{fill:rgba(37,99,235,.55)}svg .bar-pos{fill:rgba(220,38,38,.55)}
svg .bar-neg{fill:rgba(37,99,235,.55)}svg .ci{stroke:var(--fg);stroke-width:1.5}svg .val{font-variant-numeric:tabular-nums}
.heat td.cell{text-align:center;min-width:64px;font-variant-numeric:tabular-nums}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
.items td{max-width:520px}.items pre{white-space:pre-wrap;word-break:break-word;margin:0;max-height:14em;overflow:auto;font:12px ui-monospace,monospace}
.toolbar{margin:8px 0;display:flex;gap:12px;align-items:center}.toolbar input[type=search]{padding:4px 8px;width:320px}
nav a{margin-right:12px}
"""

JS = r"""
(function(){
  function key(cell){var t=(cell&&cell.textContent||'').trim();var n=parseFloat(t.replace(/[^0-9eE+\-.]/g,''));
    return (t!==''&&/^[\s+\-−]?[0-9.]/.test(t)&&!isNaN(n))?{n:n}:{s:t.toLowerCase()};}
  function cmp(a,b){if('n' in a&&'n' in b)return a.n-b.n;if('n' in a)return -1;if('n' in b)return 1;return a.s<b.s?-1:a.s>b.s?1:0;}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads=table.querySelectorAll('thead th');
    heads.forEach(function(th,col){th.addEventListener('click',function(){
      var dir=th.getAttribute('data-dir')==='desc'?'asc':'desc';
      heads.forEach(function(h){h.removeAttribute('data-dir');});th.setAttribute('data-dir',dir);
      var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(r1,r2){var c=cmp(key(r1.cells[col]),key(r2.cells[col]));return dir==='asc'?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});
    });});
  });
  document.querySelectorAll('[data-filter-for]').forEach(function(box){
    var scope=document.getElementById(box.getAttribute('data-filter-for'));
    var failOnly=document.querySelector('[data-fail-only-for="'+box.getAttribute('data-filter-for')+'"]');
    function apply(){var q=box.value.toLowerCase();var bad=failOnly&&failOnly.checked;
      scope.querySelectorAll('tbody tr').forEach(function(tr){
        var show=(!q||tr.textContent.toLowerCase().indexOf(q)>=0)&&(!bad||tr.getAttribute('data-pass')==='0');
        tr.style.display=show?'':'none';});}
    box.addEventListener('input',apply);if(failOnly)failOnly.addEventListener('change',apply);
  });
  document.querySelectorAll('select[data-version-filter]').forEach(function(sel){
    sel.addEventListener('change',function(){var v=sel.value;
      document.querySelectorAll('[data-suite-version]').forEach(function(el){
        el.style.display=(!v||el.getAttribute('data-suite-version')===v)?'':'none';});});
  });
})();
"""


def page(title: str, body: str, nav: str = "") -> str:
    """A complete, self-contained HTML document (no external requests of any kind)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"{('<nav>' + nav + '</nav>') if nav else ''}{body}<script>{JS}</script></body></html>\n")


def table(headers: list[str], rows: list[list[str]], *, sortable: bool = True, cls: str = "",
          numeric: set[int] | None = None, row_attrs: list[str] | None = None, table_id: str = "") -> str:
    """Cells are markup already escaped by the caller (so they can hold links or classes)."""
    numeric = numeric or set()
    classes = " ".join(c for c in ("sortable" if sortable else "", cls) if c)
    head = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = []
    for i, r in enumerate(rows):
        attrs = (" " + row_attrs[i]) if row_attrs else ""
        body.append(f"<tr{attrs}>" + "".join(f'<td class="num">{c}</td>' if j in numeric else f"<td>{c}</td>"
                                              for j, c in enumerate(r)) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f'<table{ident} class="{classes}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'

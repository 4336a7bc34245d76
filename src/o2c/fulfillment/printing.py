"""The pick list as a self-contained HTML page: large type for a handheld, one table row per stop, and
a print stylesheet for paper. Pure: built from `service.pick_list_view`."""
from __future__ import annotations

from html import escape

from o2c.core.money import plain


def pick_list_html(view: dict) -> str:
    rows = []
    for stop in view["stops"]:
        shipments = ", ".join(f"{t['shipment']} ×{plain(t['quantity'])}" for t in stop["tasks"])
        rows.append(
            f"<tr><td class=seq>{stop['seq']}</td><td class=bin>{escape(stop['bin'] or 'no bin: ask')}</td>"
            f"<td>{escape(stop['sku'])}<br><small>{escape(stop['description'])}</small></td>"
            f"<td class=qty>{plain(stop['quantity'])}</td><td><small>{escape(shipments)}</small></td>"
            f"<td class=box aria-label='picked'>&#9744;</td></tr>")
    saved = ""
    if view["unsorted_length_m"]:
        saved = (f" (in list order {plain(view['unsorted_length_m'])} m; the walking path saves "
                 f"{plain(view['unsorted_length_m'] - view['length_m'])} m)")
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>Pick list {escape(view['number'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1rem}} table{{border-collapse:collapse;width:100%}}
th,td{{border-bottom:1px solid #999;padding:.5rem;text-align:left;vertical-align:top}}
.bin{{font-size:1.4rem;font-weight:bold;white-space:nowrap}} .qty{{font-size:1.4rem;text-align:right}}
.seq{{color:#555}} .box{{font-size:1.6rem}}
@media print{{body{{margin:0}} small{{font-size:.8rem}}}}
</style></head><body>
<h1>Pick list {escape(view['number'])}</h1>
<p>Warehouse {escape(view['warehouse'])} · wave {view['wave_id']} · picker {escape(view['picker'] or '—')} ·
walk {plain(view['length_m'])} m{saved}</p>
<table><thead><tr><th>#</th><th>Bin</th><th>Item</th><th>Qty</th><th>For</th><th>Done</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></body></html>"""

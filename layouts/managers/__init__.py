"""The managers' page, one module per panel: pure functions from the figures (ioc.incidents.reports.Report) to Dash
components and plotly figures. Nothing here reads the database; callbacks/managers/ does the I/O and registers the
page.

`ids` names every component once; `page` builds the whole page; `controls` the period, the filters and the export
buttons; `kpis` the figure cards; `charts` the trend and breakdown figures (plain lists, no packed arrays).
"""

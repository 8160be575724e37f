"""The wall display, one module per panel: pure functions from the city and a WallSnapshot to Dash components and
per-tick updates. Nothing here reads Redis or settings; callbacks/wall/ does the I/O and registers the page.

`ids` names every component once; `page` builds the whole page; `tick` builds what one refresh sends. Static
geometry goes out once with the page; each tick sends only what changed: small per-id map states through GeoJSON
`hideout`, new chart minutes through `extendData`, and panels only when their content hash differs from the one
this browser already shows (hashes kept in a dcc.Store, see layouts.common.SectionDiff).
"""

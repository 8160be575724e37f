"""The incidents page, one module per panel: pure functions from incidents, audit entries and the city (plain data
from ioc/) to Dash components. Nothing here reads the database or Redis; callbacks/incidents/ does the I/O and
registers the page.

`ids` names every component once; `page` builds the whole page; `filters` the filter bar and the Filters it
stands for; `table` the incidents grid; `detail` one incident (header, timeline, map, cameras, actions);
`report` the form to open an incident by hand; `feedback` what an action answers.
"""

"""The admin page, one module per panel: pure functions from accounts, display tokens and audit entries (plain data
from ioc/) to Dash components. Nothing here reads the database; callbacks/admin/ does the I/O and registers the page.

`ids` names every component once; `page` builds the whole page; `accounts`, `tokens` and `audit` build each panel's
form and table; `feedback` builds what an action answers: a message (done, or refused and why) and a secret shown
once (a generated password, a display token's address).
"""

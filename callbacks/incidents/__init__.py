"""The incidents page's server side: `actions` (its callbacks, importable anywhere) and `page` (registers the page
with Dash Pages; imported by the app factory once the app exists, as dash.register_page requires)."""

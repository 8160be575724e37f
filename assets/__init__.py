"""The web's static files (CSS themes, client-side JS), served by Dash from this folder (app_factory.ASSETS).

A package only so the files install with the rest (package data): an installed `ioc web` serves the same styles
and scripts as a checkout. No code lives here.
"""

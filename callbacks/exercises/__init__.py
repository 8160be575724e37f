"""The trainer's page's callbacks (`actions`) and its registration (`page`)."""

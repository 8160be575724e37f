"""The trainer's page: pure builders from plain data (ioc.exercises.trainer.Board) to components, one module per
panel: `forms` (create, controls, inject), `board` (the exercises, the selected one's responses, actions, messages)."""

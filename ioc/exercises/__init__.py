"""Training exercises: a trainer's isolated drill, a scenario played into a key namespace of its own (`ex<id>`) with
its own incident and audit rows (their `exercise_id`), never mixed with the live city or another exercise."""

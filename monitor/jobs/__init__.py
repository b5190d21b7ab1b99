"""The jobs trialwatch runs over the pipeline: a check or import (`check`, one recorded run of
it in `check_run`, with `meeting` naming the other watched trials at a changed site), adding
watches (`adding`), watched searches (`searches`), the record history (`backfill`), one
recorded run and its digest (`run`), the report folder (`report`), the schedule (`schedule`),
the offline demo (`demo`) and the health checks (`doctor`)."""

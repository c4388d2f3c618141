"""Stage 5, the report: the study's quantities as functions of a results table (`analysis`), every table built
once (`tables`), the figures (`figures`), report.md (`markdown`); `write_report` ties them together (`build`)."""

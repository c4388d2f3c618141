"""Stage 5, the report: the study's quantities as functions of a results table (`analysis`), every table built
once (`tables`) with its diagnostics (`diagnostics`) and what it was run on (`runinfo`), the figures (`figures`,
`charts`), report.md (`markdown`, `captions`); `write_report` ties them together (`build`)."""

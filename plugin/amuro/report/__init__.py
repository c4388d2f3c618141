"""Stage 5, the report: the study's quantities as functions of a results table (`analysis`, on the cells and runs of
`cells`), every table built once (`tables`) with its diagnostics (`diagnostics`) and what it was run on
(`runinfo`), the figures (`figures`, `charts`), report.md (`markdown`, `captions`, `sections`); the headline
findings (`headline`) with their hierarchical CIs and variance split (`stats`), compared with another run
(`compare`) and across models and families (`replication`); the pre-training signal (`signal`, `plateau`);
`write_report` ties them together (`build`), one study at a time."""

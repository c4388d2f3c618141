"""A run spec of several model families at once: the study on each, reported apart and compared.

```yaml
name: cross_family
families:                          # in place of `model` and `checkpoints`: one entry per family
  pythia160m: {model: EleutherAI/pythia-160m, checkpoints: {steps: [1000, 32000], tokens_per_step: 2097152}}
  olmo2_1b: {model: allenai/OLMo-2-0425-1B, checkpoints: {steps: [10000, 480000]}}
train: [mnli, xsum]                # everything else is shared by the families
```
`load_specs` gives one `RunSpec` per family, with that family's model and checkpoints and `family` set to the
entry's name. `amuro sweep` runs each as a sweep of its own, in runs/<name>/<family>/ (their checkpoints' names
may collide: `main`), whose rows carry `family`; `amuro report runs/<name>/*/results.csv` reports each family apart
and says whether the findings replicate across them (`amuro.report.replication`). Steps mean different amounts of
training in different families: the report compares them on tokens seen.
"""

from __future__ import annotations

from pathlib import Path

from amuro.errors import AmuroError
from amuro.study.spec import RunSpec, parse_spec, read_yaml


def load_specs(path: str | Path) -> list[RunSpec]:
    """The specs of a file: its one spec, or one per entry of its `families:`."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or "families" not in data:
        return [parse_spec(data, path)]
    families = data["families"]
    if not isinstance(families, dict) or not families:
        raise AmuroError(f"{path}: families must be a mapping of family name -> {{model, checkpoints}}")
    for key in ("model", "checkpoints", "family"):
        if key in data:
            raise AmuroError(f"{path}: {key!r} goes inside each entry of families, not beside it")
    shared = {k: v for k, v in data.items() if k != "families"}
    specs = []
    for name, entry in families.items():
        if not isinstance(entry, dict) or set(entry) - {"model", "checkpoints"} or "model" not in entry:
            raise AmuroError(f"{path}: families: {name}: expected a mapping with model and checkpoints")
        specs.append(parse_spec({**shared, **entry, "family": str(name)}, path))
    return specs

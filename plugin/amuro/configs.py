"""The run specs (`runs/*.yaml`) and DeepSpeed/accelerate configs (`ds_configs/*`) amuro ships, by name, anywhere.

    amuro configs                          # every shipped config and where it is
    amuro sweep olmo1b_paper --dry-run     # a shipped run spec by name
    accelerate launch --config_file "$(amuro configs accelerate_1gpu)" -m amuro.train.sft --deepspeed zero2 ...

The repository's top-level `runs/` and `ds_configs/` folders are the source; the wheel carries them as
`amuro/_configs/{runs,ds_configs}` (hatch_build.py), and a source checkout reads them where they are. The accelerate
configs name their DeepSpeed file relative to the repository root (`ds_configs/zero2.json`); `amuro.train.sft`
resolves such a name against the shipped folder when it does not exist where the command runs.
"""

from __future__ import annotations

from pathlib import Path

from amuro.errors import AmuroError, did_you_mean

KINDS = ("runs", "ds_configs")
_PACKAGED = Path(__file__).resolve().parent / "_configs"  # in an installed wheel
_CHECKOUT = Path(__file__).resolve().parents[2]  # plugin/amuro -> the repository root
_SUFFIXES = {"runs": (".yaml",), "ds_configs": (".json", ".yaml", ".md")}


def folder(kind: str) -> Path:
    """Where the shipped configs of `kind` are: the wheel's copy, else the source checkout's folder."""
    packaged = _PACKAGED / kind
    return packaged if packaged.is_dir() else _CHECKOUT / kind


def shipped(kind: str) -> dict[str, Path]:
    """name (file stem) -> path of every shipped config of `kind`."""
    root = folder(kind)
    files = sorted(root.glob("*")) if root.is_dir() else []
    return {p.stem: p for p in files if p.suffix in _SUFFIXES[kind] and p.stem != "README"}


def find(kind: str, name: str) -> Path:
    """A shipped config by name (`zero2`, `zero2.json` or `ds_configs/zero2.json` all work)."""
    stem = Path(name).stem if Path(name).suffix in _SUFFIXES[kind] else Path(name).name
    found = shipped(kind)
    if stem not in found:
        raise AmuroError(f"no shipped {kind} config {name!r}{did_you_mean(stem, list(found))}; "
                         f"shipped: {', '.join(found) or 'none'}")
    return found[stem]


def run_spec(name_or_path: str | Path) -> Path:
    """A run spec given as a path, or by the name of a shipped one (`olmo1b_paper`, or `runs/olmo1b_paper.yaml`
    where there is no runs/ folder). A path that does not exist is returned as it is: reading it names it."""
    path = Path(name_or_path).expanduser()
    in_runs = path.parent == Path("runs") and not path.parent.is_dir()
    if path.is_file() or not (len(path.parts) == 1 or in_runs):
        return path
    if path.stem in shipped("runs"):
        return shipped("runs")[path.stem]
    raise AmuroError(f"run spec {str(name_or_path)!r} is neither a file here ({path.resolve()}) nor a shipped spec "
                     f"({', '.join(shipped('runs'))}){did_you_mean(path.stem, list(shipped('runs')))}")


def deepspeed_file(value: str | None) -> str | None:
    """A DeepSpeed config argument as given (a path that exists, or a JSON string), else the shipped file it names."""
    if not value or value.lstrip().startswith("{") or Path(value).expanduser().is_file():
        return value
    path = find("ds_configs", value)
    if path.suffix != ".json":
        raise AmuroError(f"{value!r} is not a DeepSpeed config; shipped ones: "
                         f"{', '.join(n for n, p in shipped('ds_configs').items() if p.suffix == '.json')}")
    return str(path)


def is_packaged(path: Path) -> bool:
    """Whether `path` is inside the installed wheel (outputs must then go elsewhere)."""
    return Path(path).resolve().is_relative_to(_PACKAGED)

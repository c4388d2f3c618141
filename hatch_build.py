"""Wheel build hook.

- Editable installs (`pip install -e .`) ignore `force-include`; put the start-up `.pth` in those wheels too.
- A regular wheel carries the shipped run specs and DeepSpeed/accelerate configs, whose source is the repository's
  top-level `runs/*.yaml` and `ds_configs/*`, as `amuro/_configs/` (found by `amuro.configs`). Listed file by file:
  `runs/` also holds git-ignored sweep outputs. An editable install reads them from the checkout instead.
"""

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = {"runs": ("*.yaml", "*.txt"), "ds_configs": ("*.json", "*.yaml", "*.md")}


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        if version == "editable":
            build_data["force_include_editable"]["plugin/amuro_lm_eval.pth"] = "amuro_lm_eval.pth"
            return
        root = Path(self.root)
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for path in sorted((root / folder).glob(pattern)):
                    build_data["force_include"][str(path)] = f"amuro/_configs/{folder}/{path.name}"

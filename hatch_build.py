"""Editable installs (`pip install -e .`) ignore `force-include`; put the start-up `.pth` in those wheels too."""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name == "wheel" and version == "editable":
            build_data["force_include_editable"]["plugin/amuro_lm_eval.pth"] = "amuro_lm_eval.pth"

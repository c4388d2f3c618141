"""Stage 2, evaluation through lm-eval: what the task YAMLs call (`hooks`), the scoring rules (`scoring`),
`--model amuro-hf` (`hf_model`) and the start-up shim that lets plain `lm_eval` find both (`shim`).

Import-light on purpose: `amuro_lm_eval.pth` imports `amuro.eval.shim` at every interpreter start.
"""
